#!/bin/sh
# The engine keeps a block's thread as an index into the first 255 threads
# and its size in 23 bits: on a kernel core of 300 threads that each leaked
# a block, and of a 16 MiB leak, every thread's tid and every size must
# still be what the program had (read back from the headers).
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"

build analyzer-manythreads
kernel_core kernel.core ./analyzer-manythreads
sed -n 's/^tid //p' kernel_core.out >tids
expect_eq "threads the program reported" 300 "$(wc -l <tids | tr -d ' ')"

"$DMEM" leaks --format=json kernel.core >leaks.json 2>leaks.err \
  || fail "dmem leaks exited $?: $(cat leaks.err)"
"$SYSTEM_PYTHON" - leaks.json tids <<'PY' || fail "threads or sizes read back wrong"
import json, sys
groups = json.load(open(sys.argv[1]))["groups"]
tids = sorted(int(t) for t in open(sys.argv[2]))

def group(fn):
    gs = [g for g in groups if g["frames"] and g["frames"][0]["function"] == fn]
    assert len(gs) == 1, (fn, len(gs))
    return gs[0]

small = group("leak_small")
assert small["kind"] == "leak", small["kind"]
assert small["count"] == 300, small["count"]
assert small["bytes"] == sum(100 + i for i in range(300)), small["bytes"]
assert small["threads"] == tids, (small["threads"][:5], tids[:5])
big = group("leak_big")
assert (big["count"], big["bytes"]) == (1, 16 << 20), (big["count"], big["bytes"])
PY
