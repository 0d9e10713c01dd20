/* dmem run: PROG under the runtime, stopped at its exit and read live for its leak report.  */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "dmem.h"

#ifndef DMEM_LIBDIR
#define DMEM_LIBDIR "/usr/local/lib"
#endif

/* The path of libdmem.so to preload: $DMEM_RUNTIME, the installed one, or
   ../lib beside this executable.  */
char *
dmem_find_runtime (void)
{
  const char *env = getenv ("DMEM_RUNTIME");
  if (env != NULL && *env)
    return strdup (env);
  if (access (DMEM_LIBDIR "/libdmem.so", R_OK) == 0)
    return strdup (DMEM_LIBDIR "/libdmem.so");
  char self[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
  if (n > 0)
    {
      self[n] = 0;
      char *slash = strrchr (self, '/');
      if (slash != NULL)
	{
	  *slash = 0;
	  char *path;
	  if (asprintf (&path, "%s/../lib/libdmem.so", self) >= 0)
	    {
	      if (access (path, R_OK) == 0)
		return path;
	      free (path);
	    }
	}
    }
  return NULL;
}

/* Exit status of a waited-for child, shell style.  */
static int
child_status (int status)
{
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static const char run_help[] =
  "Run PROG under the dmem runtime; report its leaks on stderr when it exits.\n"
  "\n"
  "Usage: dmem run [-o OPTS] [--] PROG [ARGS...]\n"
  "\n"
  "PROG runs with libdmem.so preloaded ($DMEM_RUNTIME, else the installed one)\n"
  "and DMEM_OPTS set to stop-at-exit=PID:PPID, then the DMEM_OPTS of the\n"
  "environment, then OPTS (where an option repeats, the later one wins).  At\n"
  "its exit PROG stops; dmem reads its heap live, prints the leak report on\n"
  "stderr and lets it finish, then exits with PROG's status (128+N if signal\n"
  "N killed it).  If dmem dies first, PROG still runs to its end, unreported.\n"
  "\n"
  "-o OPTS\n"
  "  More runtime options (libdmem(3)), comma-separated.\n"
  "-h, --help\n"
  "  This text.\n";

/* dmem run [-o OPTS] [--] PROG ARGS: PROG under the runtime, stopped at its
   exit (stop-at-exit) and analysed live for leaks.  */
int
dmem_run (int argc, char **argv)
{
  const char *opts = NULL;
  int i = 1;
  for (; i < argc; i++)
    {
      if (strcmp (argv[i], "--") == 0)
	{
	  i++;
	  break;
	}
      if (strcmp (argv[i], "-h") == 0 || strcmp (argv[i], "--help") == 0)
	{
	  fputs (run_help, stdout);
	  return DMEM_EXIT_OK;
	}
      if (strcmp (argv[i], "-o") == 0)
	{
	  if (++i == argc)
	    return dmem_usage_error ("%s: -o needs an argument", "run");
	  opts = argv[i];
	}
      else if (strncmp (argv[i], "-o", 2) == 0)
	opts = argv[i] + 2;
      else if (argv[i][0] == '-')
	return dmem_usage_error ("run: unknown option '%s'", argv[i]);
      else
	break;
    }
  if (i == argc)
    return dmem_usage_error ("%s: no program to run", "run");
  char *runtime = dmem_find_runtime ();
  if (runtime == NULL)
    {
      fputs ("dmem: cannot find libdmem.so (set DMEM_RUNTIME)\n", stderr);
      return DMEM_EXIT_BAD_INPUT;
    }
  fflush (NULL);
  pid_t self = getpid ();
  /* The child reports a failed exec through this close-on-exec pipe.  */
  int report[2];
  if (pipe2 (report, O_CLOEXEC) != 0)
    {
      fprintf (stderr, "dmem: pipe: %s\n", strerror (errno));
      return DMEM_EXIT_BAD_INPUT;
    }
  pid_t pid = fork ();
  if (pid < 0)
    {
      fprintf (stderr, "dmem: fork: %s\n", strerror (errno));
      return DMEM_EXIT_BAD_INPUT;
    }
  if (pid == 0)
    {
      /* Never left stopped at exit once we are gone: our death sends PROG
	 SIGCONT, and the runtime stops only while we are its parent
	 (stop-at-exit=PID:PPID; see stop_at_exit in runtime/heap.c).  If we
	 died before the prctl, PROG is not started: nobody is there for it.  */
      prctl (PR_SET_PDEATHSIG, SIGCONT);
      if (getppid () != self)
	_exit (127);
      const char *old = getenv ("LD_PRELOAD");
      const char *env_opts = getenv ("DMEM_OPTS");
      char *preload, *dmem_opts;
      /* Ours first, then the environment's, then -o: a later option wins.  */
      if (asprintf (&preload, "%s%s%s", runtime, old && *old ? ":" : "",
		    old && *old ? old : "") < 0
	  || asprintf (&dmem_opts, "stop-at-exit=%d:%d%s%s%s%s",
		       (int) getpid (), (int) self,
		       env_opts && *env_opts ? "," : "",
		       env_opts && *env_opts ? env_opts : "",
		       opts && *opts ? "," : "", opts && *opts ? opts : "") < 0)
	_exit (127);
      setenv ("LD_PRELOAD", preload, 1);
      setenv ("DMEM_OPTS", dmem_opts, 1);
      execvp (argv[i], argv + i);
      int err = errno;
      ssize_t written = write (report[1], &err, sizeof err);
      _exit (written == sizeof err ? 127 : 126);
    }
  free (runtime);
  close (report[1]);
  int exec_errno;
  ssize_t n;
  while ((n = read (report[0], &exec_errno, sizeof exec_errno)) < 0
	 && errno == EINTR)
    ;
  close (report[0]);
  if (n == sizeof exec_errno)
    {
      fprintf (stderr, "dmem: cannot run %s: %s\n", argv[i],
	       strerror (exec_errno));
      waitpid (pid, NULL, 0);
      return 127;
    }
  /* Let PROG take the terminal's signals; we only report.  */
  signal (SIGINT, SIG_IGN);
  signal (SIGQUIT, SIG_IGN);
  int status, analysed = 0;
  for (;;)
    {
      if (waitpid (pid, &status, WUNTRACED) < 0)
	{
	  if (errno == EINTR)
	    continue;
	  fprintf (stderr, "dmem: waitpid: %s\n", strerror (errno));
	  return DMEM_EXIT_BAD_INPUT;
	}
      if (!WIFSTOPPED (status))
	break;
      if (WSTOPSIG (status) == SIGSTOP && !analysed)
	{
	  analysed = 1;
	  char pidarg[32];
	  snprintf (pidarg, sizeof pidarg, "--pid=%d", (int) pid);
	  char *args[] = { "leaks", pidarg, NULL };
	  fprintf (stderr, "dmem: leaks of %s (pid %d) at exit:\n", argv[i],
		   (int) pid);
	  dmem_cli_analyse (2, args, stderr);
	}
      kill (pid, SIGCONT);
    }
  if (!analysed && WIFSIGNALED (status))
    {
      int sig = WTERMSIG (status);
      const char *abbrev = sigabbrev_np (sig);
      fprintf (stderr, "dmem: %s was killed by signal %d (%s%s%s%s)%s; no leak "
	       "report\n", argv[i], sig, abbrev ? "SIG" : "", abbrev ? abbrev : "",
	       abbrev ? ": " : "", strsignal (sig),
	       WCOREDUMP (status) ? ", core dumped" : "");
    }
  else if (!analysed)
    fprintf (stderr, "dmem: %s exited without stopping at exit (exec or "
	     "_exit?); no leak report\n", argv[i]);
  return child_status (status);
}

