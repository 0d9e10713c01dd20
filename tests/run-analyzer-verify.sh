#!/bin/sh
# dmem verify on a core taken at a double free: the lists are sound, the
# error the runtime caught is shown with the block's allocation stack and
# where the second free happened, and the core does not verify as ok.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"

build analyzer-doublefree
kernel_core kernel.core ./analyzer-doublefree
status=0
"$DMEM" verify --format=json kernel.core >verify.json 2>verify.err || status=$?
expect_eq "exit status of verify on a double free (found)" 1 "$status"
"$SYSTEM_PYTHON" - verify.json <<'PY' || fail "verify report"
import json, sys
v = json.load(open(sys.argv[1]))
assert v["ok"] is False and v["errors"] == [], v
assert v["caught_total"] == 1 and len(v["caught"]) == 1, v
e = v["caught"][0]
assert e["kind"] == "double-free" and e["size"] == 40, e
assert e["alloc_frames"][0]["function"] == "main", e["alloc_frames"]
found = e["found_frames"][0]
assert found["function"] == "main", e
assert found["file"].endswith("analyzer-doublefree.c"), found
assert found["line"] > e["alloc_frames"][0]["line"], e
PY
status=0
"$DMEM" verify kernel.core >verify.txt || status=$?
expect_eq "exit status of verify (text)" 1 "$status"
grep -q '^double-free of the 40-byte block at 0x' verify.txt \
  || fail "text report: $(cat verify.txt)"
