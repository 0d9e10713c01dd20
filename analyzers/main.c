/* dmem: the command line over the engine: usage, dispatch to run, failsweep and the reports.  */
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
#include "engine.h"

#ifndef DMEM_LIBDIR
#define DMEM_LIBDIR "/usr/local/lib"
#endif

static const char usage_text[] =
  "Usage: dmem run [-o OPTS] [--error-exitcode=N] [--suppressions=FILE]...\n"
  "                [--format=FMT] [--output=FILE] [--verify] [--] PROG [ARGS...]\n"
  "       dmem stacks|leaks|stats|mallinfo|verify [OPTIONS] (CORE | --pid PID)\n"
  "       dmem report -o FILE [--limit N] [OPTIONS] (CORE | --pid PID)\n"
  "       dmem explain ADDR [OPTIONS] (CORE | --pid PID)\n"
  "       dmem symbolize [OPTIONS] STACK... (CORE | --pid PID)\n"
  "       dmem diff [OPTIONS] (OLD NEW | --pid PID --interval SECONDS)\n"
  "       dmem bundle (CORE | --pid PID) [-e EXE] -o FILE\n"
  "       dmem failsweep [-o OPTS] [--timeout S] [--fail-file F] [--max-runs N]\n"
  "                      [--replay] [--] PROG [ARGS...]\n"
  "\n"
  "Heap analysis of programs run under the dmem runtime (libdmem.so).\n"
  "'dmem SUBCOMMAND --help' describes each subcommand.\n"
  "\n"
  "Subcommands:\n"
  "  run       run PROG under the runtime; print the leak report on stderr\n"
  "            when it exits; exit with PROG's status (128+N if killed by N),\n"
  "            or the --error-exitcode when it leaked\n"
  "  failsweep rerun PROG, each run failing the allocation stacks not failed\n"
  "            before, until it crashes; report the crash and the failed\n"
  "            allocation behind it (exit 1), or 0 if every stack was tried\n"
  "  stacks    live blocks grouped by allocation stack, most bytes first\n"
  "  leaks     direct, indirect and possible leaks by reachability, by stack\n"
  "  stats     totals, per thread, size histogram, peak\n"
  "  mallinfo  true 64-bit mallinfo values, int overflows, recorded calls\n"
  "  verify    header magic and list links of every shard\n"
  "  report    all of the above in one self-contained HTML page: tables,\n"
  "            flame graphs, charts (for a ticket: send the file on)\n"
  "  explain   what an address is; why its block is alive (the chain of\n"
  "            references from a root), or which leak it belongs to\n"
  "  diff      what grew between two snapshots, by allocation stack\n"
  "  symbolize function, inlined calls, file:line and module of return\n"
  "            addresses (STACK: ADDR[,ADDR...]); --pid does not stop it\n"
  "  bundle    one file of a core, its modules and debug info by build ID,\n"
  "            and a manifest: for analysis on another machine\n"
  "\n"
  "TARGET (CORE): a core file, compressed or not (zstd, xz, lz4, gzip), a\n"
  "bundle (dmem bundle), coredump:MATCH (the newest core systemd-coredump\n"
  "keeps of that PID or program name), or --pid PID.  With DEBUGINFOD_URLS\n"
  "set, missing files and debug info are fetched by build ID.\n"
  "\n"
  "Options:\n"
  "  -e, --executable=EXE   the core's main program, when not found by path\n"
  "      --sysroot=DIR      look up the core's files under DIR first\n"
  "      --format=FMT       text (default), json or folded (flame graph input)\n"
  "      --pid=PID          a live process, stopped only while it is read\n"
  "      --json             --format=json\n"
  "      --all              stacks: one entry per block\n"
  "      --retained         stacks: by bytes retained (dominator tree)\n"
  "      --interval=S       diff --pid: seconds between the two snapshots\n"
  "      --limit=N          stacks, leaks: the first N groups only; report:\n"
  "                         N per list (default 1000)\n"
  "  -o, --output=FILE      report: write the page to FILE\n"
  "      --suppressions=FILE\n"
  "                         leaks, run: LeakSanitizer's leak:PATTERN lines;\n"
  "                         the leaks they match are counted apart\n"
  "      --error-exitcode=N leaks, run: exit N (1..255) when there are direct\n"
  "                         leaks (not suppressed)\n"
  "      --summary-fd=FD    leaks: also the summary as a JSON line to FD\n"
  "  -o OPTS                run: extra DMEM_OPTS for the runtime\n"
  "      --output=FILE      run: the leak report to FILE, not stderr\n"
  "      --verify           run: also check the heap at exit (dmem verify)\n"
  "  -h, --help             this text\n"
  "\n"
  "Exit status:\n"
  "  0   the target was analysed (for run: PROG's exit status instead)\n"
  "  1   verify: the heap has errors (broken lists, overruns, errors the\n"
  "      runtime caught)\n"
  "  N   leaks --error-exitcode=N: direct leaks (not suppressed) were found;\n"
  "      run --error-exitcode=N: so were they, or with --verify heap errors\n"
  "  2   the input cannot be analysed: missing file, not ELF, not a core,\n"
  "      truncated core, no dmem runtime inside, corrupted descriptor,\n"
  "      a truncated or corrupt bundle or compressed core, an unread\n"
  "      compression (bzip2)\n"
  "  64  usage error (also a malformed --suppressions file)\n";

