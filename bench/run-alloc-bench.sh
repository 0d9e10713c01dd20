#!/bin/sh
# Allocation-heavy work side by side in one run: glibc alone, dmem (over glibc
# and over jemalloc), heaptrack, LeakSanitizer preloaded, valgrind.  Prints a
# markdown table of best-of-N wall times, slowdown ratios against glibc and
# peak RSS.  Usage: bench/run-alloc-bench.sh [LIBDMEM]
# Knobs: THREADS (4), ITERATIONS per thread (1000000), LIVE blocks per thread
# (1000), WORK bytes touched per block (64), RUNS (5).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
libdmem=${1:-$here/../runtime/.libs/libdmem.so}
[ -f "$libdmem" ] || { echo "no libdmem.so at $libdmem (build first)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
: "${THREADS:=4}" "${ITERATIONS:=1000000}" "${LIVE:=1000}" "${WORK:=64}" "${RUNS:=5}"
out=$(mktemp -d /tmp/dmem-bench.XXXXXX)
trap 'rm -rf "$out"' EXIT
cc -O2 -fomit-frame-pointer -pthread -o "$out/alloc-bench" "$here/alloc-bench.c"
cc -O2 -o "$out/block-overhead" "$here/block-overhead.c"
args="$THREADS $ITERATIONS $LIVE $WORK"
jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
lsan=/usr/lib/x86_64-linux-gnu/liblsan.so.0

# best NAME RUNS CMD...: the best time the program reports for its work
# (seconds), that run's peak RSS (MiB), and the ratio to the first row.
best () {
  name=$1 runs=$2; shift 2
  b= rss=
  i=0
  while [ $i -lt "$runs" ]; do
    /usr/bin/time -f '%M' -o "$out/rss" "$@" >"$out/stdout" 2>"$out/err" \
      || { echo "| $name | failed: $(tail -n 1 "$out/err") | | |"; return; }
    t=$(sed -n 's/^\([0-9.]*\) s, .*/\1/p' "$out/stdout")
    m=$(tail -n 1 "$out/rss")
    if [ -z "$b" ] || awk "BEGIN { exit !($t < $b) }"; then b=$t rss=$m; fi
    i=$((i + 1))
  done
  [ -n "$base" ] || base=$b
  awk -v n="$name" -v t="$b" -v base="$base" -v m="$rss" \
    'BEGIN { printf "| %s | %.3f | %.1fx | %d |\n", n, t, t / base, m / 1024 }'
}

echo "alloc-bench $args (threads, allocations per thread, live blocks per thread, bytes touched), best of $RUNS"
echo
echo "| allocator / tool | seconds | vs glibc | peak RSS MiB |"
echo "| --- | --- | --- | --- |"
base=
best "glibc" "$RUNS" "$out/alloc-bench" $args
best "dmem (over glibc)" "$RUNS" env LD_PRELOAD="$libdmem" "$out/alloc-bench" $args
[ -f "$jemalloc" ] && best "jemalloc" "$RUNS" env LD_PRELOAD="$jemalloc" "$out/alloc-bench" $args
[ -f "$jemalloc" ] && best "dmem over jemalloc" "$RUNS" env LD_PRELOAD="$libdmem:$jemalloc" "$out/alloc-bench" $args
[ -f "$lsan" ] && best "LeakSanitizer (preloaded)" "$RUNS" env LD_PRELOAD="$lsan" "$out/alloc-bench" $args
command -v heaptrack >/dev/null && best "heaptrack" 1 heaptrack -o "$out/heaptrack" "$out/alloc-bench" $args
command -v valgrind >/dev/null && best "valgrind memcheck" 1 valgrind -q --num-callers=12 "$out/alloc-bench" $args

echo
echo "Memory per block: resident bytes per block for 1,000,000 blocks of 16, 64 and 256 bytes"
echo
echo "| allocator / tool | 16 B | 64 B | 256 B |"
echo "| --- | --- | --- | --- |"
per_block () {
  name=$1; shift
  row="| $name |"
  for size in 16 64 256; do
    row="$row $("$@" "$out/block-overhead" 1000000 $size | cut -d' ' -f1) |"
  done
  echo "$row"
}
per_block "glibc" env
per_block "dmem (over glibc)" env LD_PRELOAD="$libdmem"
[ -f "$jemalloc" ] && per_block "jemalloc" env LD_PRELOAD="$jemalloc"
[ -f "$jemalloc" ] && per_block "dmem over jemalloc" env LD_PRELOAD="$libdmem:$jemalloc"
[ -f "$lsan" ] && per_block "LeakSanitizer (preloaded)" env LD_PRELOAD="$lsan"
exit 0
