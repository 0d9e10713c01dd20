#!/bin/sh
# dmem diff: a service whose cache grows between two snapshots (two gcore
# cores, a gcore core and the kernel's core at its crash, and two
# snapshots of the live process) names the insert stack with exact
# counts; gdb and drgn print the same diff as dmem.
. "$top_srcdir/tests/test-lib.sh"
. "$top_srcdir/tests/readers-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
command -v gcore >/dev/null || skip "gcore (gdb) is not installed"
build analyzer-growth

# The program's crash at the end dumps a kernel core where allowed.
ulimit -c unlimited 2>/dev/null || true
# say CMD: send a command to the program and wait for its "ready".
say () { echo "$1" >&6; read -r line <&5 || fail "analyzer-growth died at '$1'"; }
start_live analyzer-growth
say "grow 100"
gcore -o a "$live_pid" >gcore.log 2>&1 && mv "a.$live_pid" a.core || fail "gcore a"
say "grow 50"
say "evict 10"
gcore -o b "$live_pid" >gcore.log 2>&1 && mv "b.$live_pid" b.core || fail "gcore b"
# The kernel's core of the same process at its crash, 5 entries later.
say "grow 5"
pattern=$(cat /proc/sys/kernel/core_pattern)
kernel=no
case "$pattern" in core|core.*|./core*) kernel=yes ;; esac
(
  flock 9
  rm -f core core.*
  echo crash >&6
  exec 6>&-
  wait "$live_pid" 2>/dev/null || true
) 9>"$top_builddir/tests/work/.core-lock"
c=$(ls core core.* 2>/dev/null | head -n 1 || true)
[ -n "$c" ] && mv "$c" c.core || kernel=no

"$DMEM" diff --format=json a.core b.core >ab.json 2>ab.err || fail "dmem diff: $(cat ab.err)"
"$SYSTEM_PYTHON" - ab.json 50 10 <<'PY' || fail "diff of two gcore cores: $(cat ab.json)"
import json, sys
r = json.load(open(sys.argv[1]))
born, died = int(sys.argv[2]), int(sys.argv[3])
size = 48   # struct entry
top = r["groups"][0]
fn = [f["function"] for f in top["frames"]]
assert fn[:2] == ["cache_insert", "main"], fn
assert (top["born_blocks"], top["born_bytes"], top["died_blocks"]) == (born, born * size, 0), top
assert (top["net_blocks"], top["net_bytes"]) == (born, born * size), top
# The evicted entries were the first 20 inserted, from main's start-up loop.
gone = [g for g in r["groups"] if g["died_blocks"]]
assert len(gone) == 1 and gone[0]["died_blocks"] == died and gone[0]["died_bytes"] == died * size, gone
assert gone[0]["frames"][1]["line"] != top["frames"][1]["line"], "the same call site"
s = r["summary"]
assert s["net_blocks"] == born - died and s["net_bytes"] == (born - died) * size, s
assert s["new_live_blocks"] - s["old_live_blocks"] == born - died, s
PY
if [ $kernel = yes ]; then
  "$DMEM" diff --format=json b.core c.core >bc.json 2>bc.err || fail "dmem diff b c: $(cat bc.err)"
  "$SYSTEM_PYTHON" - bc.json 5 0 <<'PY' || fail "diff of a gcore and a kernel core: $(cat bc.json)"
import json, sys
r = json.load(open(sys.argv[1]))
top = r["groups"][0]
assert (top["born_blocks"], top["died_blocks"], top["net_bytes"]) == (5, 0, 5 * 48), top
assert r["summary"]["net_blocks"] == 5, r["summary"]
PY
else
  note "no kernel core (core_pattern '$pattern'): gcore cores only"
fi

# Text and folded: the growth is named, the flame graph holds only growth.
"$DMEM" diff a.core b.core >ab.txt || fail "dmem diff (text)"
grep -q '^+2400 bytes in +50 blocks (born: 2400 bytes in 50, died: 0 bytes in 0) from:$' ab.txt ||
  fail "text diff: $(head -n 3 ab.txt)"
grep -q '^SUMMARY: +1920 bytes in +40 blocks: 2400 bytes born in 50 blocks, 480 bytes died in 10 blocks;' ab.txt ||
  fail "text summary: $(tail -n 1 ab.txt)"
"$DMEM" diff --format=folded a.core b.core >ab.folded || fail "dmem diff (folded)"
expect_eq "folded lines" 1 "$(wc -l <ab.folded)"
grep -q ';main;cache_insert 2400$' ab.folded || fail "folded: $(cat ab.folded)"

# gdb on the newer core and drgn give the same diff, byte for byte.
if [ -n "${GDB:-}" ] && [ -x "$GDB" ]; then
  gdb_dmem ab.gdb.all analyzer-growth b.core -- 'echo @@\n' 'dmem diff a.core'
  sed '1,/^@@$/d' ab.gdb.all >ab.gdb
  cmp -s ab.txt ab.gdb || fail "gdb's diff differs: $(diff ab.txt ab.gdb | head -n 5)"
fi
DRGN=${DRGN:-/usr/bin/drgn}
if [ -x "$DRGN" ]; then
  drgn_dmem ab.drgn -c b.core -- diff a.core
  expect_eq "drgn diff status" 0 "$drgn_status"
  cmp -s ab.txt ab.drgn || fail "drgn's diff differs: $(diff ab.txt ab.drgn | head -n 5)"
fi

# Two snapshots of a live process, 30 entries inserted in between.
start_live analyzer-growth
say "grow 0"   # stdin's buffer is allocated by the first read
echo "later 30 1" >&6
"$DMEM" diff --pid "$live_pid" --interval 3 --format=json >live.json 2>live.err ||
  fail "dmem diff --pid: $(cat live.err)"
read -r line <&5 || fail "analyzer-growth died"
stop_live
"$SYSTEM_PYTHON" - live.json 30 0 <<'PY' || fail "diff of a live process: $(cat live.json)"
import json, sys
r = json.load(open(sys.argv[1]))
top = r["groups"][0]
assert [f["function"] for f in top["frames"]][:2] == ["cache_insert", "main"], top
assert (top["born_blocks"], top["died_blocks"], top["net_bytes"]) == (30, 0, 30 * 48), top
assert r["summary"]["net_blocks"] == 30, r["summary"]
PY

# Usage errors.
status=0
"$DMEM" diff a.core >/dev/null 2>&1 || status=$?
expect_eq "diff with one core" 64 "$status"
status=0
"$DMEM" diff --pid 1 >/dev/null 2>&1 || status=$?
expect_eq "diff --pid without --interval" 64 "$status"
exit 0
