#!/bin/sh
# dmem leaks' roots on a kernel core: a block held only by a global of the
# executable, also with the executable gone (a warning says so; the global
# still holds it); one held only from a private anonymous mmap pool; a
# block allocated uninitialised over freed blocks' headers and lost (a
# leak); a cycle a <-> b entered from c (1 direct, 2 indirect); a block
# left on an exited thread's cached stack (a leak); -e naming another
# build of the executable (a warning).  Then CPython's own pools hold what
# it allocated: its live interpreter leaks next to nothing.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"

build analyzer-roots
build analyzer-roots -DOTHER
mv analyzer-roots other
build analyzer-roots
kernel_core kernel.core ./analyzer-roots

"$DMEM" leaks --format=json kernel.core >leaks.json 2>leaks.err \
  || fail "dmem leaks exited $?: $(cat leaks.err)"
"$DMEM" stacks --format=json kernel.core >stacks.json 2>stacks.err \
  || fail "dmem stacks exited $?: $(cat stacks.err)"
"$SYSTEM_PYTHON" - leaks.json stacks.json <<'PY' || fail "leaks of the core"
import json, sys
leaks, stacks = (json.load(open(p)) for p in sys.argv[1:3])

def fn(g):
    return g["frames"][0]["function"] if g["frames"] else None

def total(groups, f, kind=None):
    sel = [g for g in groups if fn(g) == f and (kind is None or g["kind"] == kind)]
    return (sum(g["count"] for g in sel), sum(g["bytes"] for g in sel))

g = leaks["groups"]
live = stacks["groups"]
# Held by a global, by a pool: live, not leaked.
assert total(live, "keep_in_global") == (1, 111), live
assert total(live, "keep_in_pool") == (1, 222), live
assert total(g, "keep_in_global") == (0, 0), g
assert total(g, "keep_in_pool") == (0, 0), g
# Over the freed headers: the guard and the kept block live, the lost
# block a direct leak.
assert total(live, "make_stale_leak") == (3, 18000), live
assert total(g, "make_stale_leak") == (1, 8000), g
assert total(g, "make_stale_leak", "leak") == (1, 8000), g
# The cycle entered from a third block: one direct leak, two indirect.
assert total(g, "make_shared_cycle", "leak") == (1, 48), g
assert total(g, "make_shared_cycle", "indirect") == (2, 96), g
# Left on a dead thread's stack.
assert total(g, "leave_on_stack", "leak") == (1, 333), g
s = leaks["summary"]
assert (s["leaked_blocks"], s["indirect_blocks"]) == (3, 2), s
assert not leaks.get("warnings"), leaks.get("warnings")
PY

# The executable gone: its module has no file, its mappings are still
# roots, and the report says the roots may be incomplete.
mkdir away
mv analyzer-roots away/
"$DMEM" leaks --format=json kernel.core >moved.json 2>moved.err \
  || fail "dmem leaks without the executable exited $?: $(cat moved.err)"
grep -q "^dmem: warning: module .*/analyzer-roots: no ELF file.*roots" moved.err \
  || fail "no warning about the missing executable: $(cat moved.err)"
"$SYSTEM_PYTHON" - leaks.json moved.json <<'PY' || fail "leaks without the executable"
import json, sys
leaks, moved = (json.load(open(p)) for p in sys.argv[1:3])
assert moved["summary"] == leaks["summary"], (moved["summary"], leaks["summary"])
w = moved.get("warnings", [])
assert [x for x in w if "analyzer-roots: no ELF file" in x and "roots" in x], w
PY

# -e naming another build: it does not match the core's build ID.
"$DMEM" leaks --format=json -e other kernel.core >other.json 2>other.err \
  || fail "dmem leaks -e other exited $?: $(cat other.err)"
grep -q "^dmem: warning: module .*/analyzer-roots: .*other does not match the build ID" other.err \
  || fail "no warning about the mismatched -e: $(cat other.err)"
"$SYSTEM_PYTHON" - other.json <<'PY' || fail "-e other's warnings"
import json, sys
w = json.load(open(sys.argv[1])).get("warnings", [])
assert [x for x in w if "other does not match the build ID" in x], w
PY
mv away/analyzer-roots .

# CPython's obmalloc arenas (anonymous mappings holding no block) keep
# what the interpreter allocated: a live interpreter's core shows next to
# no leaks (102 direct ones when the arenas were not roots).
if [ -x /usr/bin/python3 ]; then
  for m in pymalloc malloc; do
    if [ $m = malloc ]; then PYTHONMALLOC=malloc; export PYTHONMALLOC; fi
    kernel_core python-$m.core /usr/bin/python3 -c 'import os; os.abort()'
    unset PYTHONMALLOC
    "$DMEM" leaks --format=json python-$m.core >python-$m.json 2>python-$m.err \
      || fail "dmem leaks of python3 ($m) exited $?: $(cat python-$m.err)"
    "$SYSTEM_PYTHON" - python-$m.json $m <<'PY' || fail "python3's leaks ($m)"
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
print("python3 (%s): %d live blocks, %d direct leaks, %d indirect"
      % (sys.argv[2], s["live_blocks"], s["leaked_blocks"], s["indirect_blocks"]))
assert s["live_blocks"] > 100, s
assert s["leaked_blocks"] <= 5, s
PY
  done
fi
