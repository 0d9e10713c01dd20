/* dmem failsweep: rerun a program under the runtime, each run failing the
   allocation stacks not failed before (DMEM_OPTS=fail-once), until it
   crashes or every stack has been failed; then name the crash and the
   failed allocation that led to it.  */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "dmem.h"

#define DEFAULT_STATE "dmem-failsweep.stacks"

struct sweep
{
  char **argv;             /* PROG ARGS */
  const char *runtime;     /* libdmem.so */
  const char *opts;        /* extra DMEM_OPTS, or NULL */
  const char *file;        /* the fail file; FILE.log, FILE.prev beside it */
  double timeout;          /* seconds per run, 0: none */
  int max_runs;
};

/* Number of hash lines in PATH (0 if it does not exist).  */
static long
count_lines (const char *path)
{
  FILE *f = fopen (path, "r");
  if (f == NULL)
    return 0;
  long n = 0;
  int c;
  while ((c = getc (f)) != EOF)
    n += c == '\n';
  fclose (f);
  return n;
}

/* Copy FROM to TO (an absent FROM makes TO empty).  Returns 0 or -1.  */
static int
copy_file (const char *from, const char *to)
{
  FILE *in = fopen (from, "r"), *out = fopen (to, "w");
  int ok = out != NULL;
  if (in != NULL && out != NULL)
    {
      char buf[8192];
      size_t n;
      while ((n = fread (buf, 1, sizeof buf, in)) > 0)
        ok &= fwrite (buf, 1, n, out) == n;
    }
  if (in != NULL)
    fclose (in);
  if (out != NULL)
    ok &= fclose (out) == 0;
  return ok ? 0 : -1;
}

static char *
with_suffix (const char *path, const char *suffix)
{
  char *s;
  if (asprintf (&s, "%s%s", path, suffix) < 0)
    {
      fputs ("dmem: out of memory\n", stderr);
      exit (DMEM_EXIT_BAD_INPUT);
    }
  return s;
}

/* Run PROG once under the runtime.  Returns its wait status, with *PID
   its process id and *TIMED_OUT set if it was killed for running past the
   timeout; -1 if it could not be started.  */
static int
run_once (const struct sweep *s, pid_t *child, int *timed_out)
{
  *timed_out = 0;
  fflush (NULL);
  pid_t pid = *child = fork ();
  if (pid < 0)
    return -1;
  if (pid == 0)
    {
      setpgid (0, 0); /* a timeout kills the program and its children */
      const char *old = getenv ("LD_PRELOAD");
      char *preload, *opts;
      if (asprintf (&preload, "%s%s%s", s->runtime, old && *old ? ":" : "",
                    old && *old ? old : "") < 0
          || asprintf (&opts, "fail-once,fail-file=%s%s%s", s->file,
                       s->opts ? "," : "", s->opts ? s->opts : "") < 0)
        _exit (127);
      setenv ("LD_PRELOAD", preload, 1);
      setenv ("DMEM_OPTS", opts, 1);
      execvp (s->argv[0], s->argv);
      fprintf (stderr, "dmem: cannot run %s: %s\n", s->argv[0], strerror (errno));
      _exit (127);
    }
  struct timespec start, now, tick = { 0, 5 * 1000 * 1000 };
  clock_gettime (CLOCK_MONOTONIC, &start);
  int status;
  for (;;)
    {
      pid_t w = waitpid (pid, &status, s->timeout > 0 ? WNOHANG : 0);
      if (w == pid)
        return status;
      if (w < 0 && errno != EINTR)
        return -1;
      clock_gettime (CLOCK_MONOTONIC, &now);
      double elapsed = (double) (now.tv_sec - start.tv_sec)
                       + (double) (now.tv_nsec - start.tv_nsec) / 1e9;
      if (s->timeout > 0 && elapsed > s->timeout)
        {
          kill (-pid, SIGKILL);
          kill (pid, SIGKILL);
          waitpid (pid, &status, 0);
          *timed_out = 1;
          return status;
        }
      nanosleep (&tick, NULL);
    }
}

