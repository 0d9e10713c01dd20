/* dmem: command line, subcommand dispatch, exit statuses, and `dmem run`.  */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "dmem.h"

#ifndef DMEM_LIBDIR
#define DMEM_LIBDIR "/usr/local/lib"
#endif

static const char usage_text[] =
  "Usage: dmem run [-o OPTS] [--] PROG [ARGS...]\n"
  "       dmem stacks|leaks|stats|mallinfo|verify [OPTIONS] (CORE | --pid PID)\n"
  "       dmem failsweep [-o OPTS] [--timeout S] [--fail-file F] [--max-runs N]\n"
  "                      [--replay] [--] PROG [ARGS...]\n"
  "\n"
  "Heap analysis of programs run under the dmem runtime (libdmem.so).\n"
  "\n"
  "Subcommands:\n"
  "  run       run PROG under the runtime; print the leak report on stderr\n"
  "            when it exits; exit with PROG's status (128+N if killed by N)\n"
  "  failsweep rerun PROG, each run failing the allocation stacks not failed\n"
  "            before, until it crashes; report the crash and the failed\n"
  "            allocation behind it (exit 1), or 0 if every stack was tried\n"
  "  stacks    live blocks grouped by allocation stack, most bytes first\n"
  "  leaks     direct and indirect leaks by reachability, grouped by stack\n"
  "  stats     totals, per thread, size histogram, peak\n"
  "  mallinfo  true 64-bit mallinfo values, int overflows, recorded calls\n"
  "  verify    header magic and list links of every shard\n"
  "\n"
  "Options:\n"
  "  -e, --executable=EXE   the core's main program, when not found by path\n"
  "      --sysroot=DIR      look up the core's files under DIR first\n"
  "      --format=FMT       text (default), json or folded (flame graph input)\n"
  "      --pid=PID          a live process, stopped only while it is read\n"
  "      --all              stacks: one entry per block\n"
  "  -o OPTS                run: extra DMEM_OPTS for the runtime\n"
  "  -h, --help             this text\n"
  "\n"
  "Exit status:\n"
  "  0   the target was analysed (for run: PROG's exit status instead)\n"
  "  2   the input cannot be analysed: missing file, not ELF, not a core,\n"
  "      truncated core, no dmem runtime inside, corrupted descriptor\n"
  "  64  usage error\n";

/* Print a usage error (FMT with ARG) and the --help hint; returns 64.  */
static int
usage_error (const char *fmt, const char *arg)
{
  fputs ("dmem: ", stderr);
  fprintf (stderr, fmt, arg);
  fputs ("\nTry 'dmem --help'.\n", stderr);
  return DMEM_EXIT_USAGE;
}

typedef int report_fn (struct dmem_target *, struct dmem_heap *,
		       const struct dmem_options *);

/* Print REPORT on heap H of target T, then release both.  Returns the exit
   status.  */
static int
report_heap (struct dmem_target *t, struct dmem_heap *h, report_fn *report,
	     const struct dmem_options *o)
{
  dmem_heap_warn (h);
  report (t, h, o);
  fflush (o->out);
  dmem_symbols_free ();
  dmem_heap_free (h);
  dmem_target_close (t);
  return DMEM_EXIT_OK;
}

/* Load the heap of open target T for REPORT.  Returns 0, or the exit status
   after saying why on stderr and closing T.  */
static int
load_heap (struct dmem_target *t, struct dmem_heap *h, report_fn *report)
{
  t->preload_symbols = report == dmem_report_stacks
		       || report == dmem_report_leaks;
  if (dmem_heap_load (t, h) == 0)
    return 0;
  fprintf (stderr, "dmem: %s\n", dmem_failure ());
  dmem_target_close (t);
  return DMEM_EXIT_BAD_INPUT;
}

/* Times a live process is read again when its lists were caught in the
   middle of an update (they are read without the runtime's locks).  */
#define LIVE_ATTEMPTS 3

/* Print REPORT on the heap of live process PID.  Returns the exit status.  */
static int
analyse_pid (pid_t pid, const char *executable, const char *sysroot,
	     report_fn *report, const struct dmem_options *o)
{
  for (int attempt = 1;; attempt++)
    {
      struct dmem_target t;
      struct dmem_heap h;
      if (dmem_target_open_pid (&t, pid, executable, sysroot) != 0)
	{
	  fprintf (stderr, "dmem: %s\n", dmem_failure ());
	  dmem_target_close (&t);
	  return DMEM_EXIT_BAD_INPUT;
	}
      int status = load_heap (&t, &h, report);
      if (status != 0)
	return status;
      if (h.nproblems == 0 || attempt == LIVE_ATTEMPTS)
	return report_heap (&t, &h, report, o);
      dmem_heap_free (&h);
      dmem_target_close (&t);
      usleep (10000);   /* let the process leave its critical section */
    }
}

/* The path of libdmem.so to preload: $DMEM_RUNTIME, the installed one, or
   ../lib beside this executable.  */
static char *
find_runtime (void)
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

/* dmem run [-o OPTS] [--] PROG ARGS: PROG under the runtime, stopped at its
   exit (stop-at-exit) and analysed live for leaks.  */
