# Shared by the run-*.sh tests: paths, building test programs, taking cores.
# Source it first thing:  . "$top_srcdir/tests/test-lib.sh"
set -eu

: "${top_srcdir:?run me through make check}" "${top_builddir:?}"
LIBDMEM="$top_builddir/runtime/.libs/libdmem.so"
DMEM="$top_builddir/analyzers/dmem"
# The engine's scan of a core set against a walk of its lists.
SCAN_CHECK="$top_builddir/tests/scan-check"
# What the runtime starts to name the frames of heap errors and for
# dmem_check_leaks: this build's dmem, not one installed before.
DMEM_ANALYZER=$DMEM
export DMEM_ANALYZER
GDB_SCRIPT="$top_srcdir/gdb/dmem.py"
DRGN_SCRIPT="$top_srcdir/drgn/dmem.py"
# The engine the gdb and drgn front ends load: this build's (the source
# tree's python/ may be elsewhere, as in make distcheck).
DMEM_ENGINE="$top_builddir/analyzers/.libs/libdmem-engine.so"
export DMEM_ENGINE
SRC="$top_srcdir/tests/programs"
: "${CC:=cc}"
SYSTEM_PYTHON=/usr/bin/python3

# Each test works in its own directory under tests/work.
test_name=$(basename "$0" .sh)
WORK="$top_builddir/tests/work/$test_name"
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"

fail () { echo "FAIL: $test_name: $*" >&2; exit 1; }
skip () { echo "SKIP: $test_name: $*" >&2; exit 77; }
note () { echo "$test_name: $*"; }

# expect_eq WHAT EXPECTED ACTUAL
expect_eq () {
  [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}

# build NAME [CFLAGS...]: compile tests/programs/NAME.c to ./NAME (-O2 -g,
# no frame pointers, as distro code is built).
build () {
  name=$1; shift
  $CC -O2 -g -fomit-frame-pointer -pthread \
      -o "$name" "$SRC/$name.c" "$@" || fail "cannot build $name"
}

# run_dmem CMD...: run CMD with the runtime preloaded.
run_dmem () { LD_PRELOAD="$LIBDMEM${LD_PRELOAD:+:$LD_PRELOAD}" "$@"; }

# kernel_core CORE CMD...: run CMD under the runtime until it aborts
# (DMEM_OPTS=abort-shutdown) and move the kernel's core to CORE.
# Takes a lock so only one test at a time relies on core_pattern.
kernel_core () {
  out=$1; shift
  pattern=$(cat /proc/sys/kernel/core_pattern)
  case "$pattern" in
    core|core.*|./core*) ;;
    *) skip "kernel core_pattern is '$pattern', not a file in the working directory" ;;
  esac
  rm -f core core.*
  (ulimit -c unlimited) 2>/dev/null || skip "core dumps cannot be enabled (ulimit -c)"
  (
    flock 9
    ulimit -c unlimited
    DMEM_OPTS="${DMEM_OPTS:+$DMEM_OPTS,}abort-shutdown" run_dmem "$@" >kernel_core.out 2>&1 || true
  ) 9>"$top_builddir/tests/work/.core-lock"
  c=$(ls core core.* 2>/dev/null | head -n 1 || true)
  [ -n "$c" ] || fail "the kernel dumped no core for: $*"
  mv "$c" "$out"
}

# gcore_core CORE CMD...: start CMD under the runtime; the program must print
# "ready" on stdout once its heap is set up and then wait on stdin.  Dumps it
# with gdb's gcore, then lets it finish.  What it printed before "ready" is
# left in gcore_core.out.
gcore_core () {
  out=$1; shift
  command -v gcore >/dev/null || skip "gcore (gdb) is not installed"
  rm -f fifo.in fifo.out; mkfifo fifo.in fifo.out
  # A subshell that execs, so $! is the program itself, not a shell.
  (
    LD_PRELOAD="$LIBDMEM${LD_PRELOAD:+:$LD_PRELOAD}"; export LD_PRELOAD
    exec "$@"
  ) <fifo.in >fifo.out 2>gcore_core.err &
  pid=$!
  exec 8>fifo.in 7<fifo.out
  : >gcore_core.out
  line=
  while read -r line <&7 && [ "$line" != ready ]; do
    printf '%s\n' "$line" >>gcore_core.out
  done
  [ "$line" = ready ] || fail "program exited before it was ready"
  gcore -o "$out" "$pid" >gcore.log 2>&1 || fail "gcore failed: $(tail -n 3 gcore.log)"
  mv "$out.$pid" "$out"
  exec 8>&-
  cat <&7 >/dev/null || true
  exec 7<&-
  wait "$pid" || true
}
