#!/bin/sh
# Every allocation entry point, each with its own requested size, is seen by
# dmem stacks with that size, its caller and its alignment.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"

build analyzer-entry
kernel_core kernel.core ./analyzer-entry
"$DMEM" stacks --format=json kernel.core >stacks.json || fail "dmem stacks"
"$DMEM" stacks --all --format=json kernel.core >all.json || fail "dmem stacks --all"
"$SYSTEM_PYTHON" - stacks.json all.json <<'PY' || fail "entry points"
import json, sys
stacks, blocks = (json.load(open(p))["groups"] for p in sys.argv[1:3])
# function -> (requested size, alignment); pvalloc rounds up to a page.
want = {"with_malloc": (101, 16), "with_calloc": (91, 16),
        "with_realloc": (333, 16), "with_reallocarray": (105, 16),
        "with_posix_memalign": (211, 64), "with_aligned_alloc": (256, 128),
        "with_memalign": (77, 32), "with_valloc": (123, 4096),
        "with_pvalloc": (4096, 4096)}

def caller(g):
    f = g["frames"][0]["function"] or ""
    return f.split(".")[0]   # with_malloc.constprop.0 -> with_malloc

got = {caller(g): g["bytes"] for g in stacks if caller(g) in want}
assert got == {k: v[0] for k, v in want.items()}, got
for g in blocks:
    if caller(g) in want:
        size, align = want[caller(g)]
        assert g["count"] == 1 and g["bytes"] == size, g
        assert int(g["address"], 16) % align == 0, (caller(g), g["address"])
assert len([g for g in blocks if caller(g) in want]) == len(want), blocks
PY