static int
run (int argc, char **argv)
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
      if (strcmp (argv[i], "-o") == 0)
	{
	  if (++i == argc)
	    return usage_error ("%s: -o needs an argument", "run");
	  opts = argv[i];
	}
      else if (strncmp (argv[i], "-o", 2) == 0)
	opts = argv[i] + 2;
      else if (argv[i][0] == '-')
	return usage_error ("run: unknown option '%s'", argv[i]);
      else
	break;
    }
  if (i == argc)
    return usage_error ("%s: no program to run", "run");
  char *runtime = find_runtime ();
  if (runtime == NULL)
    {
      fputs ("dmem: cannot find libdmem.so (set DMEM_RUNTIME)\n", stderr);
      return DMEM_EXIT_BAD_INPUT;
    }
  fflush (NULL);
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
      const char *old = getenv ("LD_PRELOAD");
      char *preload, *dmem_opts;
      if (asprintf (&preload, "%s%s%s", runtime, old && *old ? ":" : "",
		    old && *old ? old : "") < 0
	  || asprintf (&dmem_opts, "stop-at-exit=%d%s%s", (int) getpid (),
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
	  struct dmem_options o = { DMEM_TEXT, 0, stderr };
	  fprintf (stderr, "dmem: leaks of %s (pid %d) at exit:\n", argv[i],
		   (int) pid);
	  analyse_pid (pid, NULL, NULL, dmem_report_leaks, &o);
	}
      kill (pid, SIGCONT);
    }
  if (!analysed)
    fprintf (stderr, "dmem: %s exited without stopping at exit (exec or "
	     "_exit?); no leak report\n", argv[i]);
  return child_status (status);
}

/* Parse the command line, open the target, print the report.  */
int
main (int argc, char **argv)
{
  if (argc < 2)
    return usage_error ("%s", "no subcommand");
  const char *cmd = argv[1];
  if (strcmp (cmd, "-h") == 0 || strcmp (cmd, "--help") == 0)
    {
      fputs (usage_text, stdout);
      return DMEM_EXIT_OK;
    }
  if (strcmp (cmd, "--version") == 0)
    {
      puts ("dmem " PACKAGE_VERSION);
      return DMEM_EXIT_OK;
    }
  if (strcmp (cmd, "run") == 0)
    return run (argc - 1, argv + 1);
  if (strcmp (cmd, "failsweep") == 0)
    {
      char *runtime = find_runtime ();
      if (runtime == NULL)
	{
	  fputs ("dmem: cannot find libdmem.so (set DMEM_RUNTIME)\n", stderr);
	  return DMEM_EXIT_BAD_INPUT;
	}
      return dmem_failsweep (argc - 1, argv + 1, runtime);
    }
  static const struct { const char *name; report_fn *fn; } cmds[] = {
    { "stacks", dmem_report_stacks }, { "leaks", dmem_report_leaks },
    { "stats", dmem_report_stats }, { "mallinfo", dmem_report_mallinfo },
    { "verify", dmem_report_verify } };
  report_fn *report = NULL;
  for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
    if (strcmp (cmd, cmds[i].name) == 0)
      report = cmds[i].fn;
  if (report == NULL)
    return usage_error ("unknown subcommand '%s'", cmd);

  static const struct option longopts[] = {
    { "executable", required_argument, NULL, 'e' },
    { "sysroot", required_argument, NULL, 'S' },
    { "format", required_argument, NULL, 'f' },
    { "pid", required_argument, NULL, 'p' },
    { "all", no_argument, NULL, 'a' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 } };
  struct dmem_options o = { DMEM_TEXT, 0, stdout };
  const char *executable = NULL, *sysroot = NULL;
  long pid = 0;
  int c;
  opterr = 0;
  while ((c = getopt_long (argc - 1, argv + 1, "+e:p:h", longopts, NULL))
	 != -1)
    switch (c)
      {
      case 'e':
	executable = optarg;
	break;
      case 'S':
	sysroot = optarg;
	break;
      case 'f':
	if (strcmp (optarg, "text") == 0)
	  o.format = DMEM_TEXT;
	else if (strcmp (optarg, "json") == 0)
	  o.format = DMEM_JSON;
	else if (strcmp (optarg, "folded") == 0)
	  o.format = DMEM_FOLDED;
	else
	  return usage_error ("unknown format '%s' (text, json, folded)",
			      optarg);
	break;
      case 'p':
	{
	  char *end;
	  errno = 0;
	  pid = strtol (optarg, &end, 10);
	  if (*end || end == optarg || pid <= 0 || pid > INT_MAX || errno)
	    return usage_error ("bad process id '%s'", optarg);
	  break;
	}
      case 'a':
	o.all = 1;
	break;
      case 'h':
	fputs (usage_text, stdout);
	return DMEM_EXIT_OK;
      default:
	return usage_error ("%s: bad option or missing argument", cmd);
      }
  int rest = argc - 1 - optind;
  if ((pid != 0) + rest != 1)
    return usage_error ("%s: give one core file or --pid PID", cmd);
  if (o.all && report != dmem_report_stacks)
    return usage_error ("%s: --all is for stacks only", cmd);

  if (pid != 0)
    return analyse_pid (pid, executable, sysroot, report, &o);
  struct dmem_target t;
  struct dmem_heap h;
  if (dmem_target_open_core (&t, argv[1 + optind], executable, sysroot) != 0)
    {
      fprintf (stderr, "dmem: %s\n", dmem_failure ());
      dmem_target_close (&t);
      return DMEM_EXIT_BAD_INPUT;
    }
  int status = load_heap (&t, &h, report);
  return status != 0 ? status : report_heap (&t, &h, report, &o);
}
