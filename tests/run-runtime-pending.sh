#!/bin/sh
# Frees of another thread's blocks wait on its shard (format 3's pending
# blocks) until a thread in that shard takes them off.  A core taken while
# 1000 of them wait: dmem stacks lists exactly the blocks the program
# holds, nothing leaks, the core verifies clean, and the engine's scan
# finds the same blocks and pending frees as walking the lists; damaged
# copies of the core (pending headers too) never crash it.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || skip "the dmem analyzer is not built"
build pending
gcore_core core.pending ./pending
"$SCAN_CHECK" core.pending >scan.out || fail "the scan of the core"
grep -q 'and [1-9][0-9]* pending frees' scan.out ||
  fail "no pending free in the core: $(cat scan.out)"
"$DMEM" stacks --format=json core.pending >stacks.json || fail "dmem stacks failed"
"$DMEM" leaks --format=json core.pending >leaks.json || fail "dmem leaks failed"
"$DMEM" verify --format=json core.pending >verify.json || fail "dmem verify failed"
$SYSTEM_PYTHON - <<'PY' || fail "the core disagrees with the program"
import json, re
said = open("gcore_core.out").read()
m = re.search(r"holding (\d+) blocks, (\d+) bytes", said)
want = (int(m.group(1)), int(m.group(2)))
groups = json.load(open("stacks.json"))["groups"]
got = [(g["count"], g["bytes"]) for g in groups
       if g["frames"] and g["frames"][0]["function"] == "produce"]
print("program holds %d blocks / %d bytes; core shows %s" % (want + (got,)))
assert got == [want], got
leaks = json.load(open("leaks.json"))
assert leaks["summary"]["leaked_blocks"] == 0, leaks["summary"]
verify = json.load(open("verify.json"))
assert verify["ok"], verify["errors"][:3]
PY
cat scan.out
# Damaged copies, their pending headers among the targets: never a crash
# or a hang.
"$DMEM" stacks --all --format=json core.pending >all.json || fail "stacks --all"
"$SYSTEM_PYTHON" "$top_srcdir/tests/analyzer-mutate.py" fuzz core.pending \
  all.json "$DMEM" "${DMEM_FUZZ_RUNS:-100}" "${DMEM_FUZZ_SEED:-1}" \
  || fail "dmem crashed, hung or misreported on a mutated core (see above)"
