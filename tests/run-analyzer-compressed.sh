#!/bin/sh
# Compressed cores are read as they are, told by their magic whatever
# their name: zstd, xz, lz4 and gzip give the report of the uncompressed
# core; bzip2 (not read), truncated and corrupted ones: one line, exit 2.
# coredump:MATCH finds a core as systemd-coredump names and compresses it
# (core.COMM.UID.BOOTID.PID.USEC.zst) in $DMEM_COREDUMP_DIR.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"
for tool in zstd xz lz4 gzip bzip2; do
  command -v $tool >/dev/null || skip "$tool is not installed"
done

build analyzer-leaks
kernel_core leaks.core ./analyzer-leaks
"$DMEM" leaks --format=json leaks.core >plain.json 2>plain.err \
  || fail "leaks of the core: $(cat plain.err)"

zstd -q -c leaks.core >leaks.core.zst
xz -c leaks.core >leaks.core.xz
lz4 -q -c leaks.core >leaks.core.lz4
gzip -c leaks.core >leaks.core.gz
# A name that says nothing: the magic decides.
cp leaks.core.xz misnamed.core
for f in leaks.core.zst leaks.core.xz leaks.core.lz4 leaks.core.gz misnamed.core; do
  "$DMEM" leaks --format=json "$f" >c.json 2>c.err || fail "leaks $f exited $?: $(cat c.err)"
  [ ! -s c.err ] || fail "$f: $(cat c.err)"
  cmp -s plain.json c.json || fail "$f: not the report of the uncompressed core"
  "$DMEM" stats "$f" >/dev/null || fail "stats $f"
done
# Concatenated frames (zstd, gzip) decode as one stream.
size=$(wc -c <leaks.core)
head -c $((size / 2)) leaks.core | zstd -q -c >cat.zst
tail -c +$((size / 2 + 1)) leaks.core | zstd -q -c >>cat.zst
"$DMEM" leaks --format=json cat.zst >c.json 2>c.err || fail "concatenated zstd: $(cat c.err)"
cmp -s plain.json c.json || fail "concatenated zstd frames"

bad () {  # bad FILE WORDS: exit 2, one line on stderr matching WORDS
  set +e
  "$DMEM" leaks "$1" >bad.out 2>bad.err
  st=$?
  set -e
  expect_eq "$1: exit status" 2 "$st"
  expect_eq "$1: lines on stderr" 1 "$(wc -l <bad.err)"
  grep -q "$2" bad.err || fail "$1: $(cat bad.err)"
}
bzip2 -c leaks.core >leaks.core.bz2
bad leaks.core.bz2 "leaks.core.bz2: bzip2 compression is not read (zstd, xz, lz4 and gzip are)"
for f in leaks.core.zst leaks.core.xz leaks.core.lz4 leaks.core.gz; do
  n=$(wc -c <$f)
  head -c $((n * 2 / 3)) $f >cut.$f
  bad cut.$f "cut.$f: .*truncated"
  cp $f flip.$f
  printf 'XXXXXXXXXXXXXXXXXXXXXXXX' | dd of=flip.$f bs=1 seek=$((n / 2)) conv=notrunc 2>/dev/null
  bad flip.$f "flip.$f: .*\(corrupt\|truncated\|checksum\)"
done
printf 'hello' | zstd -q -c >hello.zst
bad hello.zst "hello.zst: zstd data, but neither a core nor a dmem bundle inside"

# ---- systemd-coredump's store ----
mkdir coredump
boot=0123456789abcdef0123456789abcdef
pid=4242
zstd -q -c leaks.core >"coredump/core.analyzer-leaks.0.$boot.$pid.1700000000000000.zst"
# An older core of the same program and another program's.
printf 'old' >"coredump/core.analyzer-leaks.0.$boot.1.1600000000000000.zst"
cp leaks.core.xz "coredump/core.other.0.$boot.77.1800000000000000.xz"
DMEM_COREDUMP_DIR=$PWD/coredump "$DMEM" leaks --format=json coredump:analyzer-leaks \
  >cd.json 2>cd.err || fail "coredump:analyzer-leaks: $(cat cd.err)"
cmp -s plain.json cd.json || fail "coredump:analyzer-leaks is not the newest core of it"
DMEM_COREDUMP_DIR=$PWD/coredump "$DMEM" leaks --format=json "coredump:$pid" \
  >cd.json 2>cd.err || fail "coredump:$pid: $(cat cd.err)"
cmp -s plain.json cd.json || fail "coredump:PID"
set +e
DMEM_COREDUMP_DIR=$PWD/coredump "$DMEM" leaks coredump:nosuch >/dev/null 2>cd.err
st=$?
set -e
expect_eq "coredump:nosuch" 2 "$st"
grep -q "coredump:nosuch: no core of that PID or program in $PWD/coredump" cd.err \
  || fail "coredump:nosuch: $(cat cd.err)"
if command -v coredumpctl >/dev/null; then
  note "coredumpctl is installed, but systemd-coredump is not asked to store a core here (it would need core_pattern)"
else
  note "systemd-coredump is not installed: its naming and compression are tested with a kernel core"
fi
note "ok"
