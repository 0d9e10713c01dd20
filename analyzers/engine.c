/* The engine's API over targets, heaps and reports: one parser of the report words, one runner.  */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dmem.h"
#include "engine.h"

struct dmem_engine
{
  struct dmem_target t;
  struct dmem_heap h;
  int opened, loaded;
  pid_t pid;                  /* open_pid: read again if caught mid-update */
  char *sysroot, *debug_dirs; /* for reading a live process again */
  char *name;                 /* the core's path or "process PID" (report) */
  FILE *out, *err;            /* the caller's streams, or NULL: buffers */
  char *out_buf, *err_buf;    /* the last command's, with buffers */
  size_t out_len, err_len;
  char error[1024];
};

typedef int report_fn (struct dmem_target *, struct dmem_heap *,
		       const struct dmem_options *);

/* The report subcommands: name, function, help text.  */
static const struct command
{
  const char *name;
  report_fn *report;
  int groups;                 /* takes --limit (and --all for stacks) */
  const char *help;
  int modules_only;           /* needs the modules only: no heap is read,
				 a live process is not stopped */
} commands[] = {
  { "explain", dmem_report_explain, 0,
    "Say what an address is and why its block is still alive.\n"
    "\n"
    "Usage: dmem explain ADDR [--format=text|json]\n"
    "\n"
    "ADDR (hex, 0x...) inside a live block: the block (size, thread, stack,\n"
    "offset) and the shortest chain of references from a root (a thread's\n"
    "register or stack frame, a global) to it, each block with its stack and\n"
    "each link with its offset; or, when no chain exists, that the block is\n"
    "a direct or indirect leak and which leaked block reaches it.  Else what\n"
    "the address is: a block header, memory no live block holds, a thread's\n"
    "stack (which frame), a global (module:symbol+offset).\n", 0 },
  { "diff", dmem_report_diff, 1,
    "Show what grew between two snapshots of a heap, by allocation stack.\n"
    "\n"
    "Usage: dmem diff OLD [--format=text|json|folded] [--limit N]\n"
    "\n"
    "OLD is the older core; the target is the newer one (with the dmem\n"
    "command: dmem diff OLD NEW, or --pid PID --interval SECONDS for two\n"
    "snapshots of a live process).  A block is the same in both when its\n"
    "header address, size and stack match.  For each stack: blocks and bytes\n"
    "born, died, and the net change, the most growth first.\n", 0 },
  { "stacks", dmem_report_stacks, 1,
    "Show live heap blocks grouped by allocation stack, most bytes first.\n"
    "\n"
    "Usage: dmem stacks [--format=text|json|folded] [--all | --retained]\n"
    "                   [--limit N]\n"
    "\n"
    "--all\n"
    "  One entry per block (its address, size, thread and stack), in\n"
    "  address order, instead of one per stack.\n"
    "\n"
    "--retained\n"
    "  Sort the stacks by retained bytes: what would be freed with their\n"
    "  blocks (the dominator tree of the references from the roots), so the\n"
    "  map or cache that keeps memory alive comes first even when its own\n"
    "  blocks are small.\n", 0 },
  { "leaks", dmem_report_leaks, 1,
    "Show leaked heap blocks (unreachable from any root), grouped by stack.\n"
    "\n"
    "Usage: dmem leaks [--format=text|json|folded] [--limit N]\n"
    "                  [--suppressions=FILE]... [--error-exitcode=N]\n"
    "\n"
    "Roots are every thread's registers, stack and TLS, the writable data of\n"
    "every loaded module, and the anonymous writable memory that holds no\n"
    "block (a program's own pools); blocks the dynamic linker allocated count\n"
    "as reachable.  A block is reachable through pointers to its start; one\n"
    "reached only through pointers into its middle is a possible leak.  Of\n"
    "each group of the other, leaked, blocks that nothing outside it points\n"
    "to, the lowest-addressed is a direct leak and everything the group\n"
    "reaches is an indirect leak.  Direct leaks are listed first, then\n"
    "indirect, then possible ones, each most bytes first.\n"
    "\n"
    "--suppressions=FILE\n"
    "  LeakSanitizer's suppressions: lines leak:PATTERN (# comments; other\n"
    "  kinds ignored).  A group (direct, indirect or possible) is suppressed\n"
    "  when PATTERN matches a frame's function (demangled or linkage name),\n"
    "  module or source file (full path or last component): a substring, *\n"
    "  any characters, ^ at the start, $ at the end.  Suppressed groups are\n"
    "  left out of the list, the SUMMARY and the status; the patterns used\n"
    "  are listed with their blocks and bytes.  May be repeated.\n"
    "\n"
    "--error-exitcode=N\n"
    "  Exit N (1..255) when there are direct leaks (not suppressed);\n"
    "  indirect and possible leaks alone do not count.  Else 0.\n"
    "\n"
    "--summary-fd=FD\n"
    "  (dmem command only) Also write the summary as one line of JSON,\n"
    "  {\"summary\": {...}} with the names of --format=json's, to the open\n"
    "  file descriptor FD: how a program that starts dmem on itself\n"
    "  (dmem_check_leaks) learns the counts.\n", 0 },
  { "report", dmem_report_html, 1,
    "Write one self-contained HTML page of the whole analysis.\n"
    "\n"
    "Usage: dmem report -o FILE [--limit N]\n"
    "\n"
    "The page holds a summary, the leaks (direct, indirect, possible) and the\n"
    "live blocks by stack as sortable tables, flame graphs of the live and of\n"
    "the leaked bytes by allocation stack (click to zoom, search to highlight\n"
    "frames and see their share), the size histogram and bytes per thread,\n"
    "the mallinfo diagnosis, the verify result and a bundle's manifest.  Its\n"
    "numbers are those of stacks, leaks, stats, mallinfo and verify with\n"
    "--format=json, which it carries.  It loads nothing from the network:\n"
    "open it in any browser, or send it on.\n"
    "\n"
    "-o FILE, --output=FILE\n"
    "  Write the page to FILE (without it: to standard output).\n"
    "\n"
    "--limit N\n"
    "  List at most N stacks of live blocks and N groups of leaks (default\n"
    "  1000; the tables show 100 rows at a time) and draw the flame graphs\n"
    "  from those, the rest as one box \"other stacks\"; the totals always\n"
    "  count every block.\n", 0 },
  { "stats", dmem_report_stats, 0,
    "Show heap totals, bytes per thread and a size histogram.\n"
    "\n"
    "Usage: dmem stats [--format=text|json]\n", 0 },
  { "mallinfo", dmem_report_mallinfo, 0,
    "Show what mallinfo() reports, which int fields overflow, and the logged "
    "calls.\n"
    "\n"
    "Usage: dmem mallinfo [--format=text|json]\n", 0 },
  { "verify", dmem_report_verify, 0,
    "Check every block's header magic, list links and guard bytes.\n"
    "\n"
    "Usage: dmem verify [--format=text|json]\n"
    "\n"
    "Also checks the poison of the freed blocks the runtime's quarantine\n"
    "holds (a write after free).  Lists what is broken and the heap errors\n"
    "the runtime caught as they happened (overrun, double-free,\n"
    "invalid-free, use-after-free, alloc-dealloc-mismatch: a block freed\n"
    "another way than it was allocated, such as new[] by delete or new by\n"
    "free); exits 1 when there is any.\n", 0 },
  { "symbolize", dmem_report_symbolize, 0,
    "Name the function, inlined calls, source line and module of addresses.\n"
    "\n"
    "Usage: dmem symbolize [--format=text|json] STACK...\n"
    "\n"
    "Each STACK is a return address (hex, 0x...) or a comma-separated list\n"
    "of them, innermost first, as a stack holds them: each is looked up at\n"
    "ADDR-1, its call instruction.  Each stack is printed as the reports\n"
    "print frames (one line per frame, inlined calls too), stacks separated\n"
    "by an empty line; in JSON, {\"stacks\": [[frames...], ...]}.  The heap\n"
    "is not read.  With --pid the process is not stopped (no ptrace): its\n"
    "module list (/proc/PID/maps) and module files are read.  The dmem\n"
    "runtime starts dmem symbolize --pid on its own process to name the\n"
    "frames of the heap errors it reports.\n", 1 },
};

