"""Checks for the reader tests: assertions on dmem's JSON reports from gdb, drgn and the C analyzer.

usage: readers-check.py CHECK FILE... ; exit 0 when the check holds, else 1
with one line saying what differs.
  classic LEAKS            the classic driver: one direct leak of 2048 bytes
                           from main, the stdout buffer reachable
  threads LEAKS            readers-threads: the dropped list and cycle shapes,
                           blocks held by stack/TLS/globals not leaked
  stacks-classic STACKS    the classic driver's live blocks: 2048 and the
                           stdout buffer, frames with functions
  mallinfo A B...          readers-mallinfo: hblkhd overflows, the saturated
                           call from main, the same fields everywhere
  same-stats A B...        stats reports agree on every name in A
  same-verify A B...       verify reports agree (kinds and addresses)
  same A B...              reports agree: summaries and groups (kind, count,
                           bytes, threads, pcs)
"""
import json
import sys


def load(path):
    """The JSON report in ``path`` (its first JSON object)."""
    with open(path) as f:
        text = f.read()
    # Debugger chatter may come first: the report starts a line with "{".
    start = 0 if text.startswith("{") else text.find("\n{") + 1
    if start <= 0 and not text.startswith("{"):
        fail("%s holds no JSON" % path)
    obj, _ = json.JSONDecoder().raw_decode(text[start:])
    return obj


def fail(msg):
    """Stop with one line saying what is wrong."""
    print("readers-check: " + msg)
    sys.exit(1)


def functions(group):
    """Function names of a group's frames."""
    return [f["function"] for f in group["frames"]]


def check_classic(path):
    """Exactly one direct leak, 2048 bytes in 1 block, main on its stack."""
    r = load(path)
    leaks = [g for g in r["groups"] if g["kind"] == "leak"]
    if len(leaks) != 1:
        fail("%s: %d leak groups, expected 1: %s" % (path, len(leaks), leaks))
    g = leaks[0]
    if (g["count"], g["bytes"]) != (1, 2048):
        fail("%s: leak of %d bytes in %d blocks, expected 2048 in 1" % (path, g["bytes"], g["count"]))
    if "main" not in functions(g):
        fail("%s: main not on the leak's stack: %s" % (path, functions(g)))
    s = r["summary"]
    if s["leaked_blocks"] != 1 or s["leaked_bytes"] != 2048 or s["indirect_blocks"] != 0:
        fail("%s: summary %s" % (path, s))
    if s["reachable_blocks"] < 1:
        fail("%s: the stdout buffer is not reachable: %s" % (path, s))
    for f in g["frames"]:
        if not f["pc"].startswith("0x") or f["pc"] != f["pc"].lower():
            fail("%s: bad pc %r" % (path, f["pc"]))


def check_stacks_classic(path):
    """Live blocks: the 2048-byte leak and printf's buffer, symbolised."""
    r = load(path)
    sizes = sorted(g["bytes"] for g in r["groups"])
    if 2048 not in sizes or r["summary"]["live_blocks"] < 2:
        fail("%s: live groups %s" % (path, sizes))
    if any(g["kind"] != "live" for g in r["groups"]):
        fail("%s: a stacks group is not live" % path)
    for g in r["groups"]:
        if not any(functions(g)):
            fail("%s: a group has no function names" % path)


def check_threads(path):
    """The list and the cycle dropped by drop_shapes, and the held blocks."""
    r = load(path)
    by_kind = {}
    for g in r["groups"]:
        by_kind.setdefault(g["kind"], []).append(g)
    listed = [g for g in r["groups"] if "make_list" in functions(g)
              and "drop_shapes" in functions(g)]
    got = sorted((g["kind"], g["count"], g["bytes"]) for g in listed)
    if got != [("indirect", 9, 432), ("leak", 1, 48)]:
        fail("%s: dropped list gave %s, expected 1 leak + 9 indirect" % (path, got))
    cycle = [g for g in r["groups"] if functions(g)[:1] == ["drop_shapes"]]
    got = sorted((g["kind"], g["count"]) for g in cycle)
    if got != [("indirect", 1), ("indirect", 1), ("leak", 1)]:
        fail("%s: dropped cycle gave %s, expected 1 leak + 2 indirect" % (path, got))
    held = {101, 102, 201, 202, 301, 302}
    for g in r["groups"]:
        if g["count"] == 1 and g["bytes"] in held:
            fail("%s: a block held by a thread's stack or TLS is reported as %s" % (path, g["kind"]))
        if "main" in functions(g) and "make_list" in functions(g) and "drop_shapes" not in functions(g):
            fail("%s: the list held by a global is reported as %s" % (path, g["kind"]))
    if not any(g["bytes"] == 333 and g["kind"] == "leak" for g in r["groups"]):
        fail("%s: main's 333-byte leak is missing" % path)


