/* dmem run: PROG under the runtime, stopped at its exit and read live for its leak report
   (with --follow-children, every process of its tree).  */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "dmem.h"
#include "dmem/exit-report.h"
#include "engine.h"

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
  "Usage: dmem run [-o OPTS] [--error-exitcode=N] [--suppressions=FILE]...\n"
  "                [--format=text|json|folded] [--output=FILE] [--verify]\n"
  "                [--follow-children] [--] PROG [ARGS...]\n"
  "\n"
  "PROG runs with libdmem.so preloaded ($DMEM_RUNTIME, else the installed one)\n"
  "and DMEM_OPTS set to the DMEM_OPTS of the environment, then\n"
  "report-socket=@NAME (a unix socket dmem listens on), then OPTS (where an\n"
  "option repeats, the later one wins), and DMEM_ANALYZER to this dmem unless\n"
  "it is set (what the runtime starts to name the frames of heap errors and\n"
  "for dmem_check_leaks).  At its exit PROG stops; dmem reads its heap live,\n"
  "prints the leak report on stderr and lets it finish, then exits with\n"
  "PROG's status (128+N if signal N killed it).  If dmem dies first, PROG\n"
  "still runs to its end, unreported.  The exits of PROG's children are\n"
  "counted, not reported, unless --follow-children.\n"
  "\n"
"-o OPTS\n"
  "  More runtime options (libdmem(3)), comma-separated.  (Not an output\n"
  "  file: that is --output.)\n"
  "--error-exitcode=N\n"
  "  Exit N (1..255) instead of PROG's status when the report finds direct\n"
  "  leaks (not suppressed) or heap errors (any process's, when followed).\n"
  "--suppressions=FILE\n"
  "  LeakSanitizer's suppressions (leak:PATTERN lines) for the report, as\n"
  "  for dmem leaks; may be repeated.\n"
  "--format=text|json|folded, --json\n"
  "  The leak report's format (text by default).\n"
  "--output=FILE\n"
  "  Write the leak report to FILE (created when PROG starts) instead of\n"
  "  stderr.\n"
  "--follow-children\n"
  "  Report every process of PROG's tree at its exit (or _exit): fork\n"
  "  children, exec'd programs, a script's shell; each report headed with\n"
  "  its pid and command line.  --error-exitcode counts them all; the JSON\n"
  "  of --output is a list of {pid, command, report}.  Processes still\n"
  "  running when PROG has exited are named, not waited for.\n"
  "--verify\n"
  "  Show the heap check at exit even when it finds nothing.  The heap is\n"
  "  always checked at exit (dmem verify: the lists, the guards of the\n"
  "  blocks still live, the poison of the quarantine's, the heap errors\n"
  "  the runtime caught); its report is shown on stderr when it finds an\n"
  "  error.\n"
  "-h, --help\n"
  "  This text.\n";

/* What dmem run does at PROG's exit: the leak report's words after
   leaks --pid=N, where it goes, and whether to verify.  */
struct at_exit
{
  char *words[8 + DMEM_MAX_SUPPRESSION_FILES];
  int nwords;
  const char *output;     /* --output, or NULL: stderr */
  FILE *out;
  int verify;
  int error_exitcode;
  int follow;             /* --follow-children */
  int json;               /* --format=json: with follow, a list of reports */
  int reports;            /* reports written so far */
};

/* Add the word --OPT=VALUE to A's report words.  Returns 0, or -1 when
   there are too many.  */
static int
add_word (struct at_exit *a, const char *opt, const char *value)
{
  char *w;
  if (a->nwords == sizeof a->words / sizeof *a->words - 1)
    return -1;
  if (asprintf (&w, "--%s=%s", opt, value) < 0)
    {
      fputs ("dmem: out of memory\n", stderr);
      exit (DMEM_EXIT_BAD_INPUT);
    }
  a->words[a->nwords++] = w;
  return 0;
}

/* The leak report and the heap check of PROG, PID, stopped at its exit,
   on one snapshot.  Returns whether it found what
   --error-exitcode asks about.  */