#define COMMON_HELP \
  "--format=text|json|folded\n" \
  "  The report as text (default), JSON, or folded stacks (flame graph\n" \
  "  input; stacks and leaks).  --json is --format=json.\n"
#define LIMIT_HELP \
  "--limit N\n" \
  "  Show only the first N groups (or blocks with --all).\n"

/* See engine.h.  */
const char *
dmem_engine_help (const char *name)
{
  static __thread char text[4096];
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    if (strcmp (commands[i].name, name) == 0)
      {
	if (commands[i].report == dmem_report_html)   /* its own options */
	  snprintf (text, sizeof text, "%s", commands[i].help);
	else
	  snprintf (text, sizeof text, "%s\n%s%s", commands[i].help,
		    COMMON_HELP, commands[i].groups ? "\n" LIMIT_HELP : "");
	return text;
      }
  return NULL;
}

/* Keep a usage error (FMT with ARG) in R; returns DMEM_EXIT_USAGE.  */
static int
request_error (struct dmem_request *r, const char *fmt, const char *arg)
{
  snprintf (r->error, sizeof r->error, fmt, arg);
  return DMEM_EXIT_USAGE;
}

/* See dmem.h: the one parser of the report words.  */
int
dmem_parse_request (int argc, char **argv, struct dmem_request *r, int cli)
{
  memset (r, 0, sizeof *r);
  r->options.format = DMEM_TEXT;
  r->options.limit = -1;
  r->options.summary_fd = -1;
  if (argc < 1)
    return request_error (r, "%s", "no subcommand");
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    if (strcmp (commands[i].name, argv[0]) == 0)
      r->command = &commands[i];
  if (r->command == NULL)
    return request_error (r, "unknown subcommand '%s'", argv[0]);
  const char *cmd = r->command->name;
  static const struct option longopts[] = {
    { "executable", required_argument, NULL, 'e' },
    { "sysroot", required_argument, NULL, 'S' },
    { "format", required_argument, NULL, 'f' },
    { "json", no_argument, NULL, 'j' },
    { "pid", required_argument, NULL, 'p' },
    { "all", no_argument, NULL, 'a' },
    { "limit", required_argument, NULL, 'l' },
    { "retained", no_argument, NULL, 'r' },
    { "interval", required_argument, NULL, 'i' },
    { "error-exitcode", required_argument, NULL, 'x' },
    { "suppressions", required_argument, NULL, 's' },
    { "output", required_argument, NULL, 'o' },
    { "summary-fd", required_argument, NULL, 'F' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 } };
  int c;
  optind = 0;   /* a fresh scan (glibc), each time the engine is called */
  opterr = 0;
  /* Options may follow the positional words (explain's address, diff's
     older core, the target): GNU getopt moves those to the end.  */
  while ((c = getopt_long (argc, argv, ":e:p:o:h", longopts, NULL)) != -1)
    {
      if (!cli && c == 'F')
	return request_error (r, "%s: --summary-fd is for the dmem command",
			      cmd);
      if (!cli && (c == 'e' || c == 'S' || c == 'p'))
	return request_error (r, "%s: the debugger's program is the target: "
				 "-e, --sysroot and --pid are for the dmem "
				 "command", cmd);
      switch (c)
	{
	case 'e':
	  r->executable = optarg;
	  break;
	case 'S':
	  r->sysroot = optarg;
	  break;
	case 'f':
	  if (strcmp (optarg, "text") == 0)
	    r->options.format = DMEM_TEXT;
	  else if (strcmp (optarg, "json") == 0)
	    r->options.format = DMEM_JSON;
	  else if (strcmp (optarg, "folded") == 0 && r->command->groups)
	    r->options.format = DMEM_FOLDED;
	  else
	    return request_error (r, r->command->groups
				     ? "unknown format '%s' (text, json, folded)"
				     : "unknown format '%s' (text, json)",
				     optarg);
	  break;
	case 'j':
	  r->options.format = DMEM_JSON;
	  break;
	case 'o':
	  r->output = optarg;
	  break;
	case 'p':
	case 'l':
	  {
	    char *end;
	    errno = 0;
	    long v = strtol (optarg, &end, 10);
	    if (*end || end == optarg || v < 0 || v > INT_MAX || errno
		|| (c == 'p' && v == 0))
	      return request_error (r, c == 'p' ? "bad process id '%s'"
				       : "--limit needs a number, not '%s'",
				       optarg);
	    if (c == 'p')
	      r->pid = v;
	    else
	      r->options.limit = v;
	    break;
	  }
	case 'F':
	  {
	    char *end;
	    errno = 0;
	    long v = strtol (optarg, &end, 10);
	    if (*end || end == optarg || v < 0 || v > INT_MAX || errno)
	      return request_error (r, "--summary-fd needs a file descriptor, "
				    "not '%s'", optarg);
	    r->options.summary_fd = v;
	    break;
	  }
	case 'x':
	  {
	    char *end;
	    errno = 0;
	    long v = strtol (optarg, &end, 10);
	    if (*end || end == optarg || v < 1 || v > 255 || errno)
	      return request_error (r, "--error-exitcode needs a status from 1 "
				    "to 255, not '%s'", optarg);
	    r->options.error_exitcode = v;
	    break;
	  }
	case 's':
	  if (r->nsuppression_files == DMEM_MAX_SUPPRESSION_FILES)
	    return request_error (r, "%s: too many --suppressions files", cmd);
	  r->suppression_files[r->nsuppression_files++] = optarg;
	  break;
	case 'a':
	  r->options.all = 1;
	  break;
	case 'r':
	  r->options.retained = 1;
	  break;
	case 'i':
	  {
	    char *end;
	    r->interval = strtod (optarg, &end);
	    if (*end || end == optarg || !(r->interval >= 0)
		|| r->interval > 86400)
	      return request_error (r, "--interval needs seconds, not '%s'",
				    optarg);
	    break;
	  }
	case 'h':
	  r->help = 1;
	  return 0;
	case ':':
	  {
	    snprintf (r->error, sizeof r->error, "%s: %s needs an argument",
		      cmd, argv[optind - 1]);
	    return DMEM_EXIT_USAGE;
	  }
	default:
	  {
	    if (optopt != 0)
	      snprintf (r->error, sizeof r->error, "%s: unknown option '-%c'",
			cmd, optopt);
	    else
	      snprintf (r->error, sizeof r->error, "%s: unknown option '%s'",
			cmd, argv[optind - 1]);
	    return DMEM_EXIT_USAGE;
	  }
	}
    }
  if ((r->options.all || r->options.retained) && strcmp (cmd, "stacks") != 0)
    return request_error (r, "%s: --all and --retained are for stacks only",
			  cmd);
  if ((r->options.error_exitcode != 0 || r->nsuppression_files > 0)
      && strcmp (cmd, "leaks") != 0)
    return request_error (r, "%s: --error-exitcode and --suppressions are "
			  "for leaks only", cmd);
  int html = r->command->report == dmem_report_html;
  if (html && r->options.format != DMEM_TEXT)
    return request_error (r, "%s: the report is an HTML page; --format and "
			  "--json are for the other subcommands", cmd);
  if (!html && r->output != NULL)
    return request_error (r, "%s: -o and --output are for report", cmd);
  if (r->options.summary_fd >= 0 && strcmp (cmd, "leaks") != 0)
    return request_error (r, "%s: --summary-fd is for leaks only", cmd);
  if (r->options.all && r->options.retained)
    return request_error (r, "%s: --all or --retained, not both", cmd);
  int explain = strcmp (cmd, "explain") == 0, diff = strcmp (cmd, "diff") == 0;
  if (r->interval != 0 && !(diff && cli))
    return request_error (r, "%s: --interval is for dmem diff --pid", cmd);
  if (explain)
    {
      /* The address comes first.  */
      if (optind == argc)
	return request_error (r, "%s: which address?", cmd);
      char *end;
      errno = 0;
      r->options.address = strtoull (argv[optind], &end, 16);
      if (*end || end == argv[optind] || errno)
	return request_error (r, "explain: '%s' is not a hex address",
			      argv[optind]);
      optind++;
    }
  if (diff && !(cli && r->pid != 0))
    {
      /* The older snapshot comes first.  */
      if (optind == argc)
	return request_error (r, "%s: which older core?", cmd);
      r->old = argv[optind++];
    }
  if (diff && cli && r->pid != 0 && r->interval == 0)
    return request_error (r, "%s: --pid needs --interval SECONDS", cmd);
  if (strcmp (cmd, "symbolize") == 0)
    {
      /* The stacks come first; with the dmem command and no --pid, the
	 core is the last word.  */
      int n = argc - optind - (cli && r->pid == 0 ? 1 : 0);
      if (n < 1)
	return request_error (r, "%s: which addresses?", cmd);
      for (int i = optind; i < optind + n; i++)
	for (const char *a = argv[i];;)
	  {
	    char *end;
	    errno = 0;
	    strtoull (a, &end, 16);
	    if (end == a || errno || (*end != 0 && *end != ','))
	      return request_error (r, "symbolize: '%s' is not a hex address "
				    "or a comma-separated list of them",
				    argv[i]);
	    if (*end == 0)
	      break;
	    a = end + 1;
	  }
      r->options.stacks = (const char *const *) argv + optind;
      r->options.nstacks = n;
      optind += n;
    }
  r->modules_only = r->command->modules_only;
  if (r->options.limit >= 0 && !r->command->groups)
    return request_error (r, "%s: --limit is for stacks and leaks", cmd);
  int rest = argc - optind;
  if (!cli && rest > 0)
    return request_error (r, "unexpected argument '%s'", argv[optind]);
  if (cli)
    {
      if ((r->pid != 0) + rest != 1)
	return request_error (r, "%s: give one core file or --pid PID", cmd);
      r->core = rest ? argv[optind] : NULL;
    }
  return 0;
}

