#!/bin/sh
# Symbolisation of C++ and of return addresses, from cores and a live
# process: demangled names with the linkage name kept, calls GCC inlined
# expanded into their own frames, file:line of each frame, the same module
# paths for a core and a live process; a call that does not return, at the
# end of a function, names the caller and not the next function.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"
: "${CXX:=g++}"
command -v "$CXX" >/dev/null || skip "no C++ compiler ($CXX)"

# The line of SRC's "line: MARK" comment.
line_of () {
  n=$(grep -n "line: $2\( \|\$\)" "$SRC/$1" | cut -d: -f1)
  [ -n "$n" ] || fail "no 'line: $2' in $1"
  echo "$n"
}
for m in widget-new template-new operator-new inner-new fill-call \
	 leak-inlined-call make-call template-call operator-call inlined-call \
	 deep-new deep-recurse deep-call; do
  v=$(echo "$m" | tr a-z- A-Z_)
  eval "LINE_$v=\$(line_of analyzer-cxx.cc $m)"
  export "LINE_$v"
done

$CXX -O2 -g -fomit-frame-pointer -pthread -o analyzer-cxx \
  "$SRC/analyzer-cxx.cc" || fail "cannot build analyzer-cxx"
kernel_core kernel.core ./analyzer-cxx
gcore_core gcore.core ./analyzer-cxx wait

# The 5 leaks, from the JSON of `dmem leaks` (core or live) in $1.
check_leaks () {
  "$SYSTEM_PYTHON" - "$1" <<'PY'
import json, os, sys
L = {k[5:].lower(): int(v) for k, v in os.environ.items() if k.startswith("LINE_")}
groups = json.load(open(sys.argv[1]))["groups"]
assert [g["kind"] for g in groups] == ["leak"] * 5, groups
by_size = {g["bytes"]: g["frames"] for g in groups}
assert sorted(by_size) == [64, 140, 320, 1000, 3000], groups

def frame(f, function, symbol, line, inlined=False):
    assert f["function"] == function and f["symbol"] == symbol, f
    assert f["inlined"] is inlined, f
    assert f["file"].endswith("/tests/programs/analyzer-cxx.cc"), f
    assert f["line"] == line, (f, line)
    assert f["module"].startswith("/") and f["module"].endswith("/analyzer-cxx"), f
    if inlined:
        assert f["offset"] == 0, f
    else:
        assert f["offset"] > 0, f

for size, frames in by_size.items():
    # libdmem.so is operator new: stacks start at its caller, never in it.
    assert not frames[0]["function"].startswith("operator new"), frames[0]
    assert all(f["module"] is None or "/libstdc++.so" not in f["module"]
               for f in frames), frames
    assert all(f["module"].startswith("/") or f["module"] == "[vdso]"
               for f in frames if f["module"] is not None), frames
    fns = [f["function"] for f in frames]
    assert "main" in fns, fns

# A static member function in a namespace, a template, an operator.
w = by_size[64]
frame(w[0], "ns::Widget::make(int)", "_ZN2ns6Widget4makeEi", L["widget_new"])
frame(w[1], "leak_all()", "_ZL8leak_allv", L["make_call"])
t = by_size[320]
frame(t[0], "long* ns::make_array<long>(int)", "_ZN2ns10make_arrayIlEEPT_i",
      L["template_new"])
frame(t[1], "leak_all()", "_ZL8leak_allv", L["template_call"])
o = by_size[1000]
frame(o[0], "ns::Factory::operator()(unsigned long)", "_ZN2ns7FactoryclEm",
      L["operator_new"])
frame(o[1], "leak_all()", "_ZL8leak_allv", L["operator_call"])
# Two calls inlined into leak_inlined: one PC, three frames.
i = by_size[3000]
frame(i[0], "alloc_chars", "alloc_chars", L["inner_new"], inlined=True)
frame(i[1], "fill_buffer", "fill_buffer", L["fill_call"], inlined=True)
frame(i[2], "ns::leak_inlined(unsigned long)", "_ZN2ns12leak_inlinedEm",
      L["leak_inlined_call"])
assert i[0]["pc"] == i[1]["pc"] == i[2]["pc"], i
frame(i[3], "leak_all()", "_ZL8leak_allv", L["inlined_call"])
# Calls inlined 41 deep: the innermost 32 shown, the function's line the
# call site of the outermost.
d = by_size[140]
for k in range(32):
    frame(d[k], "deep<%d>" % k, "deep<%d>" % k,
          L["deep_new"] if k == 0 else L["deep_recurse"], inlined=True)
frame(d[32], "ns::leak_deep()", "_ZN2ns9leak_deepEv", L["deep_call"])
assert len({f["pc"] for f in d[0:33]}) == 1, d
PY
}

