/* Preloaded in front of gcc 12's liblsan.so.0 by run-peers.sh: that
   LeakSanitizer, preloaded into a program not built with it, finds no real
   sigaction (it warns "REAL(sigaction_symname) == nullptr") and its signal()
   then jumps to address 0, so perl, as and /usr/bin/time crash at start.
   These two entry points go straight to glibc's own, so LeakSanitizer can be
   measured on those programs; its malloc and free are untouched.  */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stddef.h>

static void *
libc_symbol (const char *name)
{
  void *libc = dlopen ("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  return libc != NULL ? dlsym (libc, name) : NULL;
}

int
sigaction (int sig, const struct sigaction *act, struct sigaction *old)
{
  static int (*real) (int, const struct sigaction *, struct sigaction *);
  if (real == NULL)
    real = (int (*) (int, const struct sigaction *, struct sigaction *))
      libc_symbol ("sigaction");
  return real (sig, act, old);
}

sighandler_t
signal (int sig, sighandler_t handler)
{
  static sighandler_t (*real) (int, sighandler_t);
  if (real == NULL)
    real = (sighandler_t (*) (int, sighandler_t)) libc_symbol ("signal");
  return real (sig, handler);
}
