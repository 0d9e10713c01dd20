#!/bin/sh
# dmem verify finds the heap errors the runtime never saw, at exit: a live
# block overrun by one byte (named with its allocation stack and the
# offset), blocks written after they were freed into the quarantine (each
# with its allocation and free stacks and the offset of the first changed
# byte; the runtime only looks at their poison when they leave it), and a
# clean quarantine verifies OK.  Kernel cores and live processes (dmem
# verify --pid); gdb and drgn print what dmem prints; damaged quarantine
# headers and rings are reported or skipped, never a crash.
. "$top_srcdir/tests/test-lib.sh"
. "$top_srcdir/tests/readers-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
build analyzer-quarantine

# verify_both BASE STATUS TARGET...: dmem verify (text, then JSON) into
# BASE.txt and BASE.json; both must exit STATUS.
verify_both () {
  base=$1 want=$2; shift 2
  for f in txt json; do
    s=0
    "$DMEM" verify --format=$([ $f = txt ] && echo text || echo json) "$@" \
      >"$base.$f" 2>"$base.$f.err" || s=$?
    expect_eq "exit status of dmem verify --format=$f ($base)" "$want" "$s"
  done
}

# check_json BASE MODE: BASE.json is the report of analyzer-quarantine MODE.
check_json () {
  "$SYSTEM_PYTHON" - "$1.json" "$2" <<'PY' || fail "verify report of $1 ($2)"
import json, sys
v, mode = json.load(open(sys.argv[1])), sys.argv[2]
fns = lambda frames: [f["function"] for f in frames]
assert v["warnings"] == [], v["warnings"]
# The runtime never saw these: nothing is in its error log.
assert v["caught_total"] == 0 and v["caught"] == [], v
if mode == "clean":
    assert v["ok"] is True and v["errors"] == [], v
    assert v["quarantined_checked"] == 10, v
    sys.exit(0)
assert v["ok"] is False, v
for e in v["errors"]:
    block, address = int(e["block"], 16), int(e["address"], 16)
    assert address == block + 48 + e["offset"], e
    assert e["shard"] is None, e
    assert fns(e["frames"])[:2] == [
        "allocate_kept" if mode == "overrun" else "allocate_victim", "main"], e
if mode == "overrun":
    assert v["quarantined_checked"] == 0, v
    [e] = v["errors"]
    assert e["kind"] == "overrun" and e["size"] == 100 and e["offset"] == 100, e
    assert e["free_frames"] == [], e
else:
    assert v["quarantined_checked"] == 2, v
    a, b = sorted(v["errors"], key=lambda e: -e["size"])
    assert (a["kind"], a["size"], a["offset"]) == ("use-after-free", 100, 5), a
    # One past the end: the first byte of the freed block's guard.
    assert (b["kind"], b["size"], b["offset"]) == ("use-after-free", 48, 48), b
    for e in a, b:
        assert fns(e["free_frames"])[:2] == ["free_victim", "main"], e
PY
}

# check_text BASE MODE: BASE.txt says what BASE.json says, as a person
# reads it: the block, the offset, each stack under its title.
check_text () {
  t=$1.txt
  case $2 in
  clean)
    grep -q '^OK: [0-9]* blocks and 10 freed blocks in the quarantine checked, 0 problems in the lists, guards and quarantine$' "$t" ||
      fail "text of $1: $(cat "$t")" ;;
  overrun)
    grep -q '^overrun of the 100-byte block at 0x[0-9a-f]*: offset 100 changed (guard byte 0, address 0x[0-9a-f]*)$' "$t" &&
      [ "$(grep -A1 '^  allocated at:$' "$t" | grep -c '^    #0 allocate_kept+')" = 1 ] &&
      ! grep -q '^  freed at:$' "$t" &&
      grep -q '^FAILED: [0-9]* blocks checked, 1 problems in the lists and guards$' "$t" ||
      fail "text of $1: $(cat "$t")" ;;
  uaf)
    for what in '100-byte block at 0x[0-9a-f]*: offset 5 changed after it was freed (address' \
		'48-byte block at 0x[0-9a-f]*: offset 48 changed after it was freed (guard byte 0, address'; do
      grep -q "^use-after-free of the $what 0x[0-9a-f]*)\$" "$t" ||
	fail "text of $1 ($what): $(cat "$t")"
    done
    # Each block: its allocation stack, then its free stack.
    [ "$(grep -c '^  allocated at:$' "$t")" = 2 ] &&
      [ "$(grep -A1 '^  allocated at:$' "$t" | grep -c '^    #0 allocate_victim+')" = 2 ] &&
      [ "$(grep -A1 '^  freed at:$' "$t" | grep -c '^    #0 free_victim+')" = 2 ] &&
      grep -q '^FAILED: [0-9]* blocks and 2 freed blocks in the quarantine checked, 2 problems in the lists, guards and quarantine$' "$t" ||
      fail "text of $1: $(cat "$t")" ;;
  esac
  # The text names the addresses the JSON does.
  "$SYSTEM_PYTHON" - "$1.json" "$t" <<'PY' || fail "text and JSON of $1 differ"
import json, sys
v, text = json.load(open(sys.argv[1])), open(sys.argv[2]).read()
for e in v["errors"]:
    assert "block at %s: offset %d changed" % (e["block"], e["offset"]) in text, e
    assert "address %s)" % e["address"] in text, e