for core in kernel.core gcore.core; do
  "$DMEM" leaks --format=json "$core" >leaks.json 2>leaks.err \
    || fail "dmem leaks $core exited $?: $(cat leaks.err)"
  check_leaks leaks.json || fail "C++ leaks of $core"
  cp leaks.json "$core.leaks.json"

  "$DMEM" leaks "$core" >leaks.txt || fail "dmem leaks (text) $core"
  cc_line () { echo "(.*/tests/programs/analyzer-cxx.cc:$1) \[analyzer-cxx\]"; }
  for re in \
    "#0 ns::Widget::make(int)+0x[0-9a-f]* $(cc_line $LINE_WIDGET_NEW)" \
    "#0 long\* ns::make_array<long>(int)+0x[0-9a-f]* $(cc_line $LINE_TEMPLATE_NEW)" \
    "#0 ns::Factory::operator()(unsigned long)+0x[0-9a-f]* $(cc_line $LINE_OPERATOR_NEW)" \
    "#0 alloc_chars (inlined) $(cc_line $LINE_INNER_NEW)" \
    "#1 fill_buffer (inlined) $(cc_line $LINE_FILL_CALL)" \
    "#2 ns::leak_inlined(unsigned long)+0x[0-9a-f]* $(cc_line $LINE_LEAK_INLINED_CALL)" \
    "#3 leak_all()+0x[0-9a-f]* $(cc_line $LINE_INLINED_CALL)"; do
    grep -q "^    $re\$" leaks.txt \
      || fail "text report of $core: no line '$re' in: $(cat leaks.txt)"
  done

  # Flame graphs: demangled names, the inlined calls as frames of their own.
  "$DMEM" leaks --format=folded "$core" >leaks.folded || fail "folded $core"
  grep -q '^leak;.*;main;leak_all();ns::leak_inlined(unsigned long);fill_buffer;alloc_chars 3000$' \
    leaks.folded || fail "folded output of $core: $(cat leaks.folded)"
done

# Module paths as a core and a live process name them: every frame of every
# stack of the program waiting for input, gcore'd above and read live now,
# is the same but for its PC.
rm -f fifo.in fifo.out; mkfifo fifo.in fifo.out
LD_PRELOAD="$LIBDMEM" ./analyzer-cxx wait <fifo.in >fifo.out 2>live.err &
pid=$!
exec 8>fifo.in 7<fifo.out
read -r line <&7 || fail "analyzer-cxx exited before it was ready"
"$DMEM" leaks --format=json --pid "$pid" >live-leaks.json 2>live-dmem.err \
  || fail "dmem leaks --pid exited $?: $(cat live-dmem.err)"
"$DMEM" stacks --format=json --pid "$pid" >live-stacks.json 2>>live-dmem.err \
  || fail "dmem stacks --pid exited $?: $(cat live-dmem.err)"
exec 8>&-
cat <&7 >/dev/null || true
exec 7<&-
wait "$pid" || fail "analyzer-cxx failed after dmem --pid read it"
check_leaks live-leaks.json || fail "C++ leaks of the live process"
"$DMEM" stacks --format=json gcore.core >gcore-stacks.json \
  || fail "dmem stacks gcore.core"
"$SYSTEM_PYTHON" - gcore-stacks.json live-stacks.json <<'PY' \
  || fail "frames of the core and of the live process differ"
import json, sys
def frames(path):
    keys = ("function", "symbol", "offset", "module", "file", "line", "inlined")
    return sorted((g["bytes"], [tuple(f[k] for k in keys) for f in g["frames"]])
                  for g in json.load(open(path))["groups"])
core, live = frames(sys.argv[1]), frames(sys.argv[2])
assert core == live, (core, live)
mods = {f[3] for g in core for f in g[1]}
assert all(m is None or m.startswith("/") or m == "[vdso]" for m in mods), mods
assert any(m and m.endswith("/analyzer-cxx") for m in mods), mods
PY

# A return address that is the first byte of the next function: the
# caller's last instruction is a call that does not return.
build analyzer-noreturn -falign-functions=1 -fno-toplevel-reorder \
  -fno-reorder-functions
addr_size () {
  nm -S analyzer-noreturn | awk -v s="$1" '$4 == s { print $1, $2 }'
}
set -- $(addr_size calls_noreturn) $(addr_size next_function)
[ $# -eq 4 ] || fail "nm does not show calls_noreturn and next_function"
[ $((0x$1 + 0x$2)) -eq $((0x$3)) ] \
  || fail "next_function does not follow calls_noreturn (the build changed?)"
NORETURN_SIZE=$((0x$2)) NORETURN_LINE=$(line_of analyzer-noreturn.c noreturn-call)
export NORETURN_SIZE NORETURN_LINE
kernel_core noreturn.core ./analyzer-noreturn
"$DMEM" stacks --format=json noreturn.core >noreturn.json 2>noreturn.err \
  || fail "dmem stacks noreturn.core exited $?: $(cat noreturn.err)"
"$SYSTEM_PYTHON" - noreturn.json <<'PY' || fail "the frame of a call that does not return"
import json, os, sys
g = [g for g in json.load(open(sys.argv[1]))["groups"] if g["bytes"] == 4321]
assert len(g) == 1, g
f = g[0]["frames"]
assert f[0]["function"] == "alloc_then_abort", f
c = f[1]
# PC is next_function's entry; the call before it is calls_noreturn's.
assert c["function"] == c["symbol"] == "calls_noreturn", c
assert c["offset"] == int(os.environ["NORETURN_SIZE"]), c
assert c["file"].endswith("/tests/programs/analyzer-noreturn.c"), c
assert c["line"] == int(os.environ["NORETURN_LINE"]), c
assert c["inlined"] is False and f[2]["function"] == "main", f
PY
"$DMEM" stacks noreturn.core >noreturn.txt || fail "dmem stacks (text) noreturn.core"
grep -q "^    #1 calls_noreturn+0x$(printf %x "$NORETURN_SIZE") (.*analyzer-noreturn.c:$NORETURN_LINE) \[analyzer-noreturn\]\$" \
  noreturn.txt || fail "text frame of a call that does not return: $(cat noreturn.txt)"