def key(g):
    """What must agree between readers for one group."""
    return (g["kind"], g["count"], g["bytes"], tuple(g["threads"]),
            tuple(int(f["pc"], 16) for f in g["frames"]))


def check_same(paths):
    """Every report agrees with the first one."""
    first = load(paths[0])
    for p in paths[1:]:
        r = load(p)
        for name, value in first["summary"].items():
            if r["summary"].get(name) != value:
                fail("%s and %s: summary %s: %s vs %s" % (paths[0], p, name, value,
                                                          r["summary"].get(name)))
        a = [key(g) for g in first["groups"]]
        b = [key(g) for g in r["groups"]]
        if a != b:
            diff = [(x, y) for x, y in zip(a, b) if x != y][:1]
            fail("%s and %s: groups differ (%d vs %d groups), first difference %s"
                 % (paths[0], p, len(a), len(b), diff))


def check_mallinfo(paths):
    """readers-mallinfo: hblkhd past INT_MAX and the sums it drags along,
    the saturated call from main, and the same fields in every report."""
    first = load(paths[0])
    for p in paths:
        r = load(p)
        for name in ("hblkhd", "arena+hblkhd", "uordblks+hblkhd"):
            if name not in r["overflow"]:
                fail("%s: %s not in overflow %s" % (p, name, r["overflow"]))
        if r["fields"]["hblkhd"] < 3 << 30:
            fail("%s: hblkhd %d, expected at least 3 GiB" % (p, r["fields"]["hblkhd"]))
        calls = r["calls"]
        if len(calls) != 1 or calls[0]["saturated"] != ["hblkhd"]:
            fail("%s: calls %s, expected one with hblkhd saturated" % (p, calls))
        if "main" not in [f["function"] for f in calls[0]["frames"]]:
            fail("%s: main is not on the mallinfo() call's stack" % p)
        for key in ("fields", "overflow", "source", "total_calls"):
            if r[key] != first[key]:
                fail("%s and %s: %s differ: %s vs %s" % (paths[0], p, key, first[key], r[key]))


def check_same_verify(paths):
    """verify reports agree: ok, blocks checked, each error's kind and
    address, the heap errors the runtime caught (problems in any order: the C analyzer walks shards interleaved and
    lists problems as walks end)."""
    def key(r):
        """What must agree in a verify report."""
        return (r["ok"], r["blocks_checked"],
                sorted((e["kind"], e["address"]) for e in r["errors"]),
                r.get("caught_total"),
                [(e["kind"], e["block"], e["size"], e["address"],
                  [f["pc"] for f in e["found_frames"]]) for e in r.get("caught", [])])
    first = key(load(paths[0]))
    for p in paths[1:]:
        if key(load(p)) != first:
            fail("%s and %s: verify differs: %s vs %s" % (paths[0], p, first, key(load(p))))


def check_same_stats(paths):
    """stats reports agree on every name the first one has."""
    first = load(paths[0])
    for p in paths[1:]:
        r = load(p)
        for name, value in first.items():
            if r.get(name) != value:
                fail("%s and %s: stats %s: %s vs %s" % (paths[0], p, name, value, r.get(name)))


def main():
    """Run the check named by argv[1]."""
    if len(sys.argv) < 3:
        fail("usage: readers-check.py CHECK FILE...")
    check, paths = sys.argv[1], sys.argv[2:]
    if check == "classic":
        check_classic(paths[0])
    elif check == "stacks-classic":
        check_stacks_classic(paths[0])
    elif check == "threads":
        check_threads(paths[0])
    elif check == "mallinfo":
        check_mallinfo(paths)
    elif check == "same-stats":
        check_same_stats(paths)
    elif check == "same-verify":
        check_same_verify(paths)
    elif check == "same":
        check_same(paths)
    else:
        fail("unknown check " + check)


main()