/* A stack from the log: "MODULE+0xOFF" words, offsets of return addresses
   within their modules.  */
struct logged_stack
{
  char *modules[DMEM_STACK_DEPTH + 8];
  uint64_t offsets[DMEM_STACK_DEPTH + 8];
  size_t n;
  long pid, signal, size;
  int found;
};

static void
logged_stack_free (struct logged_stack *st)
{
  for (size_t i = 0; i < st->n; i++)
    free (st->modules[i]);
  memset (st, 0, sizeof *st);
}

/* Parse one log LINE (without its kind word) into ST.  */
static void
parse_stack (char *line, struct logged_stack *st)
{
  logged_stack_free (st);
  st->found = 1;
  for (char *w = strtok (line, " \n"); w != NULL; w = strtok (NULL, " \n"))
    {
      if (sscanf (w, "pid=%ld", &st->pid) == 1 || sscanf (w, "signal=%ld", &st->signal) == 1
          || sscanf (w, "size=%ld", &st->size) == 1 || strchr (w, '=') != NULL)
        continue;
      char *plus = strrchr (w, '+');
      if (plus == NULL || st->n == sizeof st->offsets / sizeof st->offsets[0])
        continue;
      *plus = 0;
      st->modules[st->n] = strdup (w);
      st->offsets[st->n++] = strtoull (plus + 1, NULL, 16);
    }
}

/* From the run's log: the crash of process PID, and the last allocation
   failed in that process before it.  */
static void
read_log (const char *log, long pid, struct logged_stack *crash,
          struct logged_stack *failed)
{
  FILE *f = fopen (log, "r");
  if (f == NULL)
    return;
  char *line = NULL;
  size_t cap = 0;
  char want[64];
  snprintf (want, sizeof want, " pid=%ld ", pid);
  while (getline (&line, &cap, f) > 0)
    {
      int is_crash = strncmp (line, "crash ", 6) == 0;
      int is_fail = strncmp (line, "fail ", 5) == 0;
      if ((!is_crash && !is_fail) || strstr (line, want) == NULL || crash->found)
        continue;
      parse_stack (line + (is_crash ? 6 : 5), is_crash ? crash : failed);
    }
  free (line);
  fclose (f);
}

/* Print ST's frames, symbolised offline from the module files.  */
static void
print_stack (const struct logged_stack *st)
{
  static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
  };
  Dwfl *dwfl = dwfl_begin (&callbacks);
  uint64_t pcs[sizeof st->offsets / sizeof st->offsets[0]];
  /* Each module at its own base, far apart: ADDRESS = bias + offset.  */
  for (size_t i = 0; i < st->n; i++)
    {
      pcs[i] = 0;
      Dwfl_Module *mod = NULL;
      for (size_t j = 0; j < i && mod == NULL; j++)
        if (strcmp (st->modules[j], st->modules[i]) == 0 && pcs[j])
          mod = dwfl_addrmodule (dwfl, pcs[j]);
      if (mod == NULL && dwfl != NULL)
        {
          dwfl_report_begin_add (dwfl);
          mod = dwfl_report_elf (dwfl, st->modules[i], st->modules[i], -1,
                                 (GElf_Addr) (i + 1) << 36, false);
          dwfl_report_end (dwfl, NULL, NULL);
        }
      GElf_Addr bias = 0;
      if (mod != NULL && dwfl_module_getelf (mod, &bias) != NULL)
        pcs[i] = bias + st->offsets[i];
    }
  for (size_t i = 0; i < st->n; i++)
    if (pcs[i] == 0)
      pcs[i] = st->offsets[i]; /* module not found: shown as its offset */
  struct dmem_target t;
  dmem_target_init (&t, stderr);
  t.dwfl = dwfl;
  dmem_text_frames (stdout, &t, pcs, st->n);
  dmem_symbols_free (&t);
  if (dwfl != NULL)
    dwfl_end (dwfl);
}

