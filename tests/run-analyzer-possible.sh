#!/bin/sh
# dmem leaks' possible leaks on a kernel core: a block held only by a
# global pointing into its middle is possible, and so is the block only
# such a block points to; a block pointed to inside and at its start is
# reachable; a block nothing points to is a direct leak.  In JSON (kinds,
# summary, order), text and folded output.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"

build analyzer-possible
kernel_core kernel.core ./analyzer-possible

"$DMEM" leaks --format=json kernel.core >leaks.json 2>leaks.err \
  || fail "dmem leaks exited $?: $(cat leaks.err)"
"$DMEM" stacks --format=json kernel.core >stacks.json 2>stacks.err \
  || fail "dmem stacks exited $?: $(cat stacks.err)"
"$SYSTEM_PYTHON" - leaks.json stacks.json <<'PY' || fail "possible leaks in JSON"
import json, sys
leaks, stacks = (json.load(open(p)) for p in sys.argv[1:3])

def fn(g):
    return g["frames"][0]["function"] if g["frames"] else None

def total(groups, f, kind=None):
    sel = [g for g in groups if fn(g) == f and (kind is None or g["kind"] == kind)]
    return (sum(g["count"] for g in sel), sum(g["bytes"] for g in sel))

g = leaks["groups"]
live = stacks["groups"]
# Only a pointer 16 bytes in: possible, not a direct or indirect leak.
assert total(live, "keep_inside") == (1, 100), live
assert total(g, "keep_inside") == (1, 100), g
assert total(g, "keep_inside", "possible") == (1, 100), g
# The holder held 8 bytes in, and the child it points to the start of.
assert total(live, "keep_inside_chain") == (2, 264), live
assert total(g, "keep_inside_chain", "possible") == (2, 264), g
assert total(g, "keep_inside_chain") == (2, 264), g
# Pointed to inside and at its start: reachable, in no group.
assert total(live, "keep_both") == (1, 300), live
assert total(g, "keep_both") == (0, 0), g
# Nothing points to it: a direct leak still.
assert total(g, "lose") == (1, 400), g
assert total(g, "lose", "leak") == (1, 400), g
s = leaks["summary"]
assert (s["leaked_blocks"], s["leaked_bytes"]) == (1, 400), s
assert (s["indirect_blocks"], s["indirect_bytes"]) == (0, 0), s
assert (s["possible_blocks"], s["possible_bytes"]) == (3, 364), s
# Reachable counts no possible block; every block has one kind.
assert s["live_blocks"] == (s["leaked_blocks"] + s["indirect_blocks"]
                            + s["possible_blocks"] + s["reachable_blocks"]), s
assert s["live_bytes"] == (s["leaked_bytes"] + s["indirect_bytes"]
                           + s["possible_bytes"] + s["reachable_bytes"]), s
assert s["live_blocks"] == stacks["summary"]["live_blocks"], (s, stacks)
# Direct leaks first, then indirect, then possible ones.
order = {"leak": 0, "indirect": 1, "possible": 2}
assert [order[x["kind"]] for x in g] == sorted(order[x["kind"]] for x in g), g
assert g[-1]["kind"] == "possible", g
assert not leaks.get("warnings"), leaks.get("warnings")
PY

# Text: "(possible leak)" groups after the leak, and the summary.
"$DMEM" leaks kernel.core >leaks.txt 2>leaks.err \
  || fail "dmem leaks (text) exited $?: $(cat leaks.err)"
grep -q '^100 bytes in 1 block (possible leak) from threads [0-9]*:$' leaks.txt \
  || fail "no possible 100-byte group in the text: $(cat leaks.txt)"
grep -q '^400 bytes in 1 block (leak) from threads [0-9]*:$' leaks.txt \
  || fail "no 400-byte leak in the text: $(cat leaks.txt)"
first_possible=$(grep -n '(possible leak)' leaks.txt | head -n 1 | cut -d: -f1)
last_leak=$(grep -n '(leak)\|(indirect leak)' leaks.txt | tail -n 1 | cut -d: -f1)
[ "$last_leak" -lt "$first_possible" ] \
  || fail "possible groups before a leak group: $(cat leaks.txt)"
[ "$(grep -c '(possible leak)' leaks.txt)" = 3 ] \
  || fail "not 3 possible groups in the text: $(cat leaks.txt)"
grep -q '^SUMMARY: 400 bytes leaked in 1 blocks, 0 bytes indirectly leaked in 0 blocks, 364 bytes possibly leaked in 3 blocks, [0-9]* bytes reachable in [0-9]* blocks\.$' leaks.txt \
  || fail "text summary: $(tail -n 1 leaks.txt)"

# Folded: the root frame "possible".
"$DMEM" leaks --format=folded kernel.core >leaks.folded 2>leaks.err \
  || fail "dmem leaks --format=folded exited $?: $(cat leaks.err)"
grep -q '^possible;.*;keep_inside 100$' leaks.folded \
  || fail "no folded possible line: $(cat leaks.folded)"
grep -q '^leak;.*;lose 400$' leaks.folded \
  || fail "no folded leak line: $(cat leaks.folded)"
