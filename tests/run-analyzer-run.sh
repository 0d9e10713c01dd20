#!/bin/sh
# dmem run: PROG under the runtime, leak report on stderr at its exit, PROG's
# exit status; no ulimit or core_pattern involved.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"
DMEM_RUNTIME=$LIBDMEM
export DMEM_RUNTIME

build analyzer-classic
status=0
"$DMEM" run ./analyzer-classic >run.out 2>run.err || status=$?
expect_eq "exit status of dmem run" 0 "$status"
grep -q '^leaked 2048 bytes at 0x' run.out || fail "program output: $(cat run.out)"
grep -q '^2048 bytes in 1 block (leak) from threads [0-9]*:$' run.err \
  || fail "leak report: $(cat run.err)"
grep -q '^    #0 main+0x.*analyzer-classic.c:' run.err \
  || fail "leak stack: $(cat run.err)"
grep -q '^SUMMARY: 2048 bytes leaked in 1 blocks' run.err \
  || fail "leak summary: $(cat run.err)"

# PROG's exit status comes through, the report still printed.
status=0
"$DMEM" run -- ./analyzer-classic 5 >run5.out 2>run5.err || status=$?
expect_eq "exit status 5" 5 "$status"
grep -q '^SUMMARY: 2048 bytes leaked' run5.err || fail "no report: $(cat run5.err)"

# -o passes options to the runtime.
"$DMEM" run -o trace-stderr ./analyzer-classic >trace.out 2>trace.err \
  || fail "dmem run -o trace-stderr"
grep -q '^malloc(2048) = 0x' trace.err || fail "no trace: $(head -5 trace.err)"

# So does DMEM_OPTS from the environment, and the report is still made.
DMEM_OPTS=trace-stderr "$DMEM" run ./analyzer-classic >envtrace.out 2>envtrace.err \
  || fail "DMEM_OPTS=trace-stderr dmem run"
grep -q '^malloc(2048) = 0x' envtrace.err || fail "DMEM_OPTS dropped: $(head -5 envtrace.err)"
grep -q '^SUMMARY: 2048 bytes leaked' envtrace.err || fail "no report with DMEM_OPTS: $(tail -3 envtrace.err)"

# DMEM_OPTS comes after stop-at-exit and before -o, the later winning: the
# environment's fail-once applies, -o's fail-file replaces the environment's.
# Every allocation stack fails once, so the 2048-byte block is NULL and the
# program dies of SIGSEGV: named, with no report and 128+11.
status=0
(ulimit -c 0; DMEM_OPTS=fail-once,fail-file=env.stacks \
  "$DMEM" run -o fail-file=opt.stacks ./analyzer-classic >order.out 2>order.err) || status=$?
expect_eq "exit status of a crash" 139 "$status"
[ -s opt.stacks ] && [ ! -e env.stacks ] || fail "-o did not win over DMEM_OPTS: $(ls)"
grep -q '^dmem: ./analyzer-classic was killed by signal 11 (SIGSEGV: Segmentation fault); no leak report$' \
  order.err || fail "crash message: $(cat order.err)"

# A program that ends in _exit (dash does) never stops: one line, its status.
status=0
"$DMEM" run sh -c 'exit 3' >sh.out 2>sh.err || status=$?
expect_eq "exit status of sh" 3 "$status"
expect_eq "lines on stderr" 1 "$(wc -l <sh.err)"
grep -q 'without stopping' sh.err || fail "message: $(cat sh.err)"

# Killed by a signal: 128 + the signal, and one line naming it.
status=0
"$DMEM" run sh -c 'kill -9 $$' >kill.out 2>kill.err || status=$?
expect_eq "exit status of a killed program" 137 "$status"
expect_eq "lines on stderr for a killed program" 1 "$(wc -l <kill.err)"
grep -q '^dmem: sh was killed by signal 9 (SIGKILL: Killed); no leak report$' kill.err \
  || fail "message for a killed program: $(cat kill.err)"

# dmem run killed: its program never stays stopped at exit.  The program's
# pid comes from the shell that execs it; it reads stdin until we close it.
# state PID: PID's state letter (R, S, T for stopped, Z), empty once reaped.
state () { sed -n 's/^[0-9]* (.*) \([A-Z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null || true; }
stopped () { [ "$(state "$1")" = T ]; }
finished () { case $(state "$1") in ''|Z) true ;; *) false ;; esac; }
# within CMD...: CMD succeeds within 10 s, polled every 0.05 s.
within () {
  tries=0
  until "$@"; do
    tries=$((tries + 1))
    [ "$tries" -lt 200 ] || return 1
    sleep 0.05
  done
}
# start_orphan: dmem run in the background ($dmem_pid), its program ($child)
# waiting on the fifo held open as fd 8.
start_orphan () {
  rm -f fifo child.pid; mkfifo fifo
  "$DMEM" run sh -c 'echo $$ >child.pid; exec ./analyzer-classic wait' \
    <fifo >orphan.out 2>orphan.err &
  dmem_pid=$!
  exec 8>fifo
  within test -s child.pid || { kill -KILL "$dmem_pid"; fail "dmem run did not start its program"; }
  child=$(cat child.pid)
}
# Killed while the program is stopped at exit (dmem itself stopped first,
# so that the program stays stopped until then): the program goes on.
start_orphan
kill -STOP "$dmem_pid"
exec 8>&-
within stopped "$child" \
  || { left=$(state "$child"); kill -KILL "$dmem_pid" "$child"; fail "the program did not stop at exit: '$left'"; }
kill -KILL "$dmem_pid"
wait "$dmem_pid" || true
within finished "$child" \
  || { left=$(state "$child"); kill -KILL "$child"; fail "program left '$left' once dmem run was killed"; }
# Killed before the program's exit: it does not stop at all.
start_orphan
kill -KILL "$dmem_pid"
wait "$dmem_pid" || true
exec 8>&-
within finished "$child" \
  || { left=$(state "$child"); kill -KILL "$child"; fail "program left '$left' after dmem run was killed early"; }

# A program that cannot be started: one line, 127 as from a shell.
status=0
"$DMEM" run ./no-such-program >none.out 2>none.err || status=$?
expect_eq "exit status for a missing program" 127 "$status"
expect_eq "lines on stderr for a missing program" 1 "$(wc -l <none.err)"

# --help: the usage on stdout, status 0.
status=0
"$DMEM" run --help >help.out 2>help.err || status=$?
expect_eq "dmem run --help" 0 "$status"
grep -q '^Usage: dmem run \[-o OPTS\] \[--\] PROG \[ARGS...\]$' help.out || fail "run --help: $(cat help.out)"
[ ! -s help.err ] || fail "run --help wrote on stderr: $(cat help.err)"

# Usage errors: 64, the error and the hint.
status=0
"$DMEM" run >/dev/null 2>&1 || status=$?
expect_eq "dmem run without a program" 64 "$status"
status=0
"$DMEM" run --bogus ./analyzer-classic >bogus.out 2>bogus.err || status=$?
expect_eq "dmem run --bogus" 64 "$status"
expect_eq "run --bogus message" "dmem: run: unknown option '--bogus'
Try 'dmem --help'." "$(cat bogus.err)"
[ ! -s bogus.out ] || fail "run --bogus ran the program: $(cat bogus.out)"
