#!/bin/sh
# C++ operator new and delete under the runtime.  A block freed another way
# than it was allocated (new[] by delete, new by delete[], malloc by delete,
# new and new[] by free, new by realloc) is an alloc-dealloc-mismatch at the
# scene: what allocated and what freed it, the allocation stack starting at
# new's caller, where it was freed; the program aborts and a core of it
# names the error in dmem verify (gdb's and drgn's alike) and dmem report.
# A program using every form of new and delete rightly (aligned, nothrow,
# sized, out of memory, a new handler) runs clean, and its one leak starts
# at the caller of new; a program with operators of its own gets no
# mismatch reports; nor does one run with no-mismatch.
. "$top_srcdir/tests/test-lib.sh"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"
: "${CXX:=g++}"
command -v "$CXX" >/dev/null || skip "no C++ compiler ($CXX)"
$CXX -O2 -g -fomit-frame-pointer -rdynamic -o cxx-new "$SRC/cxx-new.cc" \
  || fail "cannot build cxx-new"

# libdmem.so must not bring libstdc++ into C programs.
if readelf -d "$LIBDMEM" | grep NEEDED | grep -q 'libstdc++'; then
  fail "libdmem.so needs libstdc++"
fi

# check MODE ALLOCATED FREED ALLOC_FN FREE_FN
check () {
  mode=$1 allocated=$2 freed=$3 alloc_fn=$4 free_fn=$5
  rc=0
  run_dmem ./cxx-new "$mode" >out 2>err || rc=$?
  expect_eq "$mode: exit status (SIGABRT)" 134 "$rc"
  head -n 1 err | grep -q "^dmem: alloc-dealloc-mismatch: allocated with $allocated, $freed: 0x" \
    || { cat err; fail "$mode: not reported as allocated with $allocated, $freed"; }
  sed -n '/^  allocated at:/{n;p;q}' err | grep -q "^    #0 $alloc_fn+" \
    || { cat err; fail "$mode: the allocation stack does not start at $alloc_fn"; }
  sed -n '/^  found at:/{n;p;q}' err | grep -q "^    #0 $free_fn+" \
    || { cat err; fail "$mode: not found at $free_fn"; }
  grep -q survived out && fail "$mode: the program went on"
  return 0
}
check array-delete 'operator new\[\]' 'freed with operator delete' \
  allocate_array delete_one
check new-delete-array 'operator new' 'freed with operator delete\[\]' \
  allocate_one delete_array
check malloc-delete malloc 'freed with operator delete' \
  allocate_malloc delete_malloced
check new-free 'operator new' 'freed with free' allocate_one free_new
check array-free 'operator new\[\]' 'freed with free' allocate_array free_new
check new-realloc 'operator new' 'reallocated with realloc' allocate_one \
  realloc_new

# keep-going: reported, the block freed, the program goes on.
for mode in array-delete malloc-delete new-free new-realloc; do
  DMEM_OPTS=keep-going run_dmem ./cxx-new $mode >out 2>err \
    || fail "keep-going: $mode stopped: $(cat err)"
  grep -q '^dmem: alloc-dealloc-mismatch: ' err || fail "keep-going: $mode not reported"
  grep -q "^survived $mode\$" out || fail "keep-going: $mode did not go on"
done

# no-mismatch: not reported at all.
DMEM_OPTS=no-mismatch run_dmem ./cxx-new array-delete >out 2>err \
  || fail "no-mismatch: array-delete stopped: $(cat err)"
[ -s err ] && fail "no-mismatch: reported: $(cat err)"
grep -q '^survived array-delete$' out || fail "no-mismatch: did not go on"

# The correct program: no report, its own checks pass (alignment, NULL from
# nothrow new, std::bad_alloc from new, the new handler called).
run_dmem ./cxx-new clean >out 2>err || fail "clean run failed: $(cat err)"
[ -s err ] && fail "clean run reported: $(cat err)"
grep -q '^clean done$' out || fail "clean run: $(cat out)"

# A program with operator new and delete of its own: no mismatch reports.
$CXX -O2 -g -o cxx-own-new "$SRC/cxx-own-new.cc" || fail "cannot build cxx-own-new"
run_dmem ./cxx-own-new >out 2>err || fail "own operators: exit status $?: $(cat err)"
[ -s err ] && fail "own operators reported: $(cat err)"
grep -q '^own operators done$' out || fail "own operators: $(cat out)"

[ -x "$DMEM" ] || exit 0
DMEM_RUNTIME=$LIBDMEM
export DMEM_RUNTIME

# Its one leak, at exit: the first frame is the caller of new[].
status=0
"$DMEM" run --format=json --output=leaks.json ./cxx-new clean >out 2>err \
  || status=$?
expect_eq "exit status of dmem run" 0 "$status"
$SYSTEM_PYTHON - leaks.json <<'PY' || fail "the leak of the clean run"
import json, sys
r = json.load(open(sys.argv[1]))
groups = [g for g in r["groups"] if g["kind"] == "leak"]
assert len(groups) == 1 and groups[0]["bytes"] == 800, r
f = groups[0]["frames"]
assert f[0]["function"] == "leak_one" and f[0]["offset"] > 0, f
assert f[0]["file"].endswith("/tests/programs/cxx-new.cc"), f
assert r["summary"]["leaked_blocks"] == 1, r["summary"]
PY

