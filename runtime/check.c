/* dmem_check_leaks (include/dmem/dmem.h): the leak report of this process
   at a point of the program's choosing, as LeakSanitizer's
   __lsan_do_recoverable_leak_check, for test suites.  Reachability needs
   every thread stopped, which a process cannot do to itself: the analyzer
   is started on our pid (dmem leaks --pid, which seizes the threads with
   ptrace) and the caller waits for it.  */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analyzer.h"

/* "dmem: dmem_check_leaks: WHAT\n" on stderr.  */
static void
say (const char *what)
{
  struct dmem_line l = { .len = 0 };
  dmem__put (&l, "dmem: dmem_check_leaks: ");
  dmem__put (&l, what);
  dmem__put (&l, "\n");
  dmem__flush (&l, STDERR_FILENO);
}

/* Zero the stack the check's own frames will use: what earlier calls of
   the program left there (pointers to blocks it has since dropped) would
   otherwise be read as roots and hide leaks.  */
static __attribute__ ((noinline)) void
clear_stack (void)
{
  char below[32768];
  memset (below, 0, sizeof below);
  __asm__ volatile ("" : : "r" (below) : "memory");
}

/* The value of "NAME": N in the JSON line S (NUL-ended), or -1.  */
static long
json_count (const char *s, const char *name)
{
  const char *p = strstr (s, name);
  if (p == NULL)
    return -1;
  p += strlen (name);
  if (*p++ != ':')
    return -1;
  while (*p == ' ')
    p++;
  if (*p < '0' || *p > '9')
    return -1;
  long v = 0;
  for (; *p >= '0' && *p <= '9' && v < 1000000000000L; p++)
    v = v * 10 + (*p - '0');
  return v;
}

/* The check: start dmem leaks --pid on us, wait, read its summary.  */
static __attribute__ ((noinline)) int
check_leaks (void)
{
  if (dmem__analyzer_path () == NULL)
    {
      say ("no analyzer to run (DMEM_ANALYZER is empty)");
      return -1;
    }
  struct dmem_line pid = { .len = 0 };
  dmem__put (&pid, "--pid=");
  dmem__put_dec (&pid, (uint64_t) getpid ());
  pid.buf[pid.len] = 0;
  char *argv[] = { "dmem", "leaks", pid.buf, "--summary-fd=3", NULL };
  int summary[2], go[2];
  if (pipe2 (summary, O_CLOEXEC) != 0)
    {
      say (strerror (errno));
      return -1;
    }
  if (pipe2 (go, O_CLOEXEC) != 0)
    {
      say (strerror (errno));
      close (summary[0]);
      close (summary[1]);
      return -1;
    }
  struct dmem_child c;
  /* The report on our stderr (its stdout), the summary on its fd 3.  */
  int started = dmem__analyzer_start (argv, STDERR_FILENO, summary[1], go[0],
                                      &c);
  close (summary[1]);
  close (go[0]);
  if (started != 0)
    {
      close (summary[0]);
      close (go[1]);
      say ("cannot start the analyzer");
      return -1;
    }
  /* Yama (ptrace_scope 1) lets only ancestors attach: allow our child
     before it starts, and no one after.  Without Yama this fails, and
     nothing is needed.  */
  prctl (PR_SET_PTRACER, (unsigned long) c.pid, 0, 0, 0);
  ssize_t w;
  while ((w = write (go[1], "", 1)) < 0 && errno == EINTR)
    ;
  close (go[1]);
  char line[1024] = { 0 }; /* read while we are read: no stale words */
  size_t len = 0;
  ssize_t got;
  while (len < sizeof line - 1
         && ((got = read (summary[0], line + len, sizeof line - 1 - len)) > 0
             || (got < 0 && errno == EINTR)))
    len += got > 0 ? (size_t) got : 0;
  line[len] = 0;
  close (summary[0]);
  int status = dmem__analyzer_wait (&c);
  prctl (PR_SET_PTRACER, 0, 0, 0, 0);
  long leaks = json_count (line, "\"leaked_blocks\"");
  if (status == -1 || !WIFEXITED (status) || WEXITSTATUS (status) != 0
      || leaks < 0)
    {
      const char *path = dmem__analyzer_path ();
      struct dmem_line l = { .len = 0 };
      dmem__put (&l, "the leak check failed (");
      dmem__put (&l, path);
      if (status != -1 && WIFEXITED (status) && WEXITSTATUS (status) == 127)
        dmem__put (&l, " cannot be run; DMEM_ANALYZER names the dmem command");
      else if (status != -1 && WIFEXITED (status))
        {
          dmem__put (&l, " exited ");
          dmem__put_dec (&l, (uint64_t) WEXITSTATUS (status));
        }
      else if (status != -1 && WIFSIGNALED (status))
        {
          dmem__put (&l, " was killed by signal ");
          dmem__put_dec (&l, (uint64_t) WTERMSIG (status));
        }
      dmem__put (&l, ")");
      l.buf[l.len < sizeof l.buf ? l.len : sizeof l.buf - 1] = 0;
      say (l.buf);
      return -1;
    }
  return leaks > 0x7fffffff ? 0x7fffffff : (int) leaks;
}

/* One check at a time: a second analyzer could not seize threads the
   first one holds.  */
static int checking;

/* dmem_check_leaks, on a stack cleared below its caller's frame.  */
static __attribute__ ((noinline)) int
check (void)
{
  int saved = errno;
  dmem__lock (&checking);
  int n = check_leaks ();
  dmem__unlock (&checking);
  errno = saved;
  return n;
}

/* The public entry point (dmem.h declares it weak; the definition here is
   not).  */
__attribute__ ((visibility ("default"))) int
dmem_check_leaks (void)
{
  clear_stack ();
  return check ();
}
