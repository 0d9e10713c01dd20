/* Starting the installed analyzer on our own process, as ASan starts
   llvm-symbolizer: clone(2) sharing our memory, then exec, so that nothing
   of ours runs in the child (no fork handlers, no malloc) and the parent
   needs no lock: this works at a heap error, with the heap corrupt and a
   shard lock held by the reporting thread.  */
#define _GNU_SOURCE
#include "analyzer.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef DMEM_BINDIR
#define DMEM_BINDIR "/usr/local/bin"
#endif

/* The analyzer's path, found at start-up; "" when there is none.  */
static char analyzer[PATH_MAX];

/* Copy S (LEN bytes) then T to the analyzer's path, if they fit.  */
static int
set_path (const char *s, size_t len, const char *t)
{
  size_t tlen = strlen (t);
  if (len + tlen >= sizeof analyzer)
    return 0;
  memcpy (analyzer, s, len);
  memcpy (analyzer + len, t, tlen + 1);
  return 1;
}

/* Read the environment while it is sure to be there, before the program
   can change it.  */
__attribute__ ((constructor)) static void
find_analyzer (void)
{
  const char *env = getenv ("DMEM_ANALYZER");
  if (env != NULL)
    {
      set_path (env, strlen (env), "");
      return;
    }
  /* The dmem of the tree libdmem.so was installed in (bin/ beside lib/),
     else the configured one.  */
  Dl_info info;
  if (dladdr ((void *) find_analyzer, &info) && info.dli_fname
      && info.dli_fname[0] == '/')
    {
      const char *slash = strrchr (info.dli_fname, '/');
      if (set_path (info.dli_fname, (size_t) (slash - info.dli_fname),
                    "/../bin/dmem")
          && access (analyzer, X_OK) == 0)
        return;
    }
  const char *installed = DMEM_BINDIR "/dmem";
  set_path (installed, strlen (installed), "");
}

const char *
dmem__analyzer_path (void)
{
  return analyzer[0] ? analyzer : NULL;
}

/* What the child needs, in the memory mapped for it.  */
#define MAX_ARGS 15
struct start
{
  char *argv[MAX_ARGS + 1];
  char **envp;
  int out_fd, extra_fd, go_fd;
  sigset_t mask;          /* the parent's signal mask, restored for exec */
};

/* Room for the child's stack, below the struct start and the environment.  */
#define CHILD_STACK 32768

/* The child, on its own stack in memory shared with the parent: only
   system calls, then exec.  */
static int
child_main (void *arg)
{
  struct start *s = arg;
  /* The parent's handlers must never run here (the memory is shared):
     default actions until exec, as posix_spawn does.  Signals are blocked
     meanwhile.  */
  struct sigaction dfl;
  memset (&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    {
      struct sigaction old;
      if (sigaction (sig, NULL, &old) == 0 && old.sa_handler != SIG_DFL
          && old.sa_handler != SIG_IGN)
        sigaction (sig, &dfl, NULL);
    }
  if (s->go_fd >= 0)
    {
      char c;
      ssize_t n;
      while ((n = read (s->go_fd, &c, 1)) < 0 && errno == EINTR)
        ;
      if (n != 1)
        _exit (127);
    }
  /* Out of the way first, so neither lands on the other's number.  */
  int out = fcntl (s->out_fd, F_DUPFD_CLOEXEC, 10);
  int extra = s->extra_fd >= 0 ? fcntl (s->extra_fd, F_DUPFD_CLOEXEC, 10) : -1;
  if (out < 0 || (s->extra_fd >= 0 && extra < 0) || dup2 (out, 1) < 0
      || (extra >= 0 && dup2 (extra, 3) < 0))
    _exit (127);
  sigprocmask (SIG_SETMASK, &s->mask, NULL);
  execve (s->argv[0], s->argv, s->envp);
  _exit (127);
}

int
dmem__analyzer_start (char *const *argv, int out_fd, int extra_fd, int go_fd,
                      struct dmem_child *c)
{
  extern char **environ;
  if (analyzer[0] == 0)
    return -1;
  int saved = errno;
  size_t n = 0;
  for (char **e = environ; e != NULL && *e != NULL; e++)
    n++;
  c->size = (CHILD_STACK + sizeof (struct start) + (n + 1) * sizeof (char *)
             + 4095) & ~(size_t) 4095;
  c->map = mmap (NULL, c->size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (c->map == MAP_FAILED)
    {
      errno = saved;
      return -1;
    }
  struct start *s = (struct start *) ((char *) c->map + CHILD_STACK);
  size_t a = 0;
  for (; argv[a] != NULL && a < MAX_ARGS; a++)
    s->argv[a] = argv[a];
  s->argv[a] = NULL;
  s->argv[0] = analyzer; /* exec'd by path; ARGV[0] is only its name */
  s->envp = (char **) (s + 1);
  s->out_fd = out_fd;
  s->extra_fd = extra_fd;
  s->go_fd = go_fd;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp (environ[i], "LD_PRELOAD=", 11) != 0)
      s->envp[k++] = environ[i]; /* the analyzer does not run under us */
  s->envp[k] = NULL;
  sigset_t all;
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &s->mask);
  /* No exit signal: the program's SIGCHLD handler and its wait(2) loops
     never see the analyzer (we wait with __WALL).  Without GO_FD, the
     parent sleeps until the child has exec'd (CLONE_VFORK).  */
  c->pid = clone (child_main, s, CLONE_VM | (go_fd < 0 ? CLONE_VFORK : 0), s);
  pthread_sigmask (SIG_SETMASK, &s->mask, NULL);
  if (c->pid < 0)
    {
      munmap (c->map, c->size);
      errno = saved;
      return -1;
    }
  errno = saved;
  return 0;
}

int
dmem__analyzer_wait (struct dmem_child *c)
{
  int saved = errno, status;
  pid_t r;
  while ((r = waitpid (c->pid, &status, __WALL)) < 0 && errno == EINTR)
    ;
  munmap (c->map, c->size);
  errno = saved;
  return r == c->pid ? status : -1;
}
