#!/bin/sh
# The scan keeps each block's thread and stack for the reports, for the
# first 65535 distinct (thread, stack) pairs; the blocks of the others are
# read again.  A core with 72171 pairs (11 threads allocating the same 6561
# stacks, every other block dropped): `dmem stacks` and `dmem leaks` give
# each stack all 11 threads and blocks, and the scan's origins are those of
# the headers (scan-check).
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"
build analyzer-manystacks
kernel_core many.core ./analyzer-manystacks 11
"$SCAN_CHECK" many.core || fail "the scan of the core"
"$DMEM" stacks --format=json many.core >stacks.json || fail "dmem stacks"
"$DMEM" leaks --format=json many.core >leaks.json || fail "dmem leaks"
$SYSTEM_PYTHON - <<'PY' || fail "the groups are not 11 threads' blocks each"
import json
def check(name, want_groups):
    groups = [g for g in json.load(open(name))["groups"]
              if g["frames"] and g["frames"][-1]["function"] == "allocate"]
    assert len(groups) == want_groups, (name, len(groups))
    threads = set(groups[0]["threads"])
    assert len(threads) == 11 and 0 not in threads, threads
    for g in groups:
        assert g["count"] == 11 and set(g["threads"]) == threads, g["threads"]
    print("%s: %d groups of 11 blocks, one from each thread" % (name, len(groups)))
check("stacks.json", 6561)
check("leaks.json", 3280)   # the odd paths: dropped
PY