static void
progress (int run, long failed)
{
  if (isatty (STDERR_FILENO))
    fprintf (stderr, "\rdmem failsweep: run %d, %ld stacks failed so far ", run, failed);
}

/* Say how run RUN ended badly, with the failed allocation behind it.  */
static void
report_crash (const struct sweep *s, int run, int status, int timed_out,
              pid_t pid, long stacks)
{
  char *log = with_suffix (s->file, ".log");
  struct logged_stack crash = { 0 }, failed = { 0 };
  read_log (log, pid, &crash, &failed);
  if (timed_out)
    printf ("dmem failsweep: %s ran past the %.0f s timeout in run %d\n",
            s->argv[0], s->timeout, run);
  else
    printf ("dmem failsweep: %s died of %s (signal %d) in run %d\n", s->argv[0],
            strsignal (WTERMSIG (status)), WTERMSIG (status), run);
  if (crash.found)
    {
      printf ("crash stack:\n");
      print_stack (&crash);
    }
  if (failed.found)
    {
      printf ("the allocation failed just before (%ld bytes):\n", failed.size);
      print_stack (&failed);
    }
  else
    printf ("no allocation was failed in that process before the crash\n");
  printf ("%d run%s, %ld stack%s failed.\nReplay: dmem failsweep --replay",
          run, run == 1 ? "" : "s", stacks, stacks == 1 ? "" : "s");
  if (strcmp (s->file, DEFAULT_STATE) != 0)
    printf (" --fail-file %s", s->file);
  if (s->opts)
    printf (" -o %s", s->opts);
  printf (" --");
  for (char **a = s->argv; *a; a++)
    printf (" %s", *a);
  putchar ('\n');
  logged_stack_free (&crash);
  logged_stack_free (&failed);
  free (log);
}

static const char failsweep_help[] =
  "Rerun PROG, each run failing the allocation stacks not failed before, until\n"
  "it crashes; show the crash and the failed allocation behind it.\n"
  "\n"
  "Usage: dmem failsweep [-o OPTS] [--timeout S] [--fail-file F] [--max-runs N]\n"
  "                      [--replay] [--] PROG [ARGS...]\n"
  "\n"
  "Each run has DMEM_OPTS=fail-once,fail-file=F[,OPTS]: the first allocation\n"
  "from each stack not listed in F fails (NULL, ENOMEM) and its stack is added\n"
  "to F.  A run that dies of a signal ends the sweep: the signal, the crash\n"
  "stack and the allocation failed just before it are printed, exit status 1.\n"
  "When a run fails no new stack, every stack was tried: exit status 0.\n"
  "\n"
  "-o OPTS\n"
  "  More runtime options (libdmem(3)), such as fail-ignore=libcrypto.\n"
  "--timeout S\n"
  "  Kill a run that takes more than S seconds, reported like a crash.\n"
  "--fail-file F\n"
  "  The stack file (default dmem-failsweep.stacks); F.log and F.prev beside it.\n"
  "--max-runs N\n"
  "  Stop after N runs (default 10000).\n"
  "--replay\n"
  "  Run once more failing the stacks the last run failed: the same crash.\n"
  "-h, --help\n"
  "  This text.\n";

/* A usage error: "dmem: failsweep: MSG" (MSG a format for ARG) and the hint.  */
static int
usage (const char *msg, const char *arg)
{
  char fmt[128];
  snprintf (fmt, sizeof fmt, "failsweep: %s", msg);
  return dmem_usage_error (fmt, arg);
}