/* The streams of the next command: the caller's, or fresh buffers.  */
static void
begin_output (dmem_engine *e, FILE **out, FILE **err)
{
  if (e->out != NULL)
    {
      *out = e->out;
      *err = e->err;
      return;
    }
  free (e->out_buf);
  free (e->err_buf);
  e->out_buf = e->err_buf = NULL;
  *out = open_memstream (&e->out_buf, &e->out_len);
  *err = open_memstream (&e->err_buf, &e->err_len);
  if (*out == NULL || *err == NULL)
    {
      fputs ("dmem: out of memory\n", stderr);
      exit (DMEM_EXIT_BAD_INPUT);
    }
}

/* Close the buffers begin_output made.  */
static void
end_output (dmem_engine *e, FILE *out, FILE *err)
{
  fflush (out);
  fflush (err);
  if (e->out == NULL)
    {
      fclose (out);
      fclose (err);
    }
}

/* See engine.h.  */
dmem_engine *
dmem_engine_new (void)
{
  dmem_engine *e = calloc (1, sizeof *e);
  if (e != NULL)
    dmem_target_init (&e->t, stderr);
  return e;
}

/* See engine.h.  */
void
dmem_engine_set_streams (dmem_engine *e, FILE *out, FILE *err)
{
  e->out = out;
  e->err = err;
}