static int
report_at_exit (struct at_exit *a, const char *prog, pid_t pid)
{
  char pidarg[32];
  snprintf (pidarg, sizeof pidarg, "--pid=%d", (int) pid);
  a->words[1] = pidarg;
  struct dmem_request r;
  if (dmem_parse_request (a->nwords, a->words, &r, 1) != 0)
    {
      /* Checked before PROG started.  */
      fprintf (stderr, "dmem: %s\n", r.error);
      return 0;
    }
  if (a->output != NULL)
    fprintf (stderr, "dmem: leaks of %s (pid %d) at exit: written to %s\n",
	     prog, (int) pid, a->output);
  else
    fprintf (stderr, "dmem: leaks of %s (pid %d) at exit:\n", prog,
	     (int) pid);
  /* Several processes' reports in one file: JSON makes them a list
     (opened here, closed by end_reports); a text file gets the header.  */
  if (a->follow && a->json)
    {
      fprintf (a->out, "%s{\"pid\": %d, \"command\": ", a->reports ? ",\n"
	       : "[\n", (int) pid);
      dmem_json_str (a->out, prog);
      fputs (", \"report\": ", a->out);
    }
  else if (a->follow && a->out != stderr)
    fprintf (a->out, "%sdmem: leaks of %s (pid %d) at exit:\n",
	     a->reports ? "\n" : "", prog, (int) pid);
  a->reports++;
  dmem_engine *e = dmem_engine_new ();
  if (e == NULL)
    {
      fputs ("dmem: out of memory\n", stderr);
      if (a->follow && a->json)
	fputs ("null}", a->out);
      return 0;
    }
  dmem_engine_set_streams (e, a->out, stderr);
  int found = 0;
  if (dmem_engine_open_pid (e, pid, NULL, NULL) != 0)
    {
      fprintf (stderr, "dmem: %s\n", dmem_engine_error (e));
      if (a->follow && a->json)
	fputs ("null}", a->out);
    }
  else
    {
      int status = dmem_run_request (e, &r);
      found = a->error_exitcode != 0 && status == a->error_exitcode;
      if (a->follow && a->json)
	fputs ("}", a->out);
      fflush (a->out);
      /* The heap is checked at exit too (guards of the blocks still live,
	 poison of the quarantine's): the report is shown when it finds an
	 error, or always with --verify.  */
      char *words[] = { "verify", NULL }, *text = NULL;
      size_t len = 0;
      struct dmem_request v;
      dmem_parse_request (1, words, &v, 0);
      FILE *buf = open_memstream (&text, &len);
      if (buf != NULL)
	{
	  dmem_engine_set_streams (e, buf, stderr);
	  int checked = dmem_run_request (e, &v);
	  fclose (buf);
	  if (checked == DMEM_EXIT_FOUND || a->verify)
	    {
	      fprintf (stderr, "dmem: heap check of %s (pid %d) at exit:\n%s",
		       prog, (int) pid, text);
	      if (checked == DMEM_EXIT_FOUND && a->error_exitcode != 0)
		found = 1;
	    }
	  free (text);
	}
    }
  dmem_engine_free (e);
  return found;
}

/* PID's command line, its arguments joined by spaces (malloc'd; at most
   4 KiB of it), or "pid N" when /proc has it no more.  */
static char *
command_line (pid_t pid)
{
  char path[64], buf[4096];
  snprintf (path, sizeof path, "/proc/%d/cmdline", (int) pid);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read (fd, buf, sizeof buf - 1);
  if (fd >= 0)
    close (fd);
  while (n > 0 && buf[n - 1] == 0)
    n--;
  if (n <= 0)
    n = snprintf (buf, sizeof buf, "pid %d", (int) pid);
  buf[n] = 0;
  for (ssize_t k = 0; k < n; k++)
    if (buf[k] == 0)
      buf[k] = ' ';
  char *text = strdup (buf);
  if (text == NULL)
    {
      fputs ("dmem: out of memory\n", stderr);
      exit (DMEM_EXIT_BAD_INPUT);
    }
  return text;
}

/* The abstract unix socket the processes of the tree tell their exits on
   (include/dmem/exit-report.h), named NAME ("@dmem-run-PID-RANDOM", the
   '@' standing for the leading NUL).  Returns the listening fd or -1.  */