/* dmem SUBCOMMAND [OPTIONS] TARGET for the report subcommands (ARGV[0] is
   the subcommand): parse, open the target through the engine, report to
   OUT.  Returns the exit status.  */
static int
dmem_cli_analyse (int argc, char **argv, FILE *out)
{
  struct dmem_request r;
  if (dmem_parse_request (argc, argv, &r, 1) != 0)
    return dmem_usage_error ("%s", r.error);
  dmem_engine *e = dmem_engine_new ();
  if (e == NULL)
    {
      fputs ("dmem: out of memory\n", stderr);
      return DMEM_EXIT_BAD_INPUT;
    }
  dmem_engine_set_streams (e, out, stderr);
  int status;
  if (r.help)
    status = dmem_run_request (e, &r);
  else if ((r.pid != 0
	    ? (r.modules_only
	       ? dmem_engine_open_modules (e, r.pid, r.sysroot, NULL)
	       : dmem_engine_open_pid (e, r.pid, r.sysroot, NULL))
	    : dmem_engine_open_core (e, r.core, r.executable, r.sysroot, NULL))
	   != 0)
    {
      fprintf (stderr, "dmem: %s\n", dmem_engine_error (e));
      status = DMEM_EXIT_BAD_INPUT;
    }
  else
    {
      if (r.pid != 0 && r.executable != NULL)
	fprintf (stderr, "dmem: warning: -e is ignored for a live process: "
		 "/proc/%ld/exe is used\n", r.pid);
      status = dmem_run_request (e, &r);
    }
  fflush (out);
  dmem_engine_exit (e, status);
  return status;
}

/* Dispatch to run, failsweep or a report.  */
int
main (int argc, char **argv)
{
  if (argc < 2)
    return dmem_usage_error ("%s", "no subcommand");
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
    return dmem_run (argc - 1, argv + 1);
  if (strcmp (cmd, "bundle") == 0)
    return dmem_bundle_command (argc - 1, argv + 1);
  if (strcmp (cmd, "failsweep") == 0)
    {
      /* A missing runtime is reported once the arguments are known good
	 (--help needs none).  */
      char *runtime = dmem_find_runtime ();
      int status = dmem_failsweep (argc - 1, argv + 1, runtime);
      free (runtime);
      return status;
    }
  return dmem_cli_analyse (argc - 1, argv + 1, stdout);
}