/* Keep T's failure as E's error and close T.  Returns -1.  */
static int
open_failed (dmem_engine *e)
{
  snprintf (e->error, sizeof e->error, "%s", dmem_failure (&e->t));
  dmem_target_close (&e->t);
  return -1;
}

/* Load the heap of the open target once.  A live process read while a
   list was being updated (the runtime's locks are not taken) is read
   again, up to LIVE_ATTEMPTS times.  Returns 0 or -1 with E's error.  */
#define LIVE_ATTEMPTS 3
static int
load (dmem_engine *e, int preload_symbols)
{
  if (e->loaded)
    return 0;
  if (!e->opened)
    {
      snprintf (e->error, sizeof e->error, "no target is open");
      return -1;
    }
  for (int attempt = 1;; attempt++)
    {
      e->t.preload_symbols = preload_symbols;
      if (dmem_heap_load (&e->t, &e->h) != 0)
	{
	  e->opened = 0;
	  return open_failed (e);
	}
      if (e->h.nproblems == 0 || e->pid == 0 || attempt == LIVE_ATTEMPTS)
	break;
      dmem_heap_free (&e->h);
      dmem_target_close (&e->t);
      usleep (10000);   /* let the process leave its critical section */
      if (dmem_target_open_pid (&e->t, e->pid, e->sysroot, e->debug_dirs) != 0)
	{
	  e->opened = 0;
	  return open_failed (e);
	}
    }
  e->loaded = 1;
  dmem_heap_warn (&e->t, &e->h);
  return 0;
}

