#!/bin/sh
# dmem mallinfo from a core: the true 64-bit values past 2 GiB, which int
# fields and sums overflow, and the recorded mallinfo() call with its stack
# (the diagnosis of the checked_cast crash).
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"

build analyzer-mallinfo -Wno-deprecated-declarations
kernel_core kernel.core ./analyzer-mallinfo
"$DMEM" mallinfo --format=json kernel.core >mallinfo.json 2>mallinfo.err \
  || fail "dmem mallinfo exited $?: $(cat mallinfo.err)"
"$SYSTEM_PYTHON" - mallinfo.json <<'PY' || fail "mallinfo report"
import json, sys
m = json.load(open(sys.argv[1]))
f = m["fields"]
big = 3 * (800 << 20)
assert f["hblks"] >= 3 and f["hblkhd"] >= big, f
for name in ("hblkhd", "arena+hblkhd", "uordblks+hblkhd"):
    assert name in m["overflow"], m["overflow"]
assert "arena" not in m["overflow"], m["overflow"]
assert m["runtime"]["live_bytes"] >= big, m["runtime"]
assert m["total_calls"] == 1 and len(m["calls"]) == 1, m["calls"]
c = m["calls"][0]
assert c["seq"] == 1 and c["tid"] > 0, c
assert c["values"]["hblkhd"] >= big and "hblkhd" in c["saturated"], c
assert c["frames"][0]["function"] == "report_heap", c["frames"]
if m["source"] == "glibc":   # libc6-dbg present: glibc's own arena state
    assert (f["hblks"], f["hblkhd"]) == (c["values"]["hblks"],
                                         c["values"]["hblkhd"]), (f, c)
PY
"$DMEM" mallinfo kernel.core >mallinfo.txt || fail "dmem mallinfo (text)"
grep -q '^overflow of int: hblkhd, arena+hblkhd, uordblks+hblkhd$' mallinfo.txt \
  || fail "text report: $(cat mallinfo.txt)"
grep -q '#0 report_heap+0x' mallinfo.txt || fail "call stack: $(cat mallinfo.txt)"
