#!/bin/sh
# Input dmem cannot analyse gets one clear line and exit 2; a damaged list is
# reported by verify and skipped by the rest; usage errors exit 64.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"

# expect_bad STATUS WHAT DMEM-ARGS...: exit STATUS with a message on stderr:
# one line for input that cannot be analysed (2); usage errors (64) add a
# hint.
expect_bad () {
  want=$1 what=$2; shift 2
  status=0
  "$DMEM" "$@" >bad.out 2>bad.err || status=$?
  expect_eq "exit status for $what" "$want" "$status"
  [ "$want" = 64 ] || expect_eq "lines on stderr for $what" 1 "$(wc -l <bad.err)"
  [ -s bad.err ] || fail "no message for $what"
  note "$what: $(cat bad.err)"
}

expect_bad 2 "a missing file" leaks no-such-core
echo "just text" >text
expect_bad 2 "a text file" leaks text
expect_bad 2 "an executable" stacks "$DMEM"
expect_bad 2 "a directory" stats .
expect_bad 2 "no such process" leaks --pid 999999999

expect_bad 64 "no subcommand"
expect_bad 64 "an unknown subcommand" frobnicate core
expect_bad 64 "an unknown format" leaks --format=xml core
expect_bad 64 "no target" leaks
expect_bad 64 "a core and --pid" leaks --pid 1 core
expect_bad 64 "an unknown option" leaks --bogus core
expect_bad 64 "--all outside stacks" leaks --all core
"$DMEM" --help >help.txt || fail "dmem --help failed"
grep -q '^Exit status:' help.txt || fail "--help does not document exit status"

[ -e "$LIBDMEM" ] || skip "the runtime is not built"
build analyzer-classic
kernel_core kernel.core ./analyzer-classic
size=$(wc -c <kernel.core)
head -c $((size / 2)) kernel.core >truncated.core
expect_bad 2 "a truncated core" leaks truncated.core
head -c 100 kernel.core >tiny.core
expect_bad 2 "a core cut in its ELF header" leaks tiny.core

# A core without the runtime: gcore of a process never preloaded.
command -v gcore >/dev/null || skip "gcore (gdb) is not installed"
sleep 60 &
sleeper=$!
gcore -o plain "$sleeper" >gcore.log 2>&1 || fail "gcore of sleep failed"
kill "$sleeper"
expect_bad 2 "a core without the runtime" leaks "plain.$sleeper"
grep -q 'no dmem runtime' bad.err || fail "message: $(cat bad.err)"

# A live process without the runtime: exit 2, and it runs on.
sleep 60 &
sleeper=$!
expect_bad 2 "a process without the runtime" leaks --pid "$sleeper"
grep -q 'no dmem runtime' bad.err || fail "message: $(cat bad.err)"
state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$sleeper/status")
expect_eq "state of the process after dmem" S "$state"
kill "$sleeper"

# Damaged blocks: verify names the problem and exits 1; other reports go on
# (exit 0).
"$DMEM" stacks --all --format=json kernel.core >all.json || fail "stacks --all"
for kind in magic next-self next-wild guard; do
  "$SYSTEM_PYTHON" "$top_srcdir/tests/analyzer-mutate.py" corrupt \
    kernel.core all.json "$kind.core" "$kind" 2048 || fail "cannot damage $kind"
  status=0
  timeout 60 "$DMEM" verify --format=json "$kind.core" >verify.json 2>verify.err \
    || status=$?
  expect_eq "exit status of verify on $kind.core" 1 "$status"
  [ $kind = guard ] || grep -q 'shard [0-9]*: ' verify.err \
    || fail "no warning for $kind: $(cat verify.err)"
  "$SYSTEM_PYTHON" - verify.json "$kind" <<'PY' || fail "verify of $kind.core"
import json, sys
v, kind = json.load(open(sys.argv[1])), sys.argv[2]
want = {"magic": ["bad-magic"], "next-self": ["bad-prev", "cycle"],
        "next-wild": ["unreadable"], "guard": ["overrun"]}[kind]
assert v["ok"] is False and len(v["errors"]) == 1, v
e = v["errors"][0]
assert e["kind"] in want and e["address"].startswith("0x"), v
if kind in ("magic", "guard"):   # the damaged block is named with its stack
    assert e["frames"] and e["frames"][0]["function"] == "main", e
PY
  timeout 60 "$DMEM" leaks "$kind.core" >/dev/null 2>&1 \
    || fail "leaks of $kind.core exited $?"
done