/* dmem diff: E's loaded heap is the newer snapshot and R->old names the
   older core, or (a live process, R->interval) E's is the older one and
   the process is read again after the interval.  Returns the status.  */
static int
run_diff (dmem_engine *e, const struct dmem_request *r, FILE *out, FILE *err)
{
  dmem_engine *other = dmem_engine_new ();
  if (other == NULL)
    return DMEM_EXIT_BAD_INPUT;
  other->t.err = err;
  int status;
  if (r->old != NULL
      ? dmem_engine_open_core (other, r->old, r->executable, e->sysroot,
			       e->debug_dirs)
      : (usleep ((useconds_t) (r->interval * 1e6)),
	 dmem_engine_open_pid (other, e->pid, e->sysroot, e->debug_dirs)))
    {
      fprintf (err, "dmem: %s\n", dmem_engine_error (other));
      status = DMEM_EXIT_BAD_INPUT;
    }
  else if (load (other, 1) != 0)
    {
      fprintf (err, "dmem: %s\n", other->error);
      status = DMEM_EXIT_BAD_INPUT;
    }
  else
    {
      dmem_engine *older = r->old != NULL ? other : e;
      dmem_engine *newer = r->old != NULL ? e : other;
      struct dmem_options o = r->options;
      o.out = out;
      o.old_target = &older->t;
      o.old_heap = &older->h;
      status = dmem_report_diff (&newer->t, &newer->h, &o);
    }
  other->t.err = stderr;
  dmem_engine_free (other);
  return status;
}