int
dmem_failsweep (int argc, char **argv, const char *runtime)
{
  struct sweep s = { .file = DEFAULT_STATE, .max_runs = 10000, .runtime = runtime };
  int replay = 0, i = 1;
  for (; i < argc; i++)
    {
      const char *a = argv[i];
      const char *val = i + 1 < argc ? argv[i + 1] : NULL;
      if (strcmp (a, "--") == 0)
        {
          i++;
          break;
        }
      else if (strcmp (a, "-h") == 0 || strcmp (a, "--help") == 0)
        {
          fputs (failsweep_help, stdout);
          return DMEM_EXIT_OK;
        }
      else if (strcmp (a, "--replay") == 0)
        replay = 1;
      else if (strcmp (a, "-o") == 0 || strcmp (a, "--timeout") == 0
               || strcmp (a, "--fail-file") == 0 || strcmp (a, "--max-runs") == 0)
        {
          if (val == NULL)
            return usage ("%s needs a value", a);
          char *end;
          if (a[1] == 'o')
            s.opts = val;
          else if (strcmp (a, "--fail-file") == 0)
            s.file = val;
          else if (strcmp (a, "--timeout") == 0
                   && ((s.timeout = strtod (val, &end)) <= 0 || *end))
            return usage ("--timeout takes a number of seconds, not '%s'", val);
          else if (strcmp (a, "--max-runs") == 0
                   && ((s.max_runs = (int) strtol (val, &end, 10)) <= 0 || *end))
            return usage ("--max-runs takes a positive number, not '%s'", val);
          i++;
        }
      else if (a[0] == '-')
        return usage ("unknown option '%s'", a);
      else
        break;
    }
  if (i == argc)
    return usage ("%s", "no program to run");
  if (runtime == NULL)
    {
      fputs ("dmem: cannot find libdmem.so (set DMEM_RUNTIME)\n", stderr);
      return DMEM_EXIT_BAD_INPUT;
    }
  s.argv = argv + i;
  char *log = with_suffix (s.file, ".log"), *prev = with_suffix (s.file, ".prev");

  if (replay)
    {
      /* The stacks failed before the last run, so it fails the same ones.  */
      if (access (prev, R_OK) != 0 || copy_file (prev, s.file) != 0)
        {
          fprintf (stderr, "dmem failsweep: nothing to replay (no %s)\n", prev);
          return DMEM_EXIT_BAD_INPUT;
        }
    }
  else
    {
      unlink (s.file);
      unlink (prev);
    }

  int run = 0, status = 0, timed_out = 0, verdict = 0;
  pid_t pid;
  long failed = count_lines (s.file);
  for (;;)
    {
      long before = failed;
      if (copy_file (s.file, prev) != 0 || (unlink (log) != 0 && errno != ENOENT))
        {
          fprintf (stderr, "dmem failsweep: cannot write beside %s: %s\n", s.file,
                   strerror (errno));
          return DMEM_EXIT_BAD_INPUT;
        }
      run++;
      progress (run, failed);
      status = run_once (&s, &pid, &timed_out);
      if (status < 0)
        {
          fprintf (stderr, "dmem failsweep: cannot run %s\n", s.argv[0]);
          return DMEM_EXIT_BAD_INPUT;
        }
      failed = count_lines (s.file);
      if (WIFEXITED (status) && WEXITSTATUS (status) == 127 && failed == before)
        {
          fprintf (stderr, "dmem failsweep: %s did not start (exit 127)\n", s.argv[0]);
          return DMEM_EXIT_BAD_INPUT;
        }
      if (timed_out || WIFSIGNALED (status))
        {
          if (isatty (STDERR_FILENO))
            fputc ('\n', stderr);
          report_crash (&s, run, status, timed_out, pid, failed);
          verdict = 1;
          break;
        }
      if (replay || failed == before || run == s.max_runs)
        break;
    }
  if (verdict == 0)
    {
      if (isatty (STDERR_FILENO))
        fputc ('\n', stderr);
      if (replay)
        printf ("dmem failsweep: the replayed run exited with status %d\n",
                WEXITSTATUS (status));
      else if (failed == 0)
        printf ("dmem failsweep: %s made no allocation to fail\n", s.argv[0]);
      else
        printf ("dmem failsweep: no crash: %d run%s, %ld stack%s failed%s\n", run,
                run == 1 ? "" : "s", failed, failed == 1 ? "" : "s",
                run == s.max_runs ? " (stopped at --max-runs)" : ", every stack tried");
    }
  free (log);
  free (prev);
  return verdict;
}
