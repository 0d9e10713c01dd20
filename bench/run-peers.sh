#!/bin/sh
# dmem against its peers, side by side in one run (issue 13): wall time and
# peak RSS of each workload under glibc alone, dmem (this tree's runtime and,
# if given, another build such as the format-1 one), LeakSanitizer preloaded
# (frame-pointer unwinding and fast_unwind_on_malloc=0) and heaptrack; then
# resident bytes per block, and the size of a 1M-block core and `dmem leaks`
# on it against `cat` (bench/analyzer-bench.sh) for each dmem build.
# Usage: bench/run-peers.sh [LIBDMEM [OLD_LIBDMEM]]   (from a built tree)
# Knobs: RUNS (3): best of; ONLY: workload names to run (all of them:
# "alloc-bench-4t alloc-bench-1t malloc-loop larson-like perl python
# python-malloc g++"); CORES=0 skips the core sizes; HEAPTRACK_VMEM (KiB of
# address space heaptrack and its interpreter may use, 4194304: its
# interpreter can grow without bound, see bench/README.md).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
libdmem=${1:-$top/runtime/.libs/libdmem.so}
old=${2:-}
[ -f "$libdmem" ] || { echo "no libdmem.so at $libdmem (build first)" >&2; exit 2; }
[ -z "$old" ] || [ -f "$old" ] || { echo "no libdmem.so at $old" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
: "${RUNS:=3}" "${CORES:=1}" "${HEAPTRACK_VMEM:=4194304}"
: "${ONLY:=alloc-bench-4t alloc-bench-1t malloc-loop larson-like perl python python-malloc g++}"
libdmem=$(cd "$(dirname "$libdmem")" && pwd)/$(basename "$libdmem")
[ -z "$old" ] || old=$(cd "$(dirname "$old")" && pwd)/$(basename "$old")
lsan=/usr/lib/x86_64-linux-gnu/liblsan.so.0     # gcc's (liblsan0)
out=$(mktemp -d /tmp/dmem-peers.XXXXXX)
trap 'rm -rf "$out"' EXIT

cc -O2 -fomit-frame-pointer -pthread -o "$out/alloc-bench" "$here/alloc-bench.c"
cc -O2 -o "$out/malloc-loop" "$here/malloc-loop.c"
cc -O2 -pthread -o "$out/larson-like" "$here/larson-like.c"
cc -O2 -o "$out/block-overhead" "$here/block-overhead.c"
cc -O2 -shared -fPIC -o "$out/lsan-signal-shim.so" "$here/lsan-signal-shim.c"
shim=$out/lsan-signal-shim.so

tools="glibc dmem"
[ -n "$old" ] && tools="$tools dmem-old"
[ -f "$lsan" ] && tools="$tools lsan lsan-slow"
command -v heaptrack >/dev/null && tools="$tools heaptrack"

# run TOOL WORKLOAD: one run, its peak RSS (KiB) in $out/rss.  The tool's
# prefix goes between /usr/bin/time and the program, so every process the
# workload starts (g++'s cc1plus and as) runs under it, except under
# heaptrack, which follows no child: there g++ runs cc1plus and as each
# under its own heaptrack (-wrapper) and the driver is not traced.
run () {
  tool=$1 w=$2
  case $tool in
    glibc) set -- env ;;
    dmem) set -- env LD_PRELOAD="$libdmem" ;;
    dmem-old) set -- env LD_PRELOAD="$old" ;;
    lsan) set -- env LD_PRELOAD="$shim $lsan" LSAN_OPTIONS=detect_leaks=0 ;;
    lsan-slow) set -- env LD_PRELOAD="$shim $lsan" \
                      LSAN_OPTIONS=detect_leaks=0:fast_unwind_on_malloc=0 ;;
    heaptrack) ulimit -v "$HEAPTRACK_VMEM"; set -- heaptrack -o "$out/ht/trace" ;;
  esac
  set -- /usr/bin/time -f %M -o "$out/rss" "$@"
  case $w in
    alloc-bench-4t) "$@" "$out/alloc-bench" 4 1000000 1000 64 ;;
    alloc-bench-1t) "$@" "$out/alloc-bench" 1 1000000 1000 64 ;;
    malloc-loop) "$@" "$out/malloc-loop" 2000000 1000 ;;
    larson-like) "$@" "$out/larson-like" 4 1000000 1000 ;;
    perl) "$@" perl -e 'my %h; $h{"k$_"} = "v$_" for 1..500000;' ;;
    python) "$@" /usr/bin/python3 -m unittest test.test_json ;;
    python-malloc) PYTHONMALLOC=malloc "$@" /usr/bin/python3 -m unittest test.test_json ;;
    g++)
      if [ "$tool" = heaptrack ]; then
        cd "$out/ht" && /usr/bin/time -f %M -o "$out/rss" \
          g++ -wrapper heaptrack -O2 -c -o "$out/peers-compile.o" "$here/peers-compile.cc"
      else
        "$@" g++ -O2 -c -o "$out/peers-compile.o" "$here/peers-compile.cc"
      fi ;;
  esac
}