/* Read R's suppression files into S.  Returns 0, or the status with one
   line on ERR.  */
static int
load_suppressions (const struct dmem_request *r, struct dmem_suppressions *s,
		   FILE *err)
{
  char why[1024];
  for (int i = 0; i < r->nsuppression_files; i++)
    {
      int status = dmem_suppressions_load (s, r->suppression_files[i], why,
					   sizeof why);
      if (status != 0)
	{
	  fprintf (err, "dmem: %s\n", why);
	  return status;
	}
    }
  return 0;
}

/* report -o FILE: write the page to FILE, opened before the heap is read
   (a file that cannot be written is said at once, and one that is not
   finished is removed).  Returns the status.  */
static int
run_report (dmem_engine *e, const struct dmem_request *r, FILE *out,
	    FILE *err)
{
  FILE *file = fopen (r->output, "w");
  if (file == NULL)
    {
      fprintf (err, "dmem: cannot write %s: %s\n", r->output,
	       strerror (errno));
      return DMEM_EXIT_BAD_INPUT;
    }
  if (load (e, 1) != 0)
    {
      fprintf (err, "dmem: %s\n", e->error);
      fclose (file);
      remove (r->output);
      return DMEM_EXIT_BAD_INPUT;
    }
  struct dmem_options o = r->options;
  o.out = file;
  o.target_name = e->name;
  int status = dmem_report_html (&e->t, &e->h, &o);
  long size = ftell (file);
  if (fclose (file) != 0 || status != DMEM_EXIT_OK || size < 0)
    {
      fprintf (err, "dmem: cannot write %s: %s\n", r->output,
	       strerror (errno));
      remove (r->output);
      return DMEM_EXIT_BAD_INPUT;
    }
  fprintf (out, "report written to %s (%ld bytes)\n", r->output, size);
  return DMEM_EXIT_OK;
}

