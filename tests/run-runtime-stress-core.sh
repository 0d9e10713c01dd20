#!/bin/sh
# A threaded stress (cross-thread frees included, some into shards biased
# to a running thread): the blocks the program holds from keep_block are
# exactly what `dmem stacks` finds in its core, the core verifies clean,
# the engine's scan of it finds what its lists hold, and nothing leaks: the program holds every block (the DTVs of its joined
# threads, kept by glibc with their cached stacks, included).  Then the
# same where membarrier(2) fails, so that no shard may be biased.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || skip "the dmem analyzer is not built"
build stress
build no-membarrier

# check CMD...: run CMD (the stress, perhaps behind a launcher) to a core
# and compare the core with what the program said.
check () {
rm -f core.stress stacks.json verify.json leaks.json
gcore_core core.stress "$@"
"$DMEM" stacks --format=json core.stress >stacks.json || fail "dmem stacks failed ($*)"
"$DMEM" verify --format=json core.stress >verify.json || fail "dmem verify failed ($*)"
"$DMEM" leaks --format=json core.stress >leaks.json || fail "dmem leaks failed ($*)"
"$SCAN_CHECK" core.stress || fail "the scan of the stress core ($*)"
$SYSTEM_PYTHON - "$WORK" <<'PY' || fail "the core disagrees with the program ($*)"
import json, re, sys, os
work = sys.argv[1]
said = open(os.path.join(work, "gcore_core.out")).read()
m = re.search(r"holding (\d+) blocks, (\d+) bytes", said)
want_blocks, want_bytes = int(m.group(1)), int(m.group(2))
groups = json.load(open(os.path.join(work, "stacks.json")))["groups"]
kept = [g for g in groups if g["frames"] and g["frames"][0]["function"] == "keep_block"]
blocks = sum(g["count"] for g in kept)
nbytes = sum(g["bytes"] for g in kept)
scratch = [g for g in groups if g["frames"] and g["frames"][0]["function"] == "scratch_block"]
print("program holds %d blocks / %d bytes; core shows %d / %d" % (want_blocks, want_bytes, blocks, nbytes))
assert (blocks, nbytes) == (want_blocks, want_bytes)
assert not scratch, "freed scratch blocks still listed"
verify = json.load(open(os.path.join(work, "verify.json")))
assert verify["ok"], verify["errors"][:3]
leaks = json.load(open(os.path.join(work, "leaks.json")))
assert leaks["groups"] == [], [(g["bytes"], [f["function"] for f in g["frames"]]) for g in leaks["groups"]]
PY
}

check ./stress
check ./no-membarrier ./stress