# The traced programs' own peak RSS (KiB) as heaptrack sampled it: the largest
# over the traces in $1 (/usr/bin/time on heaptrack reports its largest
# process, which is often its interpreter).
heaptrack_rss () {
  r=0
  for f in "$1"/*.zst "$1"/*.gz; do
    [ -f "$f" ] || continue
    m=$(heaptrack_print -f "$f" -s 0 -p 0 -a 0 -T 0 -l 0 -n 0 2>/dev/null |
        sed -n 's/^peak RSS (including heaptrack overhead): //p' |
        awk '/K$/ { print $1 * 1 } /M$/ { print $1 * 1024 } /G$/ { print $1 * 1048576 }')
    [ -n "$m" ] && r=$(awk -v a="$r" -v b="$m" 'BEGIN { print (b > a) ? b : a }')
  done
  echo "$r"
}

# measure TOOL WORKLOAD: best wall time of RUNS runs and that run's peak RSS,
# appended to $out/results as "workload tool seconds rss-KiB tool-rss-KiB",
# or "workload tool failed REASON" at the first failing run.
measure () {
  best= rss= i=0
  while [ $i -lt "$RUNS" ]; do
    rm -rf "$out/ht"; mkdir "$out/ht"
    s=$(date +%s.%N)
    if ! (run "$1" "$2") >"$out/stdout" 2>"$out/err" \
       || grep -q 'bad_alloc' "$out/err"; then
      why=$(grep -v '^Command exited\|^Command terminated' "$out/err" |
            grep -i 'error\|fault\|bad_alloc\|what()' | head -n 1 | tr '|' '/' | cut -c1-100)
      echo "$2 $1 failed ${why:-exit status $(tail -n 1 "$out/err")}" >>"$out/results"
      return 0
    fi
    e=$(date +%s.%N)
    t=$(awk -v s="$s" -v e="$e" 'BEGIN { print e - s }')
    if [ -z "$best" ] || awk "BEGIN { exit !($t < $best) }"; then
      best=$t rss=$(tail -n 1 "$out/rss")
      [ "$1" = heaptrack ] && { rm -rf "$out/ht-best"; mv "$out/ht" "$out/ht-best"; }
    fi
    i=$((i + 1))
  done
  if [ "$1" = heaptrack ]; then
    echo "$2 $1 $best $(heaptrack_rss "$out/ht-best") $rss" >>"$out/results"
  else
    echo "$2 $1 $best $rss $rss" >>"$out/results"
  fi
}

echo "run-peers.sh: $(uname -m), $(nproc) cores, best of $RUNS, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "dmem: $libdmem${old:+; dmem-old: $old}"
: >"$out/results"
for w in $ONLY; do
  for tool in $tools; do
    measure "$tool" "$w"
  done
done
echo "load average at end of the timings: $(cut -d' ' -f1-3 /proc/loadavg)"

# Two tables, workloads by tools: seconds (x glibc), peak RSS MiB (x glibc).
table () {
  awk -v what="$1" -v tools="$tools" -v order="$ONLY" '
    { key = $1 " " $2
      if ($3 == "failed") { failed[key] = 1; sub(/^[^ ]+ [^ ]+ failed /, ""); why[key] = $0 }
      else { t[key] = $3; m[key] = $4 / 1024; all[key] = $5 / 1024 } }
    END {
      nt = split(tools, tl, " "); nw = split(order, wl, " ")
      names["glibc"] = "glibc"; names["dmem"] = "dmem"; names["dmem-old"] = "dmem (other build)"
      names["lsan"] = "LSan, fast unwind"; names["lsan-slow"] = "LSan, fast_unwind_on_malloc=0"
      names["heaptrack"] = "heaptrack"
      line = "| workload |"; rule = "| --- |"
      for (j = 1; j <= nt; j++) { line = line " " names[tl[j]] " |"; rule = rule " --- |" }
      print line; print rule
      for (i = 1; i <= nw; i++) {
        w = wl[i]; line = "| " w " |"; g = w " glibc"
        for (j = 1; j <= nt; j++) {
          k = w " " tl[j]
          if (k in failed) cell = "failed"
          else if (!(k in t)) cell = ""
          else if (what == "time")
            cell = sprintf("%.2f s (%.1fx)", t[k], (g in t) ? t[k] / t[g] : 0)
          else
            cell = sprintf("%.0f (%.2fx)", m[k], (g in m) ? m[k] / m[g] : 0)
          line = line " " cell " |"
        }
        print line
      }
      if (what == "rss")
        for (i = 1; i <= nw; i++) {
          k = wl[i] " heaptrack"
          if (k in all)
            printf "\nheaptrack on %s: its largest process (its interpreter, or the program) %.0f MiB", wl[i], all[k]
        }
      for (k in failed) printf "\nfailed: %s: %s", k, why[k]
      print ""
    }' "$out/results"
}
echo
echo "Wall time of the whole command, best of $RUNS: seconds (x glibc)"
echo
table time
echo
echo "Peak RSS MiB (x glibc): /usr/bin/time %M, the largest process of the workload;"
echo "for heaptrack, the traced program's peak as heaptrack sampled it"
echo
table rss

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
per_block "dmem" env LD_PRELOAD="$libdmem"
[ -n "$old" ] && per_block "dmem (other build)" env LD_PRELOAD="$old"
[ -f "$lsan" ] && per_block "LeakSanitizer" env LD_PRELOAD="$shim $lsan" LSAN_OPTIONS=detect_leaks=0

[ "$CORES" = 0 ] && exit 0
echo
echo "A core of 1,000,000 live blocks (bench/analyzer-bench.sh's program), read by this tree's dmem"
echo
echo "| runtime | core MiB | cat core s | dmem leaks s | leaks / cat |"
echo "| --- | --- | --- | --- | --- |"
core_row () {
  LIBDMEM=$2 "$here/analyzer-bench.sh" >"$out/analyzer" 2>&1 ||
    { echo "| $1 | failed: $(tail -n 1 "$out/analyzer") | | | |"; return 0; }
  awk -v n="$1" '/^core size/ { c = $3 } /^cat core/ { t = $3 } /^dmem leaks  / { l = $3 }
    END { printf "| %s | %.1f | %.3f | %.3f | %.1fx |\n", n, c, t, l, l / t }' "$out/analyzer"
}
core_row "dmem" "$libdmem"
[ -n "$old" ] && core_row "dmem (other build)" "$old"
exit 0