/* See dmem.h: run a parsed request on E's open target.  */
int
dmem_run_request (dmem_engine *e, const struct dmem_request *r)
{
  FILE *out, *err;
  begin_output (e, &out, &err);
  e->t.err = err;
  /* verify (and the page, which holds its checks) walks the lists after
     the scan, through the mapping: the scan reads there too.  */
  e->t.pass_by_map = r->command->report == dmem_report_verify
		     || r->command->report == dmem_report_html;
  int status;
  struct dmem_suppressions suppressions = { NULL, 0 };
  if (r->help)
    {
      fputs (dmem_engine_help (r->command->name), out);
      status = DMEM_EXIT_OK;
    }
  /* Before the heap is read: a bad file is said at once.  */
  else if ((status = load_suppressions (r, &suppressions, err)) != 0)
    ;
  else if (r->command->report == dmem_report_html && r->output != NULL)
    status = run_report (e, r, out, err);
  else if (r->command->modules_only)
    {
      struct dmem_options o = r->options;
      o.out = out;
      status = r->command->report (&e->t, NULL, &o);
    }
  else if (load (e, r->command->report == dmem_report_stacks
		 || r->command->report == dmem_report_leaks
		 || r->command->report == dmem_report_html
		 || r->command->report == dmem_report_explain
		 || r->command->report == dmem_report_diff) != 0)
    {
      fprintf (err, "dmem: %s\n", e->error);
      status = DMEM_EXIT_BAD_INPUT;
    }
  else if (r->command->report == dmem_report_diff)
    status = run_diff (e, r, out, err);
  else
    {
      struct dmem_options o = r->options;
      o.out = out;
      o.target_name = e->name;
      o.suppressions = r->nsuppression_files > 0 ? &suppressions : NULL;
      status = r->command->report (&e->t, &e->h, &o);
    }
  dmem_suppressions_free (&suppressions);
  end_output (e, out, err);
  e->t.err = stderr;
  return status;
}

/* See engine.h.  */
int
dmem_engine_command (dmem_engine *e, int argc, const char *const *argv)
{
  struct dmem_request r;
  char **args = dmem_xcalloc (argc + 1, sizeof *args);
  for (int i = 0; i < argc; i++)
    args[i] = (char *) argv[i];
  int status = dmem_parse_request (argc, args, &r, 0);
  if (status == 0)
    status = dmem_run_request (e, &r);
  else
    {
      FILE *out, *err;
      begin_output (e, &out, &err);
      fprintf (err, "dmem: %s\n", r.error);
      end_output (e, out, err);
    }
  free (args);
  return status;
}

/* Remember the lookup settings for reading a live process again.  */
static void
keep_settings (dmem_engine *e, const char *sysroot, const char *debug_dirs)
{
  free (e->sysroot);
  free (e->debug_dirs);
  e->sysroot = sysroot ? strdup (sysroot) : NULL;
  e->debug_dirs = debug_dirs ? strdup (debug_dirs) : NULL;
}

/* See engine.h.  */
int
dmem_engine_open_core (dmem_engine *e, const char *path,
		       const char *executable, const char *sysroot,
		       const char *debug_dirs)
{
  keep_settings (e, sysroot, debug_dirs);
  if (dmem_target_open_core (&e->t, path, executable, sysroot,
			     debug_dirs) != 0)
    return open_failed (e);
  free (e->name);
  e->name = strdup (path);
  e->opened = 1;
  return 0;
}

/* See engine.h.  */
int
dmem_engine_open_pid (dmem_engine *e, int pid, const char *sysroot,
		      const char *debug_dirs)
{
  keep_settings (e, sysroot, debug_dirs);
  if (dmem_target_open_pid (&e->t, pid, sysroot, debug_dirs) != 0)
    return open_failed (e);
  free (e->name);
  if (asprintf (&e->name, "process %d", pid) < 0)
    e->name = NULL;
  e->pid = pid;
  e->opened = 1;
  return 0;
}

/* See engine.h.  */
int
dmem_engine_open_modules (dmem_engine *e, int pid, const char *sysroot,
			  const char *debug_dirs)
{
  keep_settings (e, sysroot, debug_dirs);
  if (dmem_target_open_modules (&e->t, pid, sysroot, debug_dirs) != 0)
    return open_failed (e);
  e->opened = 1;
  return 0;
}

