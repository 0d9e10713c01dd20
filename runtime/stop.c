/* At exit, for `dmem run`: report-socket (tell it, wait while it reads the
   heap) and the older stop-at-exit (stop until it continues us).  */
#define _GNU_SOURCE
#include "stop.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dmem/exit-report.h"
#include "options.h"

/* Room for the helper and a lazy binding's save area; untouched pages of
   .bss cost nothing.  For stop_at_exit's helper or
   report_exit's: only one of them runs.  */
static char helper_stack[65536] __attribute__ ((aligned (64)));

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

static void
stop_at_exit (void)
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
  struct stop_request r = { getpid (), parent,
                            open ("/proc/self/stat", O_RDONLY | O_CLOEXEC) };
  pid_t helper = r.stat_fd < 0 ? -1
                 : clone (stop_helper, helper_stack + sizeof helper_stack,
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

/* report-socket=@NAME: `dmem run` listens on the abstract unix socket NAME
   and every process of the tree (they all inherit DMEM_OPTS) connects to it
   at its exit, or _exit: the message is in include/dmem/exit-report.h.
   While dmem run reads the heap we are stopped, so that our other threads
   leave the heap as it was at exit; the stop is made and ended by a helper
   that is not stopped: a child sharing our memory (CLONE_VM, no exit
   signal, invisible to the program's wait) that sends us SIGSTOP, sends
   the message, blocks reading the socket, and sends SIGCONT when dmem run
   answers or when its end closes, which its death does.  So a dead dmem
   run never leaves us stopped, and when it is gone before we connect
   (nothing listens on NAME) we just exit.  An abstract name needs no file
   and no fd kept open, so daemons that close every fd still report.  */

/* Our pid as of start-up or the last fork.  In a vfork child (a shell's or a
   program's, before its exec) getpid() differs: that child shares its
   parent's memory, so its heap is not its own to report, and the helper's
   stack is the parent's.  */
static pid_t self_pid;
static int reporting; /* one report per process, if threads race to _exit */

struct report_request
{
  int fd;                       /* connected to dmem run */
  struct dmem_exit_message m;
};

static void
after_fork (void)
{
  self_pid = getpid ();
  reporting = 0;
}

__attribute__ ((constructor)) static void
stop_start (void)
{
  self_pid = getpid ();
  pthread_atfork (NULL, NULL, after_fork);
}

/* Send R's message and wait for dmem run's answer or its end of R->fd to
   close.  MSG_NOSIGNAL: a dead dmem run must not kill us with SIGPIPE.  */
static void
tell_and_wait (struct report_request *r)
{
  if (send (r->fd, &r->m, sizeof r->m, MSG_NOSIGNAL) != (ssize_t) sizeof r->m)
    return;
  char answer;
  while (recv (r->fd, &answer, 1, 0) < 0 && errno == EINTR)
    ;
}

/* The helper: runs on helper_stack in our memory while we wait for it.  */
static int
report_helper (void *arg)
{
  struct report_request *r = arg;
  r->m.stopped = kill (r->m.pid, SIGSTOP) == 0;
  tell_and_wait (r);
  if (r->m.stopped)
    kill (r->m.pid, SIGCONT);
  return 0;
}

static void
report_exit (enum dmem_exit_how how)
{
  const char *name = dmem__options.report_socket;
  size_t len = strlen (name);
  if (name[0] != '@' || len < 2 || self_pid != getpid ()
      || __atomic_exchange_n (&reporting, 1, __ATOMIC_ACQ_REL))
    return;
  int saved_errno = errno;
  if (how == DMEM_EXIT_VIA_EXIT)
    fflush (NULL); /* exit flushes anyway; our report comes after it.  Not
                      for _exit, which must not write what is buffered. */
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  memcpy (addr.sun_path + 1, name + 1, len - 1); /* sun_path[0] = 0: abstract */
  socklen_t addr_len = offsetof (struct sockaddr_un, sun_path) + len;
  struct report_request r = {
    socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0),
    { DMEM_EXIT_MAGIC, how, getpid (), 0 }
  };
  if (r.fd >= 0 && connect (r.fd, (struct sockaddr *) &addr, addr_len) == 0)
    {
      pid_t helper = clone (report_helper, helper_stack + sizeof helper_stack,
                            CLONE_VM, &r);
      if (helper > 0)
        while (waitpid (helper, NULL, __WCLONE) < 0 && errno == EINTR)
          ;
      else
        tell_and_wait (&r); /* no helper, no stop: dmem run's ptrace still
                               stops our threads while it reads */
    }
  if (r.fd >= 0)
    close (r.fd);
  errno = saved_errno;
}

void
dmem__stop_at_exit (void)
{
  if (dmem__options.report_socket[0])
    report_exit (DMEM_EXIT_VIA_EXIT);
  else if (dmem__options.stop_at_exit
           && dmem__options.stop_at_exit == getpid ())
    stop_at_exit ();
}

/* _exit and _Exit run no exit handlers, but a process that ends in them
   (dash does, and fork children that must not flush their parent's stdio)
   is reported too.  Then exit as glibc's _exit does.  */
__attribute__ ((visibility ("default"), noreturn)) void
_exit (int status)
{
  if (dmem__options.report_socket[0])
    report_exit (DMEM_EXIT_VIA__EXIT);
  for (;;)
    syscall (SYS_exit_group, status);
}

extern __typeof (_exit) _Exit __attribute__ ((alias ("_exit"),
                                               visibility ("default")));
