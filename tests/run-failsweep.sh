#!/bin/sh
# dmem failsweep and the fault-injection options: the sweep blames the one
# site that does not check for NULL, and no other; a program that handles
# every failure sweeps clean; threads and fork; replay; ignore lists.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || skip "the dmem analyzer is not built"
DMEM_RUNTIME=$LIBDMEM; export DMEM_RUNTIME
build failsites -rdynamic

# sweep OUT ARGS...: run a sweep, keep its report in OUT and its status in $rc.
sweep () { out=$1; shift; rc=0; "$DMEM" failsweep "$@" >"$out" 2>"$out.err" </dev/null || rc=$?; }

# frame0 OUT HEADER: the innermost function of the stack printed after HEADER.
frame0 () { sed -n "/^$2/{n;p;q}" "$1" | sed 's/^ *#0 \([^+]*\)+.*/\1/'; }

for mode in "" threads fork; do
  sweep crash.out -- ./failsites $mode
  expect_eq "sweep status ($mode)" 1 "$rc"
  grep -q 'died of Segmentation fault' crash.out || { cat crash.out; fail "no SIGSEGV reported ($mode)"; }
  expect_eq "crash site ($mode)" unchecked_site "$(frame0 crash.out 'crash stack:')"
  expect_eq "blamed allocation ($mode)" unchecked_site "$(frame0 crash.out 'the allocation failed just before')"
done
grep -q '^[0-9]* runs*, [0-9]* stacks* failed\.$' crash.out || { cat crash.out; fail "no summary"; }

# --replay fails the same stacks again: the same crash in one run.
sweep replay.out --replay -- ./failsites fork
expect_eq "replay status" 1 "$rc"
grep -q 'in run 1$' replay.out || { cat replay.out; fail "replay did not crash in its one run"; }
expect_eq "replayed site" unchecked_site "$(frame0 replay.out 'the allocation failed just before')"

# The crashing run (of the last sweep: fork) again, cored by the kernel:
# dmem stats shows the failed allocation behind the crash from the core.
cp dmem-failsweep.stacks.prev replay.stacks
DMEM_OPTS=fail-once,fail-file=replay.stacks kernel_core crash.core ./failsites fork
"$DMEM" stats --format=json crash.core >stats.json || fail "dmem stats on the crash core"
$SYSTEM_PYTHON - stats.json <<'PY' || fail "the core does not show the failed allocation"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["injected_failures_total"] >= 1, s
last = s["injected_failures"][-1]
assert last["size"] == 400 and last["frames"][0]["function"] == "unchecked_site", last
PY

# A program that checks every allocation ends the sweep clean.
sweep clean.out -- ./failsites all-checked
expect_eq "clean sweep status" 0 "$rc"
grep -q '^dmem failsweep: no crash: .* every stack tried$' clean.out || { cat clean.out; fail "clean sweep report"; }

# fail-ignore keeps the unchecked site from ever failing.
sweep ignore.out -o 'fail-ignore=unchecked_site' -- ./failsites
expect_eq "sweep with fail-ignore" 0 "$rc"

# fail-skip lets every allocation through; fail-one-in=1 fails every one.
DMEM_OPTS=fail-once,fail-skip=100000000,fail-file=skip.stacks run_dmem ./failsites >skip.out 2>&1 \
  || fail "fail-skip should let start-up run"
DMEM_OPTS=fail-one-in=1,fail-file=all.stacks run_dmem ./failsites >all.out 2>&1 && fail "fail-one-in=1 failed nothing"
grep -q 'no memory for the configuration' all.out || fail "fail-one-in=1: the first allocation should fail"
grep -q '^fail pid=' all.stacks.log || fail "failures are not logged"

# --timeout: a run that hangs is killed and reported like a crash.
sweep hang.out --timeout 2 -- ./failsites hang
expect_eq "sweep of a hang" 1 "$rc"
grep -q 'ran past the 2 s timeout in run 1$' hang.out || { cat hang.out; fail "hang not reported"; }
expect_eq "blamed allocation (hang)" parse_config "$(frame0 hang.out 'the allocation failed just before')"

# --help: the usage on stdout, status 0.
rc=0
"$DMEM" failsweep --help >help.out 2>help.err || rc=$?
expect_eq "dmem failsweep --help" 0 "$rc"
grep -q '^Usage: dmem failsweep \[-o OPTS\] \[--timeout S\]' help.out || fail "failsweep --help: $(cat help.out)"
[ ! -s help.err ] || fail "failsweep --help wrote on stderr: $(cat help.err)"

# Usage errors: 64, one line naming the problem, the hint.
"$DMEM" failsweep --timeout x -- ./failsites >/dev/null 2>&1 && fail "bad --timeout accepted"
"$DMEM" failsweep --timeout x -- ./failsites >/dev/null 2>&1 || expect_eq "usage status" 64 "$?"
rc=0
"$DMEM" failsweep --bogus -- ./failsites >bogus.out 2>bogus.err || rc=$?
expect_eq "dmem failsweep --bogus" 64 "$rc"
expect_eq "failsweep --bogus message" "dmem: failsweep: unknown option '--bogus'
Try 'dmem --help'." "$(cat bogus.err)"
exit 0
