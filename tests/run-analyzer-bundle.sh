#!/bin/sh
# Support bundles: dmem bundle of a kernel core and of a live process holds
# the core, the modules by build ID, their debug info and a manifest; every
# subcommand takes the bundle as TARGET and symbolises from it once the
# program is gone; tar --zstd opens it by hand.  Files of another build (in
# -e, --sysroot or the bundle itself) are never used silently.  Broken
# bundles: one line, exit 2.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"
command -v zstd >/dev/null || skip "zstd is not installed"

mkdir run
build analyzer-leaks
mv analyzer-leaks run/
kernel_core leaks.core ./run/analyzer-leaks
"$DMEM" leaks --format=json leaks.core >core.json 2>core.err \
  || fail "leaks of the core: $(cat core.err)"

# ---- the bundle, made where the program ran ----
"$DMEM" bundle leaks.core -o leaks.dmem >bundle.out 2>bundle.err \
  || fail "dmem bundle exited $?: $(cat bundle.err)"
[ ! -s bundle.err ] || fail "dmem bundle warned: $(cat bundle.err)"
grep -q "^leaks.dmem: the core ($(wc -c <leaks.core) bytes)" bundle.out \
  || fail "bundle summary: $(cat bundle.out)"
tar --zstd -tf leaks.dmem >members || fail "tar --zstd cannot list the bundle"
expect_eq "first member" dmem-bundle.json "$(head -n 1 members)"
mkdir unpacked
tar --zstd -xf leaks.dmem -C unpacked || fail "tar --zstd -x"
cmp -s unpacked/core leaks.core || fail "the bundled core is not the core"
exe_id=$(LC_ALL=C readelf -n run/analyzer-leaks | sed -n 's/.*Build ID: //p')
libc=$(ldd run/analyzer-leaks | sed -n 's/.*libc.so.6 => \([^ ]*\).*/\1/p')
libc_id=$(LC_ALL=C readelf -n "$libc" | sed -n 's/.*Build ID: //p')
for id in "$exe_id" "$libc_id"; do
  f=build-id/$(echo "$id" | cut -c1-2)/$(echo "$id" | cut -c3-)
  grep -qx "$f" members || fail "no member $f: $(cat members)"
done
cmp -s unpacked/build-id/$(echo "$exe_id" | cut -c1-2)/$(echo "$exe_id" | cut -c3-) \
  run/analyzer-leaks || fail "the bundled program is not the program"
# libc6-dbg's separate debug info of libc, by build ID.
libc_debug=/usr/lib/debug/.build-id/$(echo "$libc_id" | cut -c1-2)/$(echo "$libc_id" | cut -c3-).debug
if [ -e "$libc_debug" ]; then
  grep -qx "build-id/$(echo "$libc_id" | cut -c1-2)/$(echo "$libc_id" | cut -c3-).debug" members \
    || fail "libc's debug file is not bundled: $(cat members)"
fi
"$SYSTEM_PYTHON" - unpacked/dmem-bundle.json "$exe_id" "$libc_id" <<'PY' || fail "manifest"
import json, os, sys
m = json.load(open(sys.argv[1]))
assert m["dmem_bundle"] == 1, m
for k in ("created", "host", "kernel", "glibc"):
    assert m[k], k
assert m["host"] == os.uname().nodename and os.uname().release in m["kernel"], m
assert m["program"]["command_line"].startswith("./run/analyzer-leaks"), m["program"]
assert m["program"]["name"] == "analyzer-leaks", m["program"]
ids = {x["build_id"]: x for x in m["modules"]}
assert sys.argv[2] in ids and ids[sys.argv[2]]["file"], ids
assert sys.argv[3] in ids and ids[sys.argv[3]]["file"], ids
ld = [x for x in m["modules"] if "ld-linux" in x["name"]]
assert ld and ld[0]["file"], m["modules"]
assert m["core"]["bytes"] == os.path.getsize("leaks.core"), m["core"]
PY

# ---- analysed elsewhere: the program is gone ----
mv run/analyzer-leaks analyzer-leaks.kept
for cmd in stacks leaks stats mallinfo verify; do
  "$DMEM" $cmd leaks.dmem >$cmd.out 2>$cmd.err \
    || fail "dmem $cmd on the bundle exited $?: $(cat $cmd.err)"
done
"$DMEM" leaks --format=json leaks.dmem >bundle.json 2>bundle.err \
  || fail "leaks --format=json of the bundle: $(cat bundle.err)"
