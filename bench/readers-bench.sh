#!/bin/sh
# Speed of the gdb and drgn front ends against the dmem command, all three
# over the one engine: `stacks` and `leaks` on one kernel core holding
# BLOCKS live blocks (default 1000000), each front end's best-of-N
# wall-clock time, its ratio to `dmem`'s, and the same less the debugger's
# own start-up (loading the core and its symbols).
# Usage: bench/readers-bench.sh [BLOCKS [RUNS]]   (run from a built tree)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
DMEM=${DMEM:-$top/analyzers/dmem}
LIBDMEM=${LIBDMEM:-$top/runtime/.libs/libdmem.so}
GDB=${GDB:-gdb}
DRGN=${DRGN:-/usr/bin/drgn}
BLOCKS=${1:-1000000}
RUNS=${2:-3}
[ -x "$DMEM" ] && [ -e "$LIBDMEM" ] || { echo "readers-bench: build dmem first" >&2; exit 1; }
work=$(mktemp -d /tmp/dmem-readers-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

# The reader tests' heap program: lists of 10 nodes from 7 stack depths and
# 30 sizes, every tenth list dropped (1 direct + 9 indirect leaks).
cc -O2 -g -fomit-frame-pointer -o many "$top/tests/programs/readers-many.c"
ulimit -c unlimited
DMEM_OPTS=abort-shutdown LD_PRELOAD=$LIBDMEM ./many "$BLOCKS" >/dev/null 2>&1 || true
core=$(ls core* | head -n 1)

# best CMD...: the best of RUNS wall-clock seconds of CMD.
best () {
  b=
  for i in $(seq "$RUNS"); do
    s=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || { echo "readers-bench: $* failed" >&2; exit 1; }
    e=$(date +%s.%N)
    b=$(echo "$e $s ${b:-1e9}" | awk '{t = $1 - $2; print (t < $3) ? t : $3}')
  done
  echo "$b"
}
cat "$core" >/dev/null
gdb_cmd () { "$GDB" -batch -nx -q -ex "source $top/gdb/dmem.py" -ex "dmem $1 --json" ./many "$core"; }
drgn_cmd () { "$DRGN" -q -c "$core" "$top/drgn/dmem.py" "$1" --json; }
gdb_startup () { "$GDB" -batch -nx -q ./many "$core"; }
drgn_startup () { echo pass >noop.py; "$DRGN" -q -c "$core" noop.py; }

live=$("$DMEM" stacks --format=json "$core" | tr ',' '\n' | sed -n 's/.*"live_blocks": *//p' | head -n 1)
gs=$(best gdb_startup)
ds=$(best drgn_startup)
echo "| blocks | command | dmem | gdb | drgn | gdb / dmem | drgn / dmem | (gdb - start-up) / dmem | (drgn - start-up) / dmem |"
echo "|---|---|---|---|---|---|---|---|---|"
for cmd in stacks leaks; do
  c=$(best "$DMEM" "$cmd" --format=json "$core")
  g=$(best gdb_cmd "$cmd")
  d=$(best drgn_cmd "$cmd")
  echo "$live $cmd $c $g $d $gs $ds" |
    awk '{printf "| %d | %s | %.3f s | %.3f s | %.3f s | %.2fx | %.2fx | %.2fx | %.2fx |\n",
          $1, $2, $3, $4, $5, $4 / $3, $5 / $3, ($4 - $6) / $3, ($5 - $7) / $3}'
done
printf 'debugger start-up alone (loading the core and its symbols): gdb %.3f s, drgn %.3f s\n' "$gs" "$ds"