# A core taken at the scene names each mismatch: the kind, how the block
# was allocated and freed, both stacks.
core_check () {
  mode=$1 allocated=$2 freed=$3 alloc_fn=$4 free_fn=$5
  kernel_core $mode.core ./cxx-new $mode
  status=0
  "$DMEM" verify --format=json $mode.core >$mode.json || status=$?
  expect_eq "$mode: exit status of dmem verify (errors found)" 1 "$status"
  $SYSTEM_PYTHON - $mode.json "$allocated" "$freed" $alloc_fn $free_fn <<'PY' \
    || fail "$mode: verify of the core"
import json, sys
v = json.load(open(sys.argv[1]))
allocated, freed, alloc_fn, free_fn = sys.argv[2:6]
assert v["ok"] is False and len(v["caught"]) == 1, v
e = v["caught"][0]
assert e["kind"] == "alloc-dealloc-mismatch", e
assert e["allocated_by"] == allocated and e["freed_by"] == freed, e
assert e["alloc_frames"][0]["function"] == alloc_fn, e["alloc_frames"]
assert e["found_frames"][0]["function"] == free_fn, e["found_frames"]
PY
  how=freed; [ "$freed" = realloc ] && how=reallocated
  "$DMEM" verify $mode.core >$mode.txt || true
  grep -q "^alloc-dealloc-mismatch of the [0-9]*-byte block at 0x" $mode.txt \
    && grep -qxF "  allocated with $allocated, $how with $freed" $mode.txt \
    || fail "$mode: text of dmem verify: $(cat $mode.txt)"
}
core_check array-delete 'operator new[]' 'operator delete' allocate_array delete_one
core_check new-delete-array 'operator new' 'operator delete[]' allocate_one delete_array
core_check malloc-delete malloc 'operator delete' allocate_malloc delete_malloced
core_check new-free 'operator new' free allocate_one free_new
core_check new-realloc 'operator new' realloc allocate_one realloc_new

# gdb and drgn print what dmem prints of a mismatch (one engine).
. "$top_srcdir/tests/readers-lib.sh"
"$DMEM" verify --format=json array-delete.core >dmem.json || true
if [ -n "${GDB:-}" ] && [ -x "$GDB" ]; then
  gdb_dmem gdb.all ./cxx-new array-delete.core -- \
    'echo @@txt\n' 'dmem verify' 'echo @@json\n' 'dmem verify --format=json'
  awk '/^@@/ { out = "gdb." substr($0, 3); next } out { print > out }' gdb.all
  cmp -s array-delete.txt gdb.txt || fail "gdb's verify differs: $(diff array-delete.txt gdb.txt | head -n 6)"
  cmp -s dmem.json gdb.json || fail "gdb's verify (json) differs: $(diff dmem.json gdb.json | head -n 6)"
else
  note "gdb is not installed: its verify is not compared"
fi
DRGN=${DRGN:-/usr/bin/drgn}
if [ -x "$DRGN" ]; then
  drgn_dmem drgn.txt -c array-delete.core -- verify
  expect_eq "drgn verify status" 1 "$drgn_status"
  cmp -s array-delete.txt drgn.txt || fail "drgn's verify differs: $(diff array-delete.txt drgn.txt | head -n 6)"
else
  note "drgn is not installed: its verify is not compared"
fi

# dmem report's page says it too, in a real browser.
if [ -x /usr/lib/chromium/chromium ] || command -v chromium >/dev/null; then
  "$DMEM" report -o report.html new-realloc.core >/dev/null || fail "dmem report"
  echo 'document.getElementById("verify-body").innerText' >probe.js
  $SYSTEM_PYTHON "$top_srcdir/tests/html-browser.py" report.html probe.js net.json \
    >page.json || fail "html-browser.py failed"
  $SYSTEM_PYTHON - page.json <<'PY' || fail "the report page's mismatch: $(head -c 1000 page.json)"
import json, sys
p = json.load(open(sys.argv[1]))
assert p["exceptions"] == [] and p["console_errors"] == [], p
t = p["result"]
assert "alloc-dealloc-mismatch: allocated with operator new, reallocated with realloc" in t, t
assert "allocate_one" in t and "realloc_new" in t, t
PY
else
  note "chromium is not installed: the report page is not checked"
fi

# new called from inside libstdc++ (a string's buffer): the first frame is
# libstdc++'s, the next the program's.
kernel_core string.core ./cxx-new string-leak
"$DMEM" stacks --format=json string.core >string.json || fail "dmem stacks string.core"
$SYSTEM_PYTHON - string.json <<'PY' || fail "the stack of a string's buffer"
import json, sys
g = [g for g in json.load(open(sys.argv[1]))["groups"] if g["bytes"] == 5001]
assert len(g) == 1, g
f = g[0]["frames"]
assert "/libstdc++.so" in f[0]["module"], f
assert "basic_string" in f[0]["function"], f
assert f[1]["function"] == "leak_string", f
PY
exit 0
