#!/bin/sh
# dmem explain on analyzer-explain, in a kernel core, a gcore core (with
# the quarantine on) and the live process: a block held only by a global
# (named module:symbol+0), one held only from a local of a live frame
# (the thread and hold_on_stack named), a chain of three blocks from a
# global (each block and offset in order), a block held only through an
# interior pointer (possible), a leaked cycle (the lower block a direct
# leak, the higher an indirect one naming it), an address in a header, a
# global's own address, a freed block (free heap memory; with the
# quarantine, the freed block and both its stacks), an unmapped address.
# gdb and drgn print what dmem prints.
. "$top_srcdir/tests/test-lib.sh"
. "$top_srcdir/tests/readers-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
build analyzer-explain

# explain_all PREFIX LINES TARGET...: dmem explain --format=json of every
# case on TARGET (a core, or --pid PID), the addresses from LINES (what
# analyzer-explain printed), into PREFIX.NAME.json.
explain_all () {
  p=$1 lines=$2; shift 2
  : >"$p.addresses"
  for c in global:global:2 global_var:global_var:2 chain_a:chain:2 \
	   chain_b:chain:3 chain_c:chain:4 inside:inside:2 cycle_lo:cycle:2 \
	   cycle_hi:cycle:3 freed:freed:2 stack:stack:2 tid:tid:2; do
    name=${c%%:*} rest=${c#*:}
    a=$(awk -v n="${rest%%:*}" -v f="${rest#*:}" '$1 == n { print $f }' "$lines")
    [ -n "$a" ] || fail "no address '$name' in $lines: $(cat "$lines")"
    echo "$name $a" >>"$p.addresses"
  done
  c=$(awk '$1 == "chain_c" { print $2 }' "$p.addresses")
  g=$(awk '$1 == "global" { print $2 }' "$p.addresses")
  printf 'chain_c8 0x%x\nheader 0x%x\nunmapped 0x10\n' $((c + 8)) $((g - 8)) \
    >>"$p.addresses"
  grep -v '^tid ' "$p.addresses" >"$p.cases"
  while read -r name a; do
    s=0
    "$DMEM" explain --format=json "$a" "$@" >"$p.$name.json" 2>"$p.$name.err" ||
      s=$?
    [ $s = 0 ] || fail "dmem explain $a ($name, $p) exited $s: $(cat "$p.$name.err")"
  done <"$p.cases"
}

# check_all PREFIX QUARANTINE: the JSON of every case.
check_all () {
  "$SYSTEM_PYTHON" - "$1" "$2" <<'PY' || fail "explain on $1"
import json, sys
p, quarantine = sys.argv[1], sys.argv[2] == "yes"
addr = dict(l.split() for l in open(p + ".addresses"))
tid = int(addr.pop("tid"))
addr = {k: int(v, 16) for k, v in addr.items()}
def load(name):
    r = json.load(open("%s.%s.json" % (p, name)))
    assert r["address"] == hex(addr[name]), (name, r["address"])
    assert r["warnings"] == [], (name, r["warnings"])
    return r
def fns(frames):
    return [f["function"] for f in frames]
def link(e, block, size, from_offset, points_to="start"):
    assert e["block"]["address"] == hex(block), (e, hex(block))
    assert e["block"]["size"] == size, e
    assert e["from_offset"] == from_offset, e
    assert e["points_to"] == points_to, e

# Held only by a global: module:symbol+0.
r = load("global")
assert (r["what"], r["status"], r["block"]["offset"]) == ("block", "reachable", 0), r
assert r["block"]["tid"] == tid and r["block"]["size"] == 111, r
assert fns(r["block"]["frames"])[:2] == ["keep_in_global", "main"], r["block"]
root = r["chain"][0]
assert root["root"] == "global" and root["symbol"] == "held_by_global", root
assert root["offset"] == 0 and root["module"].endswith("/analyzer-explain"), root
assert root["section"] == ".bss" and root["in_block"] is None, root
assert len(r["chain"]) == 2, r["chain"]
link(r["chain"][1], addr["global"], 111, None)
assert r["chain"][1]["from_address"] == root["address"], r["chain"]

# Its header, 8 bytes below.
r = load("header")
assert (r["what"], r["status"]) == ("header", "reachable"), r
assert r["block"]["address"] == hex(addr["global"]) and r["block"]["offset"] == -8, r
assert r["chain"][0]["symbol"] == "held_by_global", r["chain"]

# The global itself, holding the block.
r = load("global_var")
assert r["what"] == "global" and r["block"] is None and r["chain"] == [], r
l = r["location"]
assert (l["kind"], l["symbol"], l["offset"]) == ("global", "held_by_global", 0), l
assert l["points_to"] == hex(addr["global"]), l

# Held only from hold_on_stack's frame, on the main thread's stack.
r = load("stack")
assert (r["what"], r["status"]) == ("block", "reachable"), r
assert r["block"]["tid"] == tid and r["block"]["size"] == 444, r
assert len(r["chain"]) == 2, r["chain"]
root = r["chain"][0]
assert root["root"] == "stack" and root["tid"] == tid, root
assert root["position"] == "frame" and root["frame"] is not None, root
assert "hold_on_stack" in fns(root["frame"]["frames"]), root["frame"]
sp = int(root["frame"]["sp"], 16)
assert sp <= int(root["address"], 16) < sp + 4096, root
link(r["chain"][1], addr["stack"], 444, None)

# Three blocks from chain_head, each linked at offset 16; ADDR 8 bytes in.
for name in ("chain_c", "chain_c8"):
    r = load(name)
    assert (r["what"], r["status"]) == ("block", "reachable"), r
    assert r["block"]["address"] == hex(addr["chain_c"]), r
    assert r["block"]["offset"] == (8 if name == "chain_c8" else 0), r
    c = r["chain"]
    assert len(c) == 4, c
    assert c[0]["root"] == "global" and c[0]["symbol"] == "chain_head", c[0]
    link(c[1], addr["chain_a"], 64, None)
    link(c[2], addr["chain_b"], 64, 16)
    link(c[3], addr["chain_c"], 64, 16)
    assert c[2]["from_address"] == hex(addr["chain_a"] + 16), c[2]
    assert c[3]["from_address"] == hex(addr["chain_b"] + 16), c[3]
    for e in c[1:]:
        assert fns(e["block"]["frames"])[:2] == ["make_chain", "main"], e

# Only an interior pointer from a global: possibly reachable.
r = load("inside")
assert (r["what"], r["status"]) == ("block", "possible"), r
c = r["chain"]
assert len(c) == 2 and c[0]["symbol"] == "held_inside", c
link(c[1], addr["inside"], 99, None, "inside")
assert c[1]["pointer_offset"] == 8, c[1]

# The leaked cycle: the lower block direct, the higher indirect from it.
r = load("cycle_lo")
assert (r["what"], r["status"], r["chain"], r["leaked_from"]) == ("block", "leak", [], None), r
r = load("cycle_hi")
assert (r["what"], r["status"]) == ("block", "indirect"), r
assert r["leaked_from"] == hex(addr["cycle_lo"]), r
c = r["chain"]
assert len(c) == 2, c
assert c[0]["block"]["address"] == hex(addr["cycle_lo"]) and c[0]["pointer"] is None, c[0]
link(c[1], addr["cycle_hi"], 48, 0)
assert fns(c[0]["block"]["frames"])[:2] == ["make_cycle", "main"], c[0]

# The freed block: heap memory no live block holds, or in the quarantine
# the block itself with where it was allocated and freed.
r = load("freed")
if quarantine:
    assert r["what"] == "freed" and r["status"] is None, r
    b = r["block"]
    assert (b["address"], b["size"], b["offset"], b["tid"]) == (hex(addr["freed"]), 3000, 0, tid), b
    assert fns(b["frames"])[0] == "main", b["frames"]
    assert fns(b["free_frames"])[:2] == ["finish", "hold_on_stack"], b["free_frames"]
else:
    assert r["what"] == "free" and r["block"] is None, r
    assert r["location"]["kind"] == "free", r

r = load("unmapped")
assert r["what"] == "unmapped" and r["location"]["kind"] == "unmapped", r
PY
}

# The kernel's core, when the program exits inside hold_on_stack.
kernel_core kernel.core ./analyzer-explain
explain_all kernel kernel_core.out kernel.core
check_all kernel no

# Text: what a person reads.
while read -r name a; do
  eval "a_$name=$a"
done <kernel.addresses
"$DMEM" explain "$a_global" kernel.core >global.txt || fail "dmem explain (text)"
grep -q '^reachable: 1 reference from a root:$' global.txt &&
  grep -q '^  root: the global analyzer-explain:held_by_global+0 at 0x' global.txt ||
  fail "text of a global's block: $(cat global.txt)"
"$DMEM" explain "$a_stack" kernel.core >stack.txt || fail "dmem explain (text)"
grep -q "^  root: the stack of thread $a_tid at 0x[0-9a-f]*, frame #[0-9]* hold_on_stack+0x[0-9a-f]* (.*analyzer-explain.c:[0-9]*) \[analyzer-explain\]\$" stack.txt ||
  fail "text of a stack's block: $(cat stack.txt)"
"$DMEM" explain "$a_chain_c8" kernel.core >chain.txt || fail "dmem explain (text)"
[ "$(grep -c '^  whose word at offset 16 (0x' chain.txt)" = 2 ] &&
  grep -q "^  which holds $a_chain_c8 at offset 8\$" chain.txt ||
  fail "text of a chain: $(cat chain.txt)"
"$DMEM" explain "$a_cycle_hi" kernel.core >cycle.txt || fail "dmem explain (text)"
grep -q "^an indirect leak: no root reaches it; the direct leak at $a_cycle_lo does, through 1 reference:\$" cycle.txt ||
  fail "text of an indirect leak: $(cat cycle.txt)"
"$DMEM" explain "$a_cycle_lo" kernel.core >cycle_lo.txt || fail "dmem explain (text)"
grep -q "^a direct leak: " cycle_lo.txt || fail "text of a direct leak: $(cat cycle_lo.txt)"

# Usage errors.
s=0
"$DMEM" explain kernel.core >/dev/null 2>&1 || s=$?
expect_eq "explain without an address" 64 "$s"
s=0
"$DMEM" explain 0xzz kernel.core >/dev/null 2>&1 || s=$?
expect_eq "explain of a bad address" 64 "$s"

# A gcore core of the waiting program, the quarantine on; gdb and drgn on
# it print what dmem prints.
DMEM_OPTS=quarantine=1048576; export DMEM_OPTS
gcore_core gcore.core ./analyzer-explain wait
unset DMEM_OPTS
explain_all gcore gcore_core.err gcore.core
check_all gcore yes
while read -r name a; do
  eval "g_$name=$a"
done <gcore.addresses
# (gdb_dmem and drgn_dmem set $a and $c: the address is in $at.)
for name in chain_c8 stack; do
  eval "at=\$g_$name"
  "$DMEM" explain "$at" gcore.core >"gcore.$name.txt" || fail "dmem explain $name (text)"
  if [ -n "${GDB:-}" ] && [ -x "$GDB" ]; then
    gdb_dmem "gdb.$name.all" ./analyzer-explain gcore.core -- 'echo @@\n' "dmem explain $at"
    sed '1,/^@@$/d' "gdb.$name.all" >"gdb.$name.txt"
    cmp -s "gcore.$name.txt" "gdb.$name.txt" ||
      fail "gdb's explain ($name) differs: $(diff "gcore.$name.txt" "gdb.$name.txt" | head -n 5)"
  fi
  DRGN=${DRGN:-/usr/bin/drgn}
  if [ -x "$DRGN" ]; then
    drgn_dmem "drgn.$name.txt" -c gcore.core -- explain "$at"
    expect_eq "drgn explain status" 0 "$drgn_status"
    cmp -s "gcore.$name.txt" "drgn.$name.txt" ||
      fail "drgn's explain ($name) differs: $(diff "gcore.$name.txt" "drgn.$name.txt" | head -n 5)"
  fi
done

# The live process, read through ptrace, and through gdb attached to it.
start_live analyzer-explain wait
explain_all live live.err --pid "$live_pid"
while read -r name a; do
  eval "l_$name=$a"
done <live.addresses
"$DMEM" explain "$l_stack" --pid "$live_pid" >live.stack.txt || fail "dmem explain --pid (text)"
if [ -n "${GDB:-}" ] && [ -x "$GDB" ]; then
  gdb_dmem gdb.live.all -p "$live_pid" -- 'echo @@\n' "dmem explain $l_stack"
  sed -e '1,/^@@$/d' -e '/^\[Inferior [0-9]* (process [0-9]*) detached\]$/d' \
    gdb.live.all >gdb.live.txt
fi
stop_live
check_all live no
if [ -f gdb.live.txt ]; then
  cmp -s live.stack.txt gdb.live.txt ||
    fail "gdb's explain of the live process differs: $(diff live.stack.txt gdb.live.txt | head -n 5)"
fi
exit 0