PY
}

# Kernel cores at exit: the runtime said nothing, verify finds it all.
DMEM_OPTS=quarantine=1048576; export DMEM_OPTS
for mode in overrun uaf clean; do
  kernel_core $mode.core ./analyzer-quarantine $mode
  if grep -q '^dmem: ' kernel_core.out; then
    fail "$mode: the runtime saw an error: $(cat kernel_core.out)"
  fi
  status=1
  [ $mode = clean ] && status=0
  verify_both $mode $status -e ./analyzer-quarantine $mode.core
  check_json $mode $mode
  check_text $mode $mode
done

# Live processes, read through ptrace: the same reports.
for mode in overrun uaf clean; do
  start_live analyzer-quarantine $mode wait
  status=1
  [ $mode = clean ] && status=0
  verify_both live-$mode $status --pid "$live_pid"
  stop_live
  check_json live-$mode $mode
  check_text live-$mode $mode
done
unset DMEM_OPTS

# gdb and drgn on the use-after-free core print what dmem prints.
if [ -n "${GDB:-}" ] && [ -x "$GDB" ]; then
  gdb_dmem gdb.all ./analyzer-quarantine uaf.core -- \
    'echo @@txt\n' 'dmem verify' 'echo @@json\n' 'dmem verify --format=json'
  awk '/^@@/ { out = "gdb." substr($0, 3); next } out { print > out }' gdb.all
  for f in txt json; do
    cmp -s uaf.$f gdb.$f || fail "gdb's verify ($f) differs: $(diff uaf.$f gdb.$f | head -n 6)"
  done
  grep -q 'dmem: verify found heap errors' gdb.all.err ||
    fail "gdb does not say verify found heap errors: $(cat gdb.all.err)"
else
  note "gdb is not installed: its verify is not compared"
fi
DRGN=${DRGN:-/usr/bin/drgn}
if [ -x "$DRGN" ]; then
  for f in text json; do
    drgn_dmem drgn.$f -c uaf.core -- verify --format=$f
    expect_eq "drgn verify --format=$f status" 1 "$drgn_status"
  done
  cmp -s uaf.txt drgn.text || fail "drgn's verify differs: $(diff uaf.txt drgn.text | head -n 6)"
  cmp -s uaf.json drgn.json || fail "drgn's verify (json) differs: $(diff uaf.json drgn.json | head -n 6)"
else
  note "drgn is not installed: its verify is not compared"
fi

# Damaged quarantines: a header's magic or size, a ring slot pointing
# anywhere, random bytes in the quarantined blocks' headers and the rings.
# verify reports what it can check and never crashes or hangs.
"$SYSTEM_PYTHON" - uaf.core uaf.json "$DMEM" "$top_srcdir/tests/analyzer-mutate.py" <<'PY' || fail "verify of damaged quarantines"
import importlib.util, json, random, struct, subprocess, sys
core, report, dmem, helper = sys.argv[1:5]
spec = importlib.util.spec_from_file_location("mutate", helper)
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
data = open(core, "rb").read()
segs = m.segments(data)
blocks = sorted((int(e["block"], 16), e["size"]) for e in json.load(open(report))["errors"])
# The ring slots: writable words holding a quarantined header's address.
slots = [o for o in m.link_words(data, segs, blocks)]
assert len(slots) >= 2, slots

def verify(d, name):
    open(name, "wb").write(d)
    r = subprocess.run(["timeout", "-s", "KILL", "60", dmem, "verify",
                        "--format=json", name], capture_output=True)
    assert r.returncode in (0, 1), (name, r.returncode, r.stderr[-300:])
    return json.loads(r.stdout)

def kinds(v):
    return sorted(e["kind"] for e in v["errors"])

(h48, _), (h100, _) = blocks
def damaged(header, off, value):
    d = bytearray(data)
    struct.pack_into("<Q", d, m.file_offset(segs, header + off), value)
    return d

v = verify(damaged(h100, m.OFF_SIZE, 2**63), "size.core")
assert kinds(v) == ["bad-size", "use-after-free"], v["errors"]
bad = [e for e in v["errors"] if e["kind"] == "bad-size"][0]
assert bad["address"] == hex(h100) and bad["size"] is None, bad
assert [f["function"] for f in bad["free_frames"]][:1] == ["free_victim"], bad
v = verify(damaged(h100, m.OFF_MAGIC, 0), "magic.core")
assert kinds(v) == ["bad-magic", "use-after-free"], v["errors"]
# Sizes up to the end of the mapping are read, poison or not.
v = verify(damaged(h100, m.OFF_SIZE, 4096 * 64), "long.core")
assert kinds(v) in (["bad-size", "use-after-free"], ["use-after-free"] * 2), v["errors"]

rng = random.Random(1)
wild = [0, 8, 0x10, 2**64 - 8, 2**63, h48, h48 + 8, h100 + 4096]
for i in range(120):
    d = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        if rng.randrange(2):
            struct.pack_into("<Q", d, rng.choice(slots), rng.choice(wild + [rng.getrandbits(64)]))
        else:
            header = rng.choice(blocks)[0]
            o = m.file_offset(segs, header + rng.randrange(48 + 8))
            d[o] = rng.randrange(256)
    verify(d, "fuzz.core")
PY
exit 0
