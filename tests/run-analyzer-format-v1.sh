#!/bin/sh
# Cores of the format-1 runtime (128-byte headers holding the PCs) stay
# readable: a core kept in tests/data/format-v1 gives the leaks, stacks and
# verify it gave when it was taken, and a scan for its headers stands.  Its files are found under a sysroot
# at the paths the core names.
. "$top_srcdir/tests/test-lib.sh"
data="$top_srcdir/tests/data/format-v1"
command -v xz >/dev/null || skip "xz is not installed"
xz -dc "$data/core.xz" >v1.core || fail "cannot decompress the kept core"
root=sysroot/tmp/dmem-format-v1
mkdir -p "$root"
# The program is kept as format-v1.bin: beside format-v1.c, make would
# rebuild a file named format-v1 from it (a program of another build-id).
cp "$data/format-v1.bin" "$root/format-v1"
cp "$data/libdmem.so" "$root/"
# This machine's C library stands in for the one the core was taken with.
for lib in /usr/lib/x86_64-linux-gnu/libc.so.6 \
           /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2; do
  mkdir -p "sysroot$(dirname "$lib")"
  cp "$lib" "sysroot$lib"
done

"$DMEM" leaks --sysroot=sysroot --format=json v1.core >leaks.json 2>leaks.err ||
  fail "dmem leaks of the format-1 core: $(cat leaks.err)"
# The kept program and runtime are the very files the core was taken with.
if grep -i "build.id" leaks.err | grep -q "dmem-format-v1"; then
  fail "a kept file does not match the core: $(cat leaks.err)"
fi
"$DMEM" stacks --sysroot=sysroot --format=json v1.core >stacks.json 2>stacks.err ||
  fail "dmem stacks of the format-1 core: $(cat stacks.err)"
"$DMEM" verify --sysroot=sysroot --format=json v1.core >verify.json 2>verify.err ||
  fail "dmem verify of the format-1 core: $(cat verify.err)"
"$SYSTEM_PYTHON" - <<'PY' || fail "the format-1 core reads differently: $(head -c 2000 leaks.json)"
import json
leaks, stacks, verify = (json.load(open(f)) for f in ("leaks.json", "stacks.json", "verify.json"))
s = leaks["summary"]
assert (s["leaked_blocks"], s["leaked_bytes"]) == (2, 1064), s
assert (s["indirect_blocks"], s["indirect_bytes"]) == (1, 64), s
assert (s["reachable_blocks"], s["reachable_bytes"]) == (3, 192), s
fns = lambda g: [f["function"] for f in g["frames"]]
got = sorted((g["kind"], g["bytes"], fns(g)[0]) for g in leaks["groups"])
assert got == [("indirect", 64, "leak_pair"), ("leak", 64, "leak_pair"),
               ("leak", 1000, "main")], got
for g in leaks["groups"]:
    f = g["frames"][0]
    assert f["file"].endswith("format-v1.c") and f["line"], f
    assert "main" in fns(g), g
live = {}
for g in stacks["groups"]:      # leak_pair's two calls are two stacks
    c, b = live.get(fns(g)[0], (0, 0))
    live[fns(g)[0]] = (c + g["count"], b + g["bytes"])
assert live == {"keep_three": (3, 192), "leak_pair": (2, 128), "main": (1, 1000)}, live
assert verify["ok"] is True and verify["errors"] == [], verify
PY
"$SCAN_CHECK" v1.core sysroot || fail "the scan of the format-1 core"
exit 0
