#!/bin/sh
# C++ allocation side by side in one run: glibc alone; dmem with operator
# new and delete left to libstdc++, calling dmem's malloc and free (the path
# before libdmem.so had operators of its own; had here by preloading
# libstdc++ first, so that its operators are found first); dmem with its
# own operators.  Prints markdown tables of best-of-RUNS times, ratios and
# (with valgrind) instructions per operation counted by callgrind, which do
# not vary from run to run as the VM's times do.
# Usage: bench/run-cxx-bench.sh [LIBDMEM [LIBDMEM_BEFORE]]
# LIBDMEM_BEFORE, if given, is a libdmem.so built before the operators
# (from main before the change, say): one more row.
# Knobs: N operations per mode (new 2000000, map 1000000, string 200000),
# RUNS (5), COUNT operations for callgrind (20000; 0: no counts).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
libdmem=${1:-$here/../runtime/.libs/libdmem.so}
before=${2:-}
[ -f "$libdmem" ] || { echo "no libdmem.so at $libdmem (build first)" >&2; exit 2; }
nm -D "$libdmem" | grep -q ' T _Znwm$' \
  || { echo "$libdmem has no operator new of its own" >&2; exit 2; }
: "${RUNS:=5}" "${COUNT:=20000}"
out=$(mktemp -d /tmp/dmem-cxx-bench.XXXXXX)
trap 'rm -rf "$out"' EXIT
g++ -O2 -fomit-frame-pointer -o "$out/cxx-bench" "$here/cxx-bench.cc"
libstdcxx=$(readlink -f "$(g++ -print-file-name=libstdc++.so.6)")
[ -f "$libstdcxx" ] || { echo "no libstdc++.so.6 found" >&2; exit 2; }

# per_op PRELOAD MODE: instructions per operation, the difference between
# runs of COUNT and 2*COUNT operations (start-up cancels out).
per_op () {
  if [ "$COUNT" -le 0 ] || ! command -v valgrind >/dev/null; then
    echo "-"; return
  fi
  for k in 1 2; do
    rm -f "$out"/cg.*
    valgrind --tool=callgrind --trace-children=yes \
      --callgrind-out-file="$out/cg.%p" env LD_PRELOAD="$1" \
      "$out/cxx-bench" "$2" $((COUNT * k)) >/dev/null 2>&1 || { echo "-"; return; }
    # The program's own file has the most instructions (env's the fewest).
    eval "i$k=$(sed -n 's/^summary: //p' "$out"/cg.* | sort -n | tail -n 1)"
  done
  awk -v a="$i1" -v b="$i2" -v n="$COUNT" 'BEGIN { printf "%.0f", (b - a) / n }'
}

# best NAME PRELOAD MODE N: the best time the program reports, its ratio to
# the glibc row, instructions per operation.
best () {
  name=$1 preload=$2 mode=$3 n=$4
  b=
  i=0
  while [ $i -lt "$RUNS" ]; do
    env LD_PRELOAD="$preload" "$out/cxx-bench" "$mode" "$n" >"$out/stdout" 2>"$out/err" \
      || { echo "| $name | failed: $(tail -n 1 "$out/err") | | |"; return; }
    t=$(sed -n 's/^\([0-9.]*\) s, .*/\1/p' "$out/stdout")
    if [ -z "$b" ] || awk "BEGIN { exit !($t < $b) }"; then b=$t; fi
    i=$((i + 1))
  done
  [ -n "$base" ] || base=$b
  ins=$(per_op "$preload" "$mode")
  awk -v n="$name" -v t="$b" -v base="$base" -v ins="$ins" \
    'BEGIN { printf "| %s | %.3f | %.2fx | %s |\n", n, t, t / base, ins }'
}

for mode in new map string; do
  case $mode in
    new) n=${N:-2000000} ;;
    map) n=${N:-1000000} ;;
    string) n=${N:-200000} ;;
  esac
  echo "cxx-bench $mode $n, best of $RUNS; instructions per operation by callgrind"
  echo
  echo "| allocator | seconds | vs glibc | instructions / op |"
  echo "| --- | --- | --- | --- |"
  base=
  best "glibc" "" $mode $n
  [ -n "$before" ] && best "dmem built before the operators" "$before" $mode $n
  best "dmem, new in libstdc++ over dmem's malloc" "$libstdcxx:$libdmem" $mode $n
  best "dmem, its own operators" "$libdmem" $mode $n
  echo
done
exit 0
