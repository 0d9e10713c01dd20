#!/bin/sh
# Symbols without debug info, and files found again with -e and --sysroot:
# the descriptor comes from .dynsym of a stripped libdmem.so; functions from
# .symtab/.dynsym when the executable has no DWARF (file and line null).
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"

# A stripped runtime (.dynsym only) and an executable without DWARF.
mkdir lib
strip --strip-all -o lib/libdmem.so "$LIBDMEM"
build analyzer-classic
strip --strip-debug analyzer-classic
LIBDMEM=$PWD/lib/libdmem.so kernel_core kernel.core ./analyzer-classic
"$DMEM" leaks --format=json kernel.core >leaks.json 2>leaks.err \
  || fail "dmem leaks exited $?: $(cat leaks.err)"
"$SYSTEM_PYTHON" - leaks.json <<'PY' || fail "leaks without debug info"
import json, sys
g = json.load(open(sys.argv[1]))["groups"]
assert len(g) == 1 and g[0]["bytes"] == 2048, g
f = g[0]["frames"][0]
assert f["function"] == "main" and f["file"] is None and f["line"] is None, f
PY

# The executable moved away after the crash: -e names it.
mkdir elsewhere
mv analyzer-classic elsewhere/
"$DMEM" leaks --format=json kernel.core >lost.json || fail "dmem leaks (no exe)"
"$SYSTEM_PYTHON" - lost.json <<'PY' || fail "leaks with the executable gone"
import json, sys
g = json.load(open(sys.argv[1]))["groups"]
assert g[0]["frames"][0]["function"] is None, g   # nothing to symbolise with
PY
"$DMEM" leaks --format=json -e elsewhere/analyzer-classic kernel.core \
  >moved.json 2>moved.err || fail "dmem -e exited $?: $(cat moved.err)"
"$SYSTEM_PYTHON" - moved.json <<'PY' || fail "leaks with -e"
import json, sys
g = json.load(open(sys.argv[1]))["groups"]
assert g[0]["frames"][0]["function"] == "main", g
PY

# The core's files under a sysroot (a core from another machine).
mkdir -p "sysroot$PWD"
cp elsewhere/analyzer-classic "sysroot$PWD/"
"$DMEM" leaks --format=json --sysroot "$PWD/sysroot" kernel.core \
  >sysroot.json 2>sysroot.err || fail "dmem --sysroot exited $?: $(cat sysroot.err)"
"$SYSTEM_PYTHON" - sysroot.json <<'PY' || fail "leaks with --sysroot"
import json, sys
g = json.load(open(sys.argv[1]))["groups"]
assert g[0]["frames"][0]["function"] == "main", g
PY
