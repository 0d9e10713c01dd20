#!/bin/sh
# dmem stacks --retained on a kernel core and a gcore core: a 128-byte
# cache table in a global holding 200 entries of 4 KiB (chained from its
# slots, from another stack) comes first with exactly its bytes and the
# entries', while plain stacks puts the entries first; bigger blocks kept
# by a global array retain only themselves; a block shared by two holders
# is retained by neither; a chain a -> b -> c from a global: a retains
# a+b+c, b retains b+c.  Text, folded, and gdb's and drgn's output is
# dmem's, byte for byte.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"

build analyzer-retained
kernel_core kernel.core ./analyzer-retained
cp kernel_core.out kernel.sizes
gcore_core gcore.core ./analyzer-retained wait
cp gcore_core.out gcore.sizes

for core in kernel gcore; do
  "$DMEM" stacks --retained --format=json "$core.core" >$core.retained.json \
    2>$core.retained.err || fail "dmem stacks --retained $core: $(cat $core.retained.err)"
  "$DMEM" stacks --format=json "$core.core" >$core.stacks.json ||
    fail "dmem stacks $core"
  "$DMEM" leaks --format=json "$core.core" >$core.leaks.json ||
    fail "dmem leaks $core"
  "$DMEM" stacks --retained "$core.core" >$core.retained.txt ||
    fail "dmem stacks --retained (text) $core"
  "$DMEM" stacks --retained --format=folded "$core.core" >$core.retained.folded ||
    fail "dmem stacks --retained (folded) $core"
  "$SYSTEM_PYTHON" - $core.sizes $core.retained.json $core.stacks.json \
    $core.retained.txt $core.retained.folded $core.leaks.json <<'PY' || fail "retained sizes of $core.core"
import json, re, sys
# NAME COUNT SIZE, as the program allocated them.
sizes = {}
for line in open(sys.argv[1]):
    m = re.fullmatch(r"(\w+) (\d+) (\d+)\n?", line)
    if m:
        sizes[m[1]] = (int(m[2]), int(m[3]))
assert len(sizes) == 9, sizes
bytes_of = {k: c * s for k, (c, s) in sizes.items()}
retained, stacks = (json.load(open(p)) for p in sys.argv[2:4])
text = open(sys.argv[4]).read()
folded = open(sys.argv[5]).read().splitlines()

site = {"cache_table_new": "table", "cache_entry_new": "entry",
        "noise_new": "noise", "holder_a_new": "holder_a",
        "holder_b_new": "holder_b", "shared_new": "shared",
        "chain_a_new": "chain_a", "chain_b_new": "chain_b",
        "chain_c_new": "chain_c"}

def name(g):
    f = g["frames"][0]["function"] or ""
    return site.get(f.split(".")[0])

def by_name(groups):
    out = {}
    for g in groups:
        n = name(g)
        if n is not None:
            assert n not in out, ("two groups of", n, groups)
            out[n] = g
    return out

# Every block of the program is reachable (else it would retain only its
# own bytes).
leaks = json.load(open(sys.argv[6]))
assert not [n for n in map(name, leaks["groups"]) if n], leaks["groups"]

r = by_name(retained["groups"])
assert set(r) == set(sizes), (sorted(r), sorted(sizes))
for n, (count, size) in sizes.items():
    assert (r[n]["count"], r[n]["bytes"]) == (count, count * size), (n, r[n])

# The table retains itself and every entry; it comes first.
top = retained["groups"][0]
assert name(top) == "table", top
want = {"table": bytes_of["table"] + bytes_of["entry"],
        "entry": bytes_of["entry"],   # each byte once: chained entries
        "noise": bytes_of["noise"],
        # The shared block is dominated by the roots, not by a holder.
        "holder_a": bytes_of["holder_a"], "holder_b": bytes_of["holder_b"],
        "shared": bytes_of["shared"],
        "chain_a": bytes_of["chain_a"] + bytes_of["chain_b"] + bytes_of["chain_c"],
        "chain_b": bytes_of["chain_b"] + bytes_of["chain_c"],
        "chain_c": bytes_of["chain_c"]}
