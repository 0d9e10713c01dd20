# Shared by the reader tests, sourced after test-lib.sh: gdb and drgn runs
# on cores and live processes, and the JSON checks of readers-check.py.

[ -f "$LIBDMEM" ] || skip "libdmem.so is not built"
CHECK="$SYSTEM_PYTHON $top_srcdir/tests/readers-check.py"

need_gdb () { [ -n "${GDB:-}" ] && [ -x "$GDB" ] || skip "gdb is not installed"; }
need_drgn () {
  [ -n "${DRGN:-}" ] && [ -x "$DRGN" ] || DRGN=/usr/bin/drgn
  [ -x "$DRGN" ] || skip "drgn is not installed"
}

# gdb_dmem OUT TARGET-ARGS -- CMD...: run gdb in batch mode with the dmem
# commands sourced, then each CMD; stdout to OUT, stderr to OUT.err.
# TARGET-ARGS are gdb's own (PROG CORE, or -p PID).  gdb's exit status is
# kept in gdb_status (1 when the last command failed).
gdb_dmem () {
  _out=$1; shift
  _n=0
  for a in "$@"; do _n=$((_n + 1)); [ "$a" = -- ] && break; done
  _targets=$(printf '%s\n' "$@" | head -n $((_n - 1)))
  shift "$_n"
  for c in "$@"; do set -- "$@" -ex "$c"; shift; done
  # shellcheck disable=SC2086
  gdb_status=0
  # What gdb says while loading the target goes before a marker, cut off.
  "$GDB" -batch -nx -q -ex "source $GDB_SCRIPT" \
    -ex 'python gdb.write("@dmem@\n", gdb.STDERR)' "$@" $_targets >"$_out" 2>"$_out.all" ||
    gdb_status=$?
  sed '1,/^@dmem@$/d' "$_out.all" >"$_out.err"
}

# drgn_dmem OUT TARGET-ARGS -- ARGS...: run the drgn script; stdout to OUT,
# stderr to OUT.err; the exit status is kept in drgn_status.
drgn_dmem () {
  _out=$1; shift
  _n=0
  for a in "$@"; do _n=$((_n + 1)); [ "$a" = -- ] && break; done
  _targets=$(printf '%s\n' "$@" | head -n $((_n - 1)))
  shift "$_n"
  drgn_status=0
  # shellcheck disable=SC2086
  "$DRGN" -q $_targets "$DRGN_SCRIPT" "$@" >"$_out" 2>"$_out.err" || drgn_status=$?
}

# start_live NAME ARGS...: start ./NAME under the runtime; it prints
# "ready" and waits on stdin.  Sets live_pid.  stop_live lets it finish.
start_live () {
  name=$1; shift
  rm -f live.in live.out; mkfifo live.in live.out
  # A subshell that execs, so $! is the program's own pid.
  (
    LD_PRELOAD="$LIBDMEM${LD_PRELOAD:+:$LD_PRELOAD}"; export LD_PRELOAD
    exec "./$name" "$@"
  ) <live.in >live.out 2>live.err &
  live_pid=$!
  exec 6>live.in 5<live.out
  while read -r line <&5; do [ "$line" = ready ] && return 0; done
  fail "$name exited before it was ready"
}
stop_live () {
  exec 6>&-
  cat <&5 >/dev/null || true
  exec 5<&-
  wait "$live_pid" || true
}

# check WHAT FILE...: a readers-check.py check, failing the test with its
# one-line reason.
check () {
  why=$($CHECK "$@" 2>&1) || fail "$why"
}