[ ! -s bundle.err ] || fail "the bundle's leaks warned: $(cat bundle.err)"
grep -q "leak_in_worker_b+0x[0-9a-f]* (.*analyzer-leaks.c:[0-9]*) \[analyzer-leaks\]" leaks.out \
  || fail "no function and file:line from the bundle: $(head -n 8 leaks.out)"
# The same report as from the core with the program in place.
"$SYSTEM_PYTHON" - core.json bundle.json <<'PY' || fail "bundle and core differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["summary"] == b["summary"], (a["summary"], b["summary"])
assert a["groups"] == b["groups"]
PY
# Without the bundle the program's frames are bare: the check above can fail.
"$DMEM" leaks leaks.core >bare.out 2>bare.err || fail "leaks of the bare core"
grep -q "no ELF file found" bare.err || fail "no warning for the missing program"
! grep -q leak_in_worker_b bare.out || fail "symbols without the program?"
"$DMEM" explain 0x1 leaks.dmem >/dev/null 2>&1 || fail "explain on a bundle"
"$DMEM" diff leaks.dmem leaks.dmem >diff.out 2>&1 || fail "diff of two bundles: $(cat diff.out)"

# ---- files of another build: named, and their frames say so ----
# The same code under another build ID, as a rebuild would have.
build analyzer-leaks -Wl,--build-id=0x0123456789abcdef0123456789abcdef01234567
mv analyzer-leaks other
"$DMEM" leaks -e other leaks.core >e.out 2>e.err || fail "leaks -e other: $(cat e.err)"
grep -q "module .*analyzer-leaks: .*other (found by -e or by build ID) has build ID [0-9a-f]*, the core's is $exe_id" e.err \
  || fail "no warning naming the -e file of another build: $(cat e.err)"
grep -q "\[analyzer-leaks: build-id mismatch\]" e.out \
  || fail "the frames do not say so: $(head -n 6 e.out)"
"$DMEM" leaks --format=json -e other leaks.core 2>/dev/null >e.json
"$SYSTEM_PYTHON" - e.json <<'PY' || fail "-e mismatch in JSON"
import json, sys
r = json.load(open(sys.argv[1]))
assert any("build ID" in w and "other" in w for w in r["warnings"]), r["warnings"]
fr = [f for g in r["groups"] for f in g["frames"] if f["module"].endswith("analyzer-leaks")]
assert fr and all(f.get("build_id_mismatch") for f in fr), fr
others = [f for g in r["groups"] for f in g["frames"] if "libc" in (f["module"] or "")]
assert others and not any(f.get("build_id_mismatch") for f in others), others
PY
mkdir -p "sysroot$PWD/run"
cp other "sysroot$PWD/run/analyzer-leaks"
"$DMEM" leaks --sysroot=sysroot leaks.core >s.out 2>s.err || fail "--sysroot: $(cat s.err)"
grep -q "(under --sysroot) has build ID" s.err \
  || fail "no warning for the sysroot's file of another build: $(cat s.err)"
grep -q "build-id mismatch\]" s.out || fail "--sysroot frames not marked"
# The right file beside a wrong one: the right one is used, no mark.
cp analyzer-leaks.kept run/analyzer-leaks
"$DMEM" leaks --sysroot=sysroot leaks.core >s2.out 2>s2.err || fail "--sysroot 2"
! grep -q "build-id mismatch\]" s2.out || fail "the matching file was not preferred"
grep -q "leak_in_worker_b" s2.out || fail "no symbols from the matching file"
rm run/analyzer-leaks

# ---- a bundle of another core: its files are not the core's ----
build analyzer-possible
kernel_core possible.core ./analyzer-possible
rm analyzer-possible
mkdir mixed
cp unpacked/dmem-bundle.json mixed/
cp possible.core mixed/core
(cd unpacked && tar -cf - build-id) | (cd mixed && tar -xf -)
(cd mixed && tar --zstd -cf ../mixed.dmem dmem-bundle.json core build-id) \
  || fail "cannot make the mixed bundle"
"$DMEM" leaks mixed.dmem >mixed.out 2>mixed.err || fail "mixed bundle exited $?: $(cat mixed.err)"
grep -q "module .*analyzer-possible: build ID [0-9a-f]* is not in the bundle, nor found on this machine" mixed.err \
  || fail "the missing module is not named: $(cat mixed.err)"
# A member that is not what its build ID name says.
mkdir liar
cp -r unpacked/. liar/
cp other liar/build-id/$(echo "$exe_id" | cut -c1-2)/$(echo "$exe_id" | cut -c3-)
(cd liar && tar --zstd -cf ../liar.dmem dmem-bundle.json core build-id)
"$DMEM" leaks liar.dmem >liar.out 2>liar.err || fail "liar bundle: $(cat liar.err)"
grep -q "bundle:build-id/.* (in the bundle) has build ID" liar.err \
  || fail "a bundled file of another build is not named: $(cat liar.err)"