/* See engine.h.  */
int
dmem_engine_open_source (dmem_engine *e, const struct dmem_source *source,
			 const char *sysroot, const char *debug_dirs)
{
  keep_settings (e, sysroot, debug_dirs);
  if (dmem_target_open_source (&e->t, source, sysroot, debug_dirs) != 0)
    return open_failed (e);
  free (e->name);
  if (asprintf (&e->name, "process %d", source->pid) < 0)
    e->name = NULL;
  e->opened = 1;
  return 0;
}

/* See engine.h.  */
const char *
dmem_engine_error (const dmem_engine *e)
{
  return e->error[0] ? e->error : "cannot analyse the target";
}

/* See engine.h.  */
const char *
dmem_engine_output (dmem_engine *e)
{
  return e->out_buf ? e->out_buf : "";
}

/* See engine.h.  */
const char *
dmem_engine_messages (dmem_engine *e)
{
  return e->err_buf ? e->err_buf : "";
}

/* See engine.h.  */
long
dmem_engine_blocks (dmem_engine *e, size_t first, struct dmem_block_info *out,
		    size_t max)
{
  if (load (e, 0) != 0)
    return -1;
  const struct dmem_heap *h = &e->h;
  size_t n = 0;
  uint64_t hs = h->desc[DMEM_DESC_HEADER_SIZE];
  struct dmem_pass pass;   /* the blocks are in address order */
  dmem_pass_begin (&e->t, &pass);
  for (size_t i = first; i < h->nblocks && n < max; i++, n++)
    {
      const struct dmem_block_ref *b = &h->blocks[i];
      out[n] = (struct dmem_block_info) { b->user - hs, b->user,
	dmem_block_size (h, b), 0, 0 };
      dmem_block_origin (h, &pass, b, &out[n].tid, &out[n].stack);
    }
  dmem_pass_end (&pass);
  return n;
}

/* See engine.h.  */
size_t
dmem_engine_stack (dmem_engine *e, uint32_t stack, uint64_t *out, size_t max)
{
  if (!e->loaded || stack >= e->h.nstacks)
    return 0;
  size_t n;
  const uint64_t *pcs = dmem_stack_pcs (&e->h, stack, &n);
  n = n < max ? n : max;
  memcpy (out, pcs, n * sizeof *out);
  return n;
}

/* See engine.h.  */
DMEM_API size_t
dmem_engine_symbolize (dmem_engine *e, uint64_t pc, struct dmem_frame *out,
		       size_t max)
{
  if (!e->opened)
    return 0;
  const struct dmem_frame *f;
  size_t n = dmem_symbolize (&e->t, pc, &f);
  n = n < max ? n : max;
  memcpy (out, f, n * sizeof *out);
  return n;
}

/* See engine.h.  */
long
dmem_engine_problem_count (dmem_engine *e)
{
  return load (e, 0) != 0 ? -1 : (long) e->h.nproblems;
}

/* See engine.h.  */
const char *
dmem_engine_problem (dmem_engine *e, size_t i, char *buf, size_t size)
{
  if (!e->loaded || i >= e->h.nproblems)
    return NULL;
  return dmem_problem_text (&e->h.problems[i], buf, size);
}

/* See dmem.h: libdw's debug info, the core's mapping and the heap's index
   go with the process much faster than freed piece by piece.  */
void
dmem_engine_exit (dmem_engine *e, int status)
{
  if (e->t.pid == 0 && e->t.source == NULL && e->t.nattached == 0)
    {
      dmem_symbols_wait (&e->t);   /* no thread at work in libdw */
      exit (status);
    }
  dmem_engine_free (e);
}

/* See engine.h.  */
void
dmem_engine_free (dmem_engine *e)
{
  if (e == NULL)
    return;
  if (e->loaded)
    dmem_heap_free (&e->h);
  dmem_target_close (&e->t);
  free (e->sysroot);
  free (e->debug_dirs);
  free (e->name);
  free (e->out_buf);
  free (e->err_buf);
  free (e);
}
