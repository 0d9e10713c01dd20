#!/bin/sh
# dmem leaks on known leaks, kernel core and gcore: threads leaking from
# distinct functions, a dropped list (1 direct, 9 indirect); a list in a
# global and a block held only on a blocked thread's stack are not leaks.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"

build analyzer-leaks
kernel_core kernel.core ./analyzer-leaks
gcore_core gcore.core ./analyzer-leaks wait

for core in kernel.core gcore.core; do
  "$DMEM" leaks --format=json "$core" >leaks.json 2>leaks.err \
    || fail "dmem leaks $core exited $?: $(cat leaks.err)"
  "$DMEM" stacks --format=json "$core" >stacks.json || fail "stacks $core"
  "$SYSTEM_PYTHON" - leaks.json stacks.json <<'PY' || fail "leaks of $core"
import json, sys
leaks, stacks = (json.load(open(p)) for p in sys.argv[1:3])

def fns(g):
    return [f["function"] for f in g["frames"]]

def total(groups):
    return (sum(g["count"] for g in groups), sum(g["bytes"] for g in groups),
            sorted({t for g in groups for t in g["threads"]}))

g = leaks["groups"]
a = [x for x in g if fns(x)[0] == "leak_in_worker_a"]
b = [x for x in g if fns(x)[0] == "leak_in_worker_b"]
assert all(x["kind"] == "leak" for x in a + b), a + b
ca, ba, ta = total(a)
cb, bb, tb = total(b)
assert (ca, ba) == (3, 300) and (cb, bb) == (2, 2000), (a, b)
assert len(ta) == 1 and len(tb) == 1 and ta != tb, (ta, tb)

# The dropped list: its head is the one direct leak, the other 9 indirect.
dropped = [x for x in g if "drop_list" in fns(x)]
direct = [x for x in dropped if x["kind"] == "leak"]
indirect = [x for x in dropped if x["kind"] == "indirect"]
assert total(direct)[:2] == (1, 48) and total(indirect)[:2] == (9, 432), dropped
main_tid = total(dropped)[2]
assert len(main_tid) == 1 and main_tid != ta and main_tid != tb, main_tid

# Not leaks: the list kept in a global, the block on the blocked stack.
assert not [x for x in g if fns(x)[:2] == ["make_list", "main"]], g
assert not [x for x in g if "blocked_worker" in fns(x)], g
s = leaks["summary"]
assert (s["leaked_blocks"], s["indirect_blocks"]) == (6, 9), s
assert (s["leaked_bytes"], s["indirect_bytes"]) == (2348, 432), s
live = stacks["groups"]
kept = [x for x in live if fns(x)[:2] == ["make_list", "main"]]
assert total(kept)[:2] == (5, 240), kept
held = [x for x in live if fns(x)[0] == "blocked_worker"]
assert total(held)[:2] == (1, 777), held
assert s["live_blocks"] == stacks["summary"]["live_blocks"], (s, stacks)
assert s["reachable_blocks"] == s["live_blocks"] - 15, s
# Direct leaks come first, then indirect ones, each most bytes first, then
# most blocks.
order = {"leak": 0, "indirect": 1}
assert g == sorted(g, key=lambda x: (order[x["kind"]], -x["bytes"], -x["count"])), g
PY
done

# The same through a live process, stopped only while it is read.
rm -f fifo.in fifo.out; mkfifo fifo.in fifo.out
# Not through run_dmem: $! must be the program itself, not a subshell.
LD_PRELOAD="$LIBDMEM" ./analyzer-leaks wait <fifo.in >fifo.out 2>live.err &
pid=$!
exec 8>fifo.in 7<fifo.out
read -r line <&7 || fail "analyzer-leaks exited before it was ready"
"$DMEM" leaks --format=json --pid "$pid" >live.json 2>live-dmem.err \
  || fail "dmem leaks --pid exited $?: $(cat live-dmem.err)"
state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status")
[ "$state" != t ] && [ "$state" != T ] || fail "process left stopped ($state)"
exec 8>&-
cat <&7 >/dev/null || true
exec 7<&-
wait "$pid" || fail "analyzer-leaks failed after dmem --pid read it"
"$SYSTEM_PYTHON" - live.json <<'PY' || fail "leaks of the live process"
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
assert (s["leaked_blocks"], s["indirect_blocks"]) == (6, 9), s
assert (s["leaked_bytes"], s["indirect_bytes"]) == (2348, 432), s
PY
