/* stop-at-exit: stop at exit so that `dmem run` reads the heap live.  */
#define _GNU_SOURCE
#include "stop.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "options.h"

/* stop-at-exit=PID:PARENT.  `dmem run` (PARENT) reads our heap while we are
   stopped, then continues us; if it dies, nobody would, so we must not stay
   stopped once it is gone.  It set PR_SET_PDEATHSIG=SIGCONT in us before the
   exec: its death resumes us if we are stopped, and cancels a SIGSTOP still
   pending.  That leaves one window: if it dies after we checked that it is
   our parent and before we stop, its SIGCONT comes first and the SIGSTOP
   would then stop us for good.  So the stop comes first and the check after,
   made by a helper that is not stopped: a child sharing our memory (CLONE_VM
   | CLONE_VFORK, no exit signal; we wait in clone until it exits) sends us
   SIGSTOP, then reads our parent from /proc.  If the death's SIGCONT comes
   after that SIGSTOP, it ends the stop.  If it came before, the kernel had
   already given us our new parent (it does so first, then sends the signal,
   which takes our signal lock after or before the SIGSTOP does), the helper
   reads that parent and sends SIGCONT itself.  Either way we go on.  */

struct stop_request
{
  pid_t pid;     /* us */
  pid_t parent;  /* PARENT */
  int stat_fd;   /* our /proc/PID/stat */
};

/* Our parent, field 4 of /proc/PID/stat, or -1.  */
static pid_t
parent_of (int stat_fd)
{
  char buf[256];
  ssize_t n = pread (stat_fd, buf, sizeof buf - 1, 0);
  if (n <= 0)
    return -1;
  buf[n] = 0;
  /* "PID (COMM) STATE PPID ...": COMM may hold ')' but is at most 16 bytes,
     and nothing after it does.  */
  char *p = strrchr (buf, ')');
  if (p == NULL || p[1] != ' ' || p[2] == 0 || p[3] != ' ')
    return -1;
  long v = 0;
  for (p += 4; *p >= '0' && *p <= '9'; p++)
    v = v * 10 + (*p - '0');
  return *p == ' ' ? (pid_t) v : -1;
}

/* The helper: runs on its own stack in our memory while we wait in clone.  */
static int
stop_helper (void *arg)
{
  const struct stop_request *r = arg;
  kill (r->pid, SIGSTOP);
  if (parent_of (r->stat_fd) != r->parent)
    kill (r->pid, SIGCONT);
  return 0;
}

void
dmem__stop_at_exit (void)
{
  pid_t parent = (pid_t) dmem__options.stop_parent;
  fflush (NULL);
  if (parent == 0)
    {
      raise (SIGSTOP); /* no PARENT given: stop as asked */
      return;
    }
  if (getppid () != parent)
    return; /* dmem run is gone: nobody would read or continue us */
  /* Room for the helper and a lazy binding's save area; untouched pages of
     .bss cost nothing.  */
  static char stack[65536] __attribute__ ((aligned (64)));
  struct stop_request r = { getpid (), parent,
                            open ("/proc/self/stat", O_RDONLY | O_CLOEXEC) };
  pid_t helper = r.stat_fd < 0 ? -1
                 : clone (stop_helper, stack + sizeof stack,
                          CLONE_VM | CLONE_VFORK, &r);
  if (helper > 0)
    {
      /* We stop (or not) as clone returns; once continued, reap the helper.  */
      while (waitpid (helper, NULL, __WCLONE) < 0 && errno == EINTR)
        ;
    }
  else if (getppid () == parent)
    raise (SIGSTOP); /* no /proc or no clone: the window stays open */
  if (r.stat_fd >= 0)
    close (r.stat_fd);
}