for n, v in want.items():
    assert r[n]["retained_bytes"] == v, (n, v, r[n])

g = retained["groups"]
assert all(x["retained_bytes"] >= x["bytes"] for x in g), g
assert g == sorted(g, key=lambda x: (-x["retained_bytes"], -x["bytes"],
                                     -x["count"])), [
    (x["retained_bytes"], x["bytes"]) for x in g]
assert all(list(x) == ["kind", "count", "bytes", "retained_bytes", "threads",
                       "frames"] and x["kind"] == "live" for x in g), g[0]
# The same groups as plain stacks, which puts the entries first.
plain = stacks["groups"]
assert name(plain[0]) == "entry", plain[0]
strip = lambda x: {k: v for k, v in x.items() if k != "retained_bytes"}
key = lambda x: json.dumps(x, sort_keys=True)
assert sorted(map(key, map(strip, g))) == sorted(map(key, plain))
assert retained["summary"] == stacks["summary"], (retained["summary"], stacks["summary"])
assert "retained_bytes" not in json.dumps(stacks)

# Text: the retained bytes, the blocks and their own bytes.
first = text.splitlines()[0]
m = re.fullmatch(r"(\d+) bytes retained by 1 block \((\d+) bytes of their own\)"
                 r" from threads (\d+):", first)
assert m and (int(m[1]), int(m[2])) == (want["table"], bytes_of["table"]), first
assert ("%d bytes retained by %d blocks (%d bytes of their own) from threads "
        % (want["entry"], sizes["entry"][0], bytes_of["entry"])) in text, text
assert text.splitlines()[-1] == "SUMMARY: %d bytes live in %d blocks" % (
    stacks["summary"]["live_bytes"], stacks["summary"]["live_blocks"]), text
# Folded: weighed by retained bytes, in the same order.
assert len(folded) == len(g), folded
assert folded[0].endswith(";cache_table_new %d" % want["table"]), folded[0]
assert [int(l.rsplit(" ", 1)[1]) for l in folded] == [x["retained_bytes"] for x in g]
PY
done

# --limit keeps the first groups.
"$DMEM" stacks --retained --format=json --limit 1 kernel.core >limit.json ||
  fail "--limit"
"$SYSTEM_PYTHON" - limit.json kernel.retained.json <<'PY' || fail "--retained --limit 1"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["groups"] == b["groups"][:1], a
PY

# gdb and drgn on the same core print what dmem prints, byte for byte.
if [ -n "${GDB:-}" ] && [ -x "$GDB" ]; then
  . "$top_srcdir/tests/readers-lib.sh"
  for core in kernel gcore; do
    gdb_dmem $core.gdb.all analyzer-retained $core.core -- 'echo @@\n' \
      'dmem stacks --retained --format=json'
    sed '1,/^@@$/d' $core.gdb.all >$core.gdb.json
    cmp -s $core.retained.json $core.gdb.json ||
      fail "gdb's stacks --retained on $core.core differs: $(diff $core.retained.json $core.gdb.json | head -n 5)"
  done
else
  note "gdb is not installed: its output is not compared"
fi
DRGN=${DRGN:-/usr/bin/drgn}
if [ -x "$DRGN" ]; then
  . "$top_srcdir/tests/readers-lib.sh"
  drgn_dmem drgn.json -c kernel.core -- stacks --retained --format=json
  expect_eq "drgn stacks --retained status" 0 "$drgn_status"
  cmp -s kernel.retained.json drgn.json ||
    fail "drgn's stacks --retained differs: $(diff kernel.retained.json drgn.json | head -n 5)"
fi

# Usage: --retained is for stacks, and not with --all.
status=0
"$DMEM" stacks --retained --all kernel.core >/dev/null 2>&1 || status=$?
expect_eq "stacks --retained --all" 64 "$status"
status=0
"$DMEM" leaks --retained kernel.core >/dev/null 2>&1 || status=$?
expect_eq "leaks --retained" 64 "$status"
exit 0
