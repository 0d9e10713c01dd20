#!/bin/sh
# Heap integrity at run time: an overrun by one byte, a double free, a free
# of a middle pointer, a free of a freed block after reuse and a write after
# free (both with quarantine) are each reported at once, naming the block's
# allocation stack and where the error was found (and freed), then abort so
# the core is taken at the scene; keep-going reports and goes on.
. "$top_srcdir/tests/test-lib.sh"
build corrupt -rdynamic

# check MODE KIND FOUND_FN [FREED_FN] (DMEM_OPTS from the environment)
check () {
  mode=$1 kind=$2 found=$3 freed=${4:-}
  rc=0
  run_dmem ./corrupt "$mode" >out 2>err || rc=$?
  expect_eq "$mode: exit status (SIGABRT)" 134 "$rc"
  head -n 1 err | grep -q "^dmem: $kind: " || { cat err; fail "$mode: not reported as $kind"; }
  sed -n '/^  allocated at:/{n;p;q}' err | grep -q ' allocate_victim+' || { cat err; fail "$mode: allocation stack"; }
  sed -n '/^  found at:/{n;p;q}' err | grep -q " $found+" || { cat err; fail "$mode: found at $found"; }
  if [ -n "$freed" ]; then
    sed -n '/^  freed at:/{n;p;q}' err | grep -q " $freed+" || { cat err; fail "$mode: freed at $freed"; }
  fi
  grep -q survived out && fail "$mode: the program went on"
  return 0
}
check overrun overrun main
check double double-free free_twice
check middle invalid-free free_middle
DMEM_OPTS=quarantine=4096 check reuse double-free free_after_reuse free_after_reuse
DMEM_OPTS=quarantine=1000 check uaf use-after-free write_after_free write_after_free

# keep-going: reported, the bad call dropped, the program goes on.
for mode in overrun double middle; do
  DMEM_OPTS=keep-going run_dmem ./corrupt $mode >out 2>err || fail "keep-going: $mode stopped"
  grep -q '^dmem: ' err || fail "keep-going: $mode not reported"
  grep -q survived out || fail "keep-going: $mode did not go on"
done
# In a core taken at the scene, dmem verify names each error with the block's
# allocation stack and where it was found; the core does not verify as ok.
if [ -x "$DMEM" ]; then
  core_check () {
    mode=$1 kind=$2 found=$3
    kernel_core $mode.core ./corrupt $mode
    status=0
    "$DMEM" verify --format=json $mode.core >$mode.json || status=$?
    expect_eq "$mode: exit status of dmem verify (errors found)" 1 "$status"
    $SYSTEM_PYTHON - $mode.json $kind $found <<'PY' || fail "$mode: verify of the core"
import json, sys
v = json.load(open(sys.argv[1]))
kind, found = sys.argv[2], sys.argv[3]
assert v["ok"] is False, v
e = v["caught"][-1]
assert e["kind"] == kind, e
assert e["alloc_frames"][0]["function"] == "allocate_victim", e["alloc_frames"]
assert e["found_frames"][0]["function"] == found, e["found_frames"]
PY
  }
  core_check overrun overrun main
  core_check double double-free free_twice
  core_check middle invalid-free free_middle
  DMEM_OPTS=quarantine=4096 core_check reuse double-free free_after_reuse
  DMEM_OPTS=quarantine=1000 core_check uaf use-after-free write_after_free
  # An overrun of a block still live is found by verify's guard check.
  gcore_core live.core ./corrupt overrun-live
  status=0
  "$DMEM" verify --format=json live.core >live.json || status=$?
  expect_eq "overrun-live: exit status of dmem verify (errors found)" 1 "$status"
  $SYSTEM_PYTHON - live.json <<'PY' || fail "overrun-live: verify of the core"
import json, sys
v = json.load(open(sys.argv[1]))
assert v["ok"] is False and v["caught"] == [], v
e = [e for e in v["errors"] if e["kind"] == "overrun"]
assert len(e) == 1 and e[0]["frames"][0]["function"] == "allocate_victim", v["errors"]
PY
fi

# Without the runtime, glibc misses the overrun entirely: the test means something.
./corrupt overrun >/dev/null 2>&1 || fail "premise: glibc should not notice a 1-byte overrun"
exit 0