static int
listen_for_exits (char *name, size_t size)
{
  unsigned char random[8] = { 0 };
  if (getrandom (random, sizeof random, 0) != (ssize_t) sizeof random)
    {
      /* No entropy yet: the time and our pid still make the name ours;
	 bind fails rather than share one.  */
      long t = (long) time (NULL);
      memcpy (random, &t, sizeof random < sizeof t ? sizeof random : sizeof t);
    }
  snprintf (name, size, "@dmem-run-%d-%02x%02x%02x%02x%02x%02x%02x%02x",
	    (int) getpid (), random[0], random[1], random[2], random[3],
	    random[4], random[5], random[6], random[7]);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  size_t len = strlen (name);
  memcpy (addr.sun_path + 1, name + 1, len - 1);
  int fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -1;
  if (bind (fd, (struct sockaddr *) &addr,
	    offsetof (struct sockaddr_un, sun_path) + len) != 0
      || listen (fd, 128) != 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

/* What happened to PROG itself and to the other processes of the tree.  */
struct tree
{
  const char *prog;       /* PROG as given */
  pid_t pid;              /* PROG's pid */
  int prog_reported;      /* PROG's heap was read at its exit */
  int prog__exit;         /* PROG told its _exit, not reported */
  int unreported;         /* others that told their exit, not followed */
  int found;              /* a report found what --error-exitcode asks */
};

/* One process of the tree telling its exit on connection C: report it if
   we follow it, then answer so it goes on.  Its helper continues it also
   when we close C without answering.  */
static void
exit_told (struct at_exit *a, struct tree *t, int c)
{
  struct ucred cred;
  socklen_t cred_len = sizeof cred;
  struct dmem_exit_message m;
  ssize_t n;
  while ((n = recv (c, &m, sizeof m, 0)) < 0 && errno == EINTR)
    ;
  if (getsockopt (c, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0
      || n != (ssize_t) sizeof m || m.magic != DMEM_EXIT_MAGIC
      || m.pid != cred.pid)
    {
      close (c);  /* not one of ours */
      return;
    }
  int is_prog = cred.pid == t->pid;
  if (cred.uid != getuid ())
    {
      char *cmd = command_line (cred.pid);
      fprintf (stderr, "dmem: %s (pid %d) runs as another user: not "
	       "reported\n", cmd, (int) cred.pid);
      free (cmd);
    }
  else if (a->follow)
    {
      char *cmd = command_line (cred.pid);
      t->found |= report_at_exit (a, cmd, cred.pid);
      free (cmd);
      t->prog_reported |= is_prog;
    }
  else if (is_prog && m.how == DMEM_EXIT_VIA_EXIT)
    {
      t->found |= report_at_exit (a, t->prog, cred.pid);
      t->prog_reported = 1;
    }
  else if (is_prog)
    t->prog__exit = 1;
  else
    t->unreported++;
  char go = 1;
  send (c, &go, 1, MSG_NOSIGNAL);
  close (c);
}

/* Hear the exits told on LISTEN_FD (non-blocking) until none is waiting.
   A process between its connect and its message is waited for: accept
   gives a blocking socket.  */
static void
accept_exits (struct at_exit *a, struct tree *t, int listen_fd)
{
  for (;;)
    {
      int c = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC);
      if (c >= 0)
	exit_told (a, t, c);
      else if (errno != EINTR && errno != ECONNABORTED)
	return;
    }
}

/* With --follow-children we are the tree's subreaper: its orphans are our
   children.  Those still running once PROG is gone are named, since their
   exits will not be reported (they connect to a name nobody listens on any
   more and exit as usual).  */
static void
name_still_running (const struct tree *t)
{
  while (waitpid (-1, NULL, WNOHANG) > 0)
    ;
  char path[64];
  snprintf (path, sizeof path, "/proc/self/task/%d/children", (int) getpid ());
  FILE *f = fopen (path, "re");
  if (f == NULL)
    return;
  int pid;
  while (fscanf (f, "%d", &pid) == 1)
    {
      char *cmd = command_line (pid);
      fprintf (stderr, "dmem: %s (pid %d) still runs after %s: its exit "
	       "will not be reported\n", cmd, pid, t->prog);
      free (cmd);
    }
  fclose (f);
}

/* If ARGV[*I] is the long option NAME (--NAME=VALUE, or --NAME VALUE),
   set *VALUE and step *I past it.  Returns 1 if so, 0 if not, -1 when
   the value is missing.  */
static int
long_option (int argc, char **argv, int *i, const char *name,
	     const char **value)
{
  const char *a = argv[*i];
  size_t n = strlen (name);
  if (strncmp (a, "--", 2) != 0 || strncmp (a + 2, name, n) != 0)
    return 0;
  if (a[2 + n] == '=')
    {
      *value = a + 3 + n;
      return 1;
    }
  if (a[2 + n] != 0)
    return 0;
  if (*i + 1 == argc)
    return -1;
  *value = argv[++*i];
  return 1;
}

/* dmem run [-o OPTS] [report options] [--] PROG ARGS: PROG under the
   runtime, its tree's exits told on a socket (report-socket), PROG (or,
   with --follow-children, each process) analysed live for leaks.  */
int
dmem_run (int argc, char **argv)
{
  const char *opts = NULL;
  struct at_exit a = { .words = { "leaks", NULL }, .nwords = 2 };
  int i = 1;
  for (; i < argc; i++)
    {
      /* The leak report's options, passed on as --NAME=VALUE.  */
      static const char *const report_options[] = { "error-exitcode",
	"suppressions", "format" };
      const char *value = NULL;
      int got = long_option (argc, argv, &i, "output", &value);
      if (got > 0)
	{
	  a.output = value;
	  continue;
	}
      for (size_t k = 0; k < 3 && got == 0; k++)
	if ((got = long_option (argc, argv, &i, report_options[k], &value)) > 0
	    && add_word (&a, report_options[k], value) != 0)
	  return dmem_usage_error ("run: too many options ('%s')", argv[i]);
      if (got < 0)
	return dmem_usage_error ("run: %s needs an argument", argv[i]);
      if (got > 0)
	continue;
      if (strcmp (argv[i], "--json") == 0)
	{
	  if (add_word (&a, "format", "json") != 0)
	    return dmem_usage_error ("run: too many options ('%s')", argv[i]);
	}
      else if (strcmp (argv[i], "--verify") == 0)
	a.verify = 1;
      else if (strcmp (argv[i], "--follow-children") == 0)
	a.follow = 1;
      else if (strcmp (argv[i], "--") == 0)
	{
	  i++;
	  break;
	}
      else if (strcmp (argv[i], "-h") == 0 || strcmp (argv[i], "--help") == 0)
	{
	  fputs (run_help, stdout);
	  return DMEM_EXIT_OK;
	}
      else if (strcmp (argv[i], "-o") == 0)
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
  /* The report's words and files are checked before PROG runs.  */
  {
    struct dmem_request r;
    a.words[1] = "--pid=1";
    if (dmem_parse_request (a.nwords, a.words, &r, 1) != 0)
      return dmem_usage_error ("run: %s", r.error);
    a.error_exitcode = r.options.error_exitcode;
    a.json = r.options.format == DMEM_JSON;
    struct dmem_suppressions s = { NULL, 0 };
    char why[1024];
    for (int f = 0; f < r.nsuppression_files; f++)
      {
	int status = dmem_suppressions_load (&s, r.suppression_files[f], why,
					     sizeof why);
	if (status != 0)
	  {
	    fprintf (stderr, "dmem: %s\n", why);
	    dmem_suppressions_free (&s);
	    return status;
	  }
      }
    dmem_suppressions_free (&s);
  }
  a.out = stderr;
  if (a.output != NULL)
    {
      int fd = open (a.output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
      if (fd < 0 || (a.out = fdopen (fd, "w")) == NULL)
	{
	  fprintf (stderr, "dmem: cannot write %s: %s\n", a.output,
		   strerror (errno));
	  return DMEM_EXIT_BAD_INPUT;
	}
    }
  char *runtime = dmem_find_runtime ();
  if (runtime == NULL)
    {
      fputs ("dmem: cannot find libdmem.so (set DMEM_RUNTIME)\n", stderr);
      return DMEM_EXIT_BAD_INPUT;
    }
  char socket_name[64];
  int listen_fd = listen_for_exits (socket_name, sizeof socket_name);
  if (listen_fd < 0)
    {
      fprintf (stderr, "dmem: cannot listen on a unix socket: %s\n",
	       strerror (errno));
      free (runtime);
      return DMEM_EXIT_BAD_INPUT;
    }
  /* Following the tree, its orphans become ours, not init's: still our
     descendants (ptrace allows reading them) and named at the end when
     they outlive PROG.  */
  if (a.follow)
    prctl (PR_SET_CHILD_SUBREAPER, 1);
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
      /* Every process of PROG's tree inherits these and tells its exit on
	 the socket (see report_exit in runtime/stop.c); if we die, the
	 socket's end closes and none stays stopped.  */
      const char *old = getenv ("LD_PRELOAD");
      const char *env_opts = getenv ("DMEM_OPTS");
      char *preload, *dmem_opts;
      /* The environment's, then ours, then -o: a later option wins.  Ours
	 after the environment's, so that a dmem run inside a followed tree
	 (a test suite testing dmem) has its program tell it, not ours.  */
      if (asprintf (&preload, "%s%s%s", runtime, old && *old ? ":" : "",
		    old && *old ? old : "") < 0
	  || asprintf (&dmem_opts, "%s%sreport-socket=%s%s%s",
		       env_opts && *env_opts ? env_opts : "",
		       env_opts && *env_opts ? "," : "", socket_name,
		       opts && *opts ? "," : "", opts && *opts ? opts : "") < 0)
	_exit (127);
      setenv ("LD_PRELOAD", preload, 1);
      setenv ("DMEM_OPTS", dmem_opts, 1);
      /* The runtime starts us (this very dmem) to name the frames of a
	 heap error and for dmem_check_leaks, unless told otherwise.  */
      char exe[PATH_MAX];
      ssize_t len = readlink ("/proc/self/exe", exe, sizeof exe - 1);
      if (len > 0)
	{
	  exe[len] = 0;
	  setenv ("DMEM_ANALYZER", exe, 0);
	}
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
  /* Exits are told on the socket until PROG ends (its pidfd is readable;
     without pidfds, we look every 50 ms), then those already told.  */
  struct tree t = { .prog = argv[i], .pid = pid };
  int pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
  int status;
  for (;;)
    {
      pid_t r = waitpid (pid, &status, WNOHANG);
      if (r == pid)
	break;
      if (r < 0 && errno != EINTR)
	{
	  fprintf (stderr, "dmem: waitpid: %s\n", strerror (errno));
	  if (a.out != stderr)
	    fclose (a.out);
	  return DMEM_EXIT_BAD_INPUT;
	}
      struct pollfd fds[2] = { { listen_fd, POLLIN, 0 }, { pidfd, POLLIN, 0 } };
      if (poll (fds, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 50) > 0
	  && (fds[0].revents & POLLIN))
	accept_exits (&a, &t, listen_fd);
    }
  accept_exits (&a, &t, listen_fd);
  close (listen_fd);
  if (pidfd >= 0)
    close (pidfd);
  if (a.follow && a.json)
    fputs (a.reports ? "\n]\n" : "[]\n", a.out);
  if (a.follow)
    name_still_running (&t);
  else if (t.unreported > 0)
    fprintf (stderr, "dmem: child processes were not followed: %d exited "
	     "unreported (--follow-children reports them)\n", t.unreported);
  if (!t.prog_reported && WIFSIGNALED (status))
    {
      int sig = WTERMSIG (status);
      const char *abbrev = sigabbrev_np (sig);
      fprintf (stderr, "dmem: %s was killed by signal %d (%s%s%s%s)%s; no leak "
	       "report\n", argv[i], sig, abbrev ? "SIG" : "", abbrev ? abbrev : "",
	       abbrev ? ": " : "", strsignal (sig),
	       WCOREDUMP (status) ? ", core dumped" : "");
    }
  else if (t.prog__exit)
    fprintf (stderr, "dmem: %s ended in _exit without stopping at exit; no "
	     "leak report (--follow-children reports it)\n", argv[i]);
  else if (!t.prog_reported)
    fprintf (stderr, "dmem: %s exited without stopping at exit (exec of a "
	     "program without the runtime?); no leak report\n", argv[i]);
  if (a.out != stderr && fclose (a.out) != 0)
    fprintf (stderr, "dmem: cannot write %s: %s\n", a.output,
	     strerror (errno));
  return t.found ? a.error_exitcode : child_status (status);
}
