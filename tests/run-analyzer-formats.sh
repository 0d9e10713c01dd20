#!/bin/sh
# Cores of earlier runtimes stay readable: format 1 (128-byte headers
# holding the PCs) and format 2 (48-byte headers naming a depot stack, no
# pending frees).  A core of each, kept in tests/data/format-vN, gives the
# leaks, stacks and verify it gave when it was taken, and a scan for its
# headers stands.  Their files are found under a sysroot at the paths the
# cores name.
. "$top_srcdir/tests/test-lib.sh"
command -v xz >/dev/null || skip "xz is not installed"
# This machine's C library stands in for the one the cores were taken with.
for lib in /usr/lib/x86_64-linux-gnu/libc.so.6 \
           /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2; do
  mkdir -p "sysroot$(dirname "$lib")"
  cp "$lib" "sysroot$lib"
done

for v in 1 2; do
name=format-v$v
data="$top_srcdir/tests/data/$name"
xz -dc "$data/core.xz" >v$v.core || fail "cannot decompress the kept $name core"
root=sysroot/tmp/dmem-$name
mkdir -p "$root"
# The program is kept as $name.bin: beside $name.c, make would rebuild a
# file named $name from it (a program of another build-id).
cp "$data/$name.bin" "$root/$name"
cp "$data/libdmem.so" "$root/"

"$DMEM" leaks --sysroot=sysroot --format=json v$v.core >leaks.json 2>leaks.err ||
  fail "dmem leaks of the $name core: $(cat leaks.err)"
# The kept program and runtime are the very files the core was taken with.
if grep -i "build.id" leaks.err | grep -q "dmem-$name"; then
  fail "a kept file does not match the $name core: $(cat leaks.err)"
fi
"$DMEM" stacks --sysroot=sysroot --format=json v$v.core >stacks.json 2>stacks.err ||
  fail "dmem stacks of the $name core: $(cat stacks.err)"
"$DMEM" verify --sysroot=sysroot --format=json v$v.core >verify.json 2>verify.err ||
  fail "dmem verify of the $name core: $(cat verify.err)"
"$SYSTEM_PYTHON" - "$name" <<'PY' || fail "the $name core reads differently: $(head -c 2000 leaks.json)"
import json, sys
name = sys.argv[1]
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
    assert f["file"].endswith(name + ".c") and f["line"], f
    assert "main" in fns(g), g
live = {}
for g in stacks["groups"]:      # leak_pair's two calls are two stacks
    c, b = live.get(fns(g)[0], (0, 0))
    live[fns(g)[0]] = (c + g["count"], b + g["bytes"])
assert live == {"keep_three": (3, 192), "leak_pair": (2, 128), "main": (1, 1000)}, live
assert verify["ok"] is True and verify["errors"] == [], verify
PY
"$SCAN_CHECK" v$v.core sysroot || fail "the scan of the $name core"
done
exit 0
