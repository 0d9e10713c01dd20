#!/bin/sh
# Speed of the engine on a core holding 1M live blocks: `dmem leaks` and
# `stacks` as a ratio of reading the core file once (`cat core >/dev/null`,
# warm cache), `stacks --retained` and `explain` against `leaks`, `diff` of
# two such cores (two runs) against two `leaks`, the engine's peak memory
# against the core's size, and `dmem report` (the HTML page) against `leaks`
# with the page's size, here and on a core of 6561 distinct stacks.
# Usage: bench/analyzer-bench.sh [BLOCKS]   (run from a built tree; KEEP=1
# keeps the work directory with its core, for profiling; OLD_DMEM=PATH
# measures that build of dmem too, on the same cores, after this one)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
DMEM=${DMEM:-$top/analyzers/dmem}
LIBDMEM=${LIBDMEM:-$top/runtime/.libs/libdmem.so}
BLOCKS=${1:-1000000}
[ -x "$DMEM" ] && [ -e "$LIBDMEM" ] || { echo "build dmem first" >&2; exit 1; }
work=$(mktemp -d /tmp/dmem-bench.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
cd "$work"

# BLOCKS blocks of 16..136 bytes from 8 call sites; 9 in 10 kept in a global
# array (reachable), every 10th pointer dropped (a leak).
cat >many.c <<'C'
#include <stdlib.h>
void **kept;
#define SITE(n) static __attribute__ ((noinline)) void *site##n (size_t s) \
  { return malloc (s); }
SITE (0) SITE (1) SITE (2) SITE (3) SITE (4) SITE (5) SITE (6) SITE (7)
static void *(*const sites[8]) (size_t) = { site0, site1, site2, site3,
					    site4, site5, site6, site7 };
int
main (int argc, char **argv)
{
  long n = atol (argv[1]);
  kept = calloc (n, sizeof *kept);
  for (long i = 0; i < n; i++)
    {
      void *p = sites[i % 8] (16 + (i * 7919) % 121);
      if (i % 10 != 9)
	kept[i] = p;
    }
  return 0;
}
C
cc -O2 -g -o many many.c
ulimit -c unlimited
DMEM_OPTS=abort-shutdown LD_PRELOAD=$LIBDMEM ./many "$BLOCKS" 2>/dev/null || true
core=$(ls core* | head -n 1)
mv "$core" one.core
core=one.core
# A second run: every block is born or died in the diff (another layout).
DMEM_OPTS=abort-shutdown LD_PRELOAD=$LIBDMEM ./many "$BLOCKS" 2>/dev/null || true
mv "$(ls core* | head -n 1)" two.core
size=$(stat -c %s "$core")

# best of 5 wall-clock seconds of a command
best () {
  b=
  for i in 1 2 3 4 5; do
    s=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    e=$(date +%s.%N)
    b=$(echo "$e $s ${b:-1e9}" | awk '{t = $1 - $2; print (t < $3) ? t : $3}')
  done
  echo "$b"
}
# Thousands of stacks: the page's lists are capped (1000 groups each).
cc -O2 -g -o manystacks "$top/tests/programs/analyzer-manystacks.c"
DMEM_OPTS=abort-shutdown LD_PRELOAD=$LIBDMEM ./manystacks 2>/dev/null || true
mv "$(ls core* | head -n 1)" many.core

# Every measure of one build of dmem ($1), printed with the cores' figures.
measure () {
  DMEM=$1
  cat "$core" >/dev/null                     # warm the page cache
  t_cat=$(best cat "$core")
  t_leaks=$(best "$DMEM" leaks "$core")
  t_stacks=$(best "$DMEM" stacks "$core")
  t_retained=$(best "$DMEM" stacks --retained "$core")
  addr=$("$DMEM" stacks --all --format=json --limit 1 "$core" |
         sed -n 's/.*"address": "\(0x[0-9a-f]*\)".*/\1/p' | head -n 1)
  t_explain=$(best "$DMEM" explain "$addr" "$core")
  t_diff=$(best "$DMEM" diff "$core" two.core)
  t_report=$(best "$DMEM" report -o report.html "$core")
  "$DMEM" report -o report.html "$core" >/dev/null
  report_size=$(stat -c %s report.html)
  t_many_leaks=$(best "$DMEM" leaks many.core)
  t_many_report=$(best "$DMEM" report -o many.html many.core)
  "$DMEM" report -o many.html many.core >/dev/null
  many_size=$(stat -c %s many.html)
  many_stacks=$("$DMEM" stacks --format=json --limit 0 many.core |
                sed -n 's/.*"groups_total": \([0-9]*\).*/\1/p')
  rss=$(/usr/bin/time -f %M "$DMEM" leaks "$core" 2>&1 >/dev/null | tail -n 1)
  # Anonymous memory (the analyzer's own data, without the page-cache pages
  # of the mapped core): the highest RssAnon seen, read as often as Python
  # can (a sample every 5 ms missed the peak, which lasts a few ms), the
  # highest of 3 runs.
  anon=$(/usr/bin/python3 - "$DMEM" leaks "$core" <<'PY'
import re, subprocess, sys
peak = 0
for run in range(3):
    p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
    status = "/proc/%d/status" % p.pid
    while p.poll() is None:
        try:
            m = re.search(r"RssAnon:\s+(\d+)", open(status).read())
        except OSError:
            break
        if m:
            peak = max(peak, int(m.group(1)))
print(peak)
PY
)
  "$DMEM" leaks "$core" | tail -n 1
  echo "dmem: $DMEM"

  awk -v blocks="$BLOCKS" -v size="$size" -v cat="$t_cat" -v leaks="$t_leaks" \
      -v stacks="$t_stacks" -v rss="$rss" -v anon="$anon" -v retained="$t_retained" \
      -v explain="$t_explain" -v diff="$t_diff" -v report="$t_report" \
      -v report_size="$report_size" -v many_leaks="$t_many_leaks" \
      -v many_report="$t_many_report" -v many_size="$many_size" \
      -v many_stacks="$many_stacks" 'BEGIN {
    printf "blocks            %d\n", blocks
    printf "core size         %.1f MiB\n", size / 1048576
    printf "cat core          %.3f s\n", cat
    printf "dmem leaks        %.3f s  (%.2fx cat; target <= 3x)\n", leaks, leaks / cat
    printf "dmem stacks       %.3f s  (%.2fx cat)\n", stacks, stacks / cat
    printf "dmem stacks --retained %.3f s (%.2fx leaks; target <= 5x)\n", retained, retained / leaks
    printf "dmem explain      %.3f s  (%.2fx leaks; target well under 1 s)\n", explain, explain / leaks
    printf "dmem diff         %.3f s  (%.2fx two leaks; target <= 2x)\n", diff, diff / (2 * leaks)
    printf "dmem leaks maxrss %.1f MiB (%.1f%% of the core; counts the mapped core pages)\n",
           rss / 1024, 100 * rss * 1024 / size
    printf "dmem leaks anon   %.1f MiB (%.1f%% of the core; its own data, sampled; target <= 10%%)\n",
           anon / 1024, 100 * anon * 1024 / size
    printf "dmem report       %.3f s  (%.2fx leaks), page %.1f KiB\n", report, report / leaks,
           report_size / 1024
    printf "%d stacks: dmem leaks %.3f s, dmem report %.3f s (%.2fx), page %.1f MiB\n",
           many_stacks, many_leaks, many_report, many_report / many_leaks, many_size / 1048576
  }'
}
measure "$DMEM"
if [ -n "${OLD_DMEM:-}" ]; then
  echo
  measure "$OLD_DMEM"
fi
