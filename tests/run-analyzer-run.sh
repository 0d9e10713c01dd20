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

# A program that ends in _exit (dash does) never stops: one line, its status.
status=0
"$DMEM" run sh -c 'exit 3' >sh.out 2>sh.err || status=$?
expect_eq "exit status of sh" 3 "$status"
expect_eq "lines on stderr" 1 "$(wc -l <sh.err)"
grep -q 'without stopping' sh.err || fail "message: $(cat sh.err)"

# Killed by a signal: 128 + the signal.
status=0
"$DMEM" run sh -c 'kill -9 $$' >kill.out 2>kill.err || status=$?
expect_eq "exit status of a killed program" 137 "$status"

# A program that cannot be started: one line, 127 as from a shell.
status=0
"$DMEM" run ./no-such-program >none.out 2>none.err || status=$?
expect_eq "exit status for a missing program" 127 "$status"
expect_eq "lines on stderr for a missing program" 1 "$(wc -l <none.err)"

# Usage errors.
status=0
"$DMEM" run >/dev/null 2>&1 || status=$?
expect_eq "dmem run without a program" 64 "$status"
