#!/bin/sh
# dmem on the classic driver, kernel core and gcore: exactly one direct leak,
# the 2048-byte block from main; printf's stdout buffer is reachable.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"

build analyzer-classic
kernel_core kernel.core ./analyzer-classic
gcore_core gcore.core ./analyzer-classic wait

for core in kernel.core gcore.core; do
  "$DMEM" leaks --format=json "$core" >leaks.json 2>leaks.err \
    || fail "dmem leaks $core exited $?: $(cat leaks.err)"
  "$SYSTEM_PYTHON" - leaks.json <<'PY' || fail "leaks of $core"
import json, sys
r = json.load(open(sys.argv[1]))
s, g = r["summary"], r["groups"]
assert (s["leaked_blocks"], s["leaked_bytes"]) == (1, 2048), s
assert (s["indirect_blocks"], s["indirect_bytes"]) == (0, 0), s
assert s["reachable_blocks"] >= 1, s
assert s["live_blocks"] == s["leaked_blocks"] + s["reachable_blocks"], s
assert len(g) == 1, g
assert (g[0]["kind"], g[0]["count"], g[0]["bytes"]) == ("leak", 1, 2048), g
f = g[0]["frames"][0]
assert f["function"] == "main", f
assert f["file"].endswith("analyzer-classic.c") and f["line"] > 0, f
assert f["module"].endswith("/analyzer-classic"), f
assert f["pc"].startswith("0x") and isinstance(f["offset"], int), f
PY

  # The stdout buffer is a live block from printf, and not a leak.
  "$DMEM" stacks --format=json "$core" >stacks.json || fail "dmem stacks $core"
  "$SYSTEM_PYTHON" - stacks.json <<'PY' || fail "stacks of $core"
import json, sys
r = json.load(open(sys.argv[1]))
fns = [[f["function"] for f in g["frames"]] for g in r["groups"]]
# stdout's buffer (and, while waiting for input, stdin's): live blocks.
stdio = [g for g, f in zip(r["groups"], fns) if "_IO_file_doallocate" in f]
assert any("printf" in f for f in fns if "_IO_file_doallocate" in f), fns
assert all(g["kind"] == "live" for g in stdio), stdio
assert any("main" in f and g["bytes"] == 2048
           for g, f in zip(r["groups"], fns)), fns
assert r["summary"]["live_blocks"] == 1 + len(stdio), r["summary"]
assert r["groups"] == sorted(r["groups"], key=lambda g: -g["bytes"])
PY

  "$DMEM" leaks "$core" >leaks.txt || fail "dmem leaks (text) $core"
  grep -q '^2048 bytes in 1 block (leak) from threads [0-9]*:$' leaks.txt \
    || fail "text report of $core: $(cat leaks.txt)"
  grep -q '^    #0 main+0x[0-9a-f]* (.*analyzer-classic.c:[0-9]*) \[analyzer-classic\]$' \
    leaks.txt || fail "text frame of $core: $(cat leaks.txt)"

  "$DMEM" leaks --format=folded "$core" >leaks.folded || fail "folded $core"
  grep -q '^leak;.*main 2048$' leaks.folded \
    || fail "folded output of $core: $(cat leaks.folded)"

  "$DMEM" verify --format=json "$core" >verify.json || fail "verify $core"
  "$DMEM" stats --format=json "$core" >stats.json || fail "stats $core"
  "$DMEM" mallinfo --format=json "$core" >mallinfo.json || fail "mallinfo $core"
  "$SYSTEM_PYTHON" - verify.json stats.json mallinfo.json <<'PY' || fail "verify/stats/mallinfo of $core"
import json, sys
v, s, m = (json.load(open(p)) for p in sys.argv[1:4])
assert v["ok"] is True and v["errors"] == [], v
assert v["blocks_checked"] == s["live_blocks"] in (2, 3), (v, s)
assert s["total_frees"] >= 1, s
assert s["total_allocs"] - s["total_frees"] == s["live_blocks"], s
assert sum(t["blocks"] for t in s["threads"]) == s["live_blocks"], s
assert sum(h["bytes"] for h in s["histogram"]) == s["live_bytes"], s
assert any(h["min"] == 2048 and h["max"] == 4095 for h in s["histogram"]), s
names = ["arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
         "fsmblks", "uordblks", "fordblks", "keepcost"]
assert sorted(m["fields"]) == sorted(names), m
assert m["source"] in ("glibc", "runtime") and m["overflow"] == [], m
if m["source"] == "glibc":
    f = m["fields"]
    assert f["arena"] > 0 and f["uordblks"] + f["fordblks"] == f["arena"], f
    assert f["uordblks"] >= m["runtime"]["live_bytes"], m
PY
done