grep -q "build-id mismatch\]" liar.out || fail "the liar's frames are not marked"

# ---- broken bundles: one line, exit 2 ----
bad () {  # bad NAME WORDS: dmem leaks NAME exits 2 with one line matching WORDS
  set +e
  "$DMEM" leaks "$1" >bad.out 2>bad.err
  st=$?
  set -e
  expect_eq "$1: exit status" 2 "$st"
  expect_eq "$1: lines on stderr" 1 "$(wc -l <bad.err)"
  grep -q "$2" bad.err || fail "$1: $(cat bad.err)"
}
size=$(wc -c <leaks.dmem)
head -c $((size / 2)) leaks.dmem >half.dmem
bad half.dmem "half.dmem: .*truncated"
head -c 100 leaks.dmem >tiny.dmem
bad tiny.dmem "tiny.dmem: .*truncated"
cp leaks.dmem flipped.dmem
printf 'XXXXXXXXXXXXXXXX' | dd of=flipped.dmem bs=1 seek=$((size / 3)) conv=notrunc 2>/dev/null
bad flipped.dmem "flipped.dmem: corrupt bundle: corrupt zstd data"
(cd unpacked && tar --zstd -cf ../nocore.dmem dmem-bundle.json build-id)
bad nocore.dmem "nocore.dmem: corrupt bundle: no core inside"
(cd unpacked && tar --zstd -cf ../notbundle.tar.zst core dmem-bundle.json)
bad notbundle.tar.zst "notbundle.tar.zst: zstd data, but neither a core nor a dmem bundle inside"
zstd -q -d -c leaks.dmem >plain.tar
bad_header=$(( $(grep -abo 'ustar' plain.tar | sed -n 2p | cut -d: -f1) - 257 ))
printf '9' | dd of=plain.tar bs=1 seek=$((bad_header + 124)) conv=notrunc 2>/dev/null
zstd -q -c plain.tar >badheader.dmem
bad badheader.dmem "badheader.dmem: corrupt bundle: member 2 has a broken tar header"

# ---- a live process: dmem writes its core itself ----
cp analyzer-leaks.kept run/analyzer-leaks
rm -f fifo.in fifo.out; mkfifo fifo.in fifo.out
LD_PRELOAD="$LIBDMEM" ./run/analyzer-leaks wait <fifo.in >fifo.out 2>live.err &
pid=$!
exec 8>fifo.in 7<fifo.out
read -r line <&7 || fail "analyzer-leaks exited before it was ready"
"$DMEM" bundle --pid "$pid" -o live.dmem >live-bundle.out 2>live-bundle.err \
  || fail "dmem bundle --pid exited $?: $(cat live-bundle.err)"
"$DMEM" leaks --format=json --pid "$pid" >live.json 2>/dev/null || fail "leaks --pid"
state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status")
[ "$state" != t ] && [ "$state" != T ] || fail "process left stopped ($state)"
exec 8>&-
cat <&7 >/dev/null || true
exec 7<&-
wait "$pid" || fail "analyzer-leaks failed after dmem bundle --pid read it"
rm run/analyzer-leaks
"$DMEM" leaks --format=json live.dmem >live-bundle.json 2>live-bundle.err \
  || fail "leaks of the live bundle: $(cat live-bundle.err)"
"$SYSTEM_PYTHON" - live.json live-bundle.json <<'PY' || fail "live bundle differs from the live process"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["summary"] == b["summary"], (a["summary"], b["summary"])
assert [g["frames"] for g in a["groups"]] == [g["frames"] for g in b["groups"]]
assert any(f["function"] == "leak_in_worker_b" and f["line"] for g in b["groups"] for f in g["frames"])
PY
tar --zstd -xOf live.dmem dmem-bundle.json | grep -q "\"command_line\": \"./run/analyzer-leaks wait\"" \
  || fail "the live bundle's command line"

# ---- usage ----
set +e
"$DMEM" bundle leaks.core >/dev/null 2>usage.err; st=$?
set -e
expect_eq "bundle without -o" 64 "$st"
"$DMEM" bundle --help | grep -q "^Usage: dmem bundle" || fail "bundle --help"
set +e
"$DMEM" bundle missing.core -o x.dmem 2>missing.err; st=$?
set -e
expect_eq "bundle of a missing core" 2 "$st"
[ ! -e x.dmem ] || fail "a failed bundle left its file"
note "ok"
