#!/bin/sh
# Compressed debug info (SHF_COMPRESSED, as Debian's -dbg packages ship it)
# is expanded once into $XDG_CACHE_HOME/dmem, named by build ID, and read
# from there after: the same report with and without the copy; a damaged
# copy is made again; without a cache (an unwritable $XDG_CACHE_HOME), and
# for a bundle's debug file, the copy is an unlinked temporary file.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"
command -v objcopy >/dev/null || skip "objcopy (binutils) is missing"
command -v strace >/dev/null || skip "strace is missing"

# The program's DWARF in a zlib-compressed debug file under a sysroot's
# /usr/lib/debug/.build-id, the program there stripped.
build analyzer-classic
id=$("$SYSTEM_PYTHON" - analyzer-classic <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
shoff, = struct.unpack_from("<Q", d, 0x28)
shentsize, shnum = struct.unpack_from("<HH", d, 0x3a)
for i in range(shnum):
    typ, = struct.unpack_from("<I", d, shoff + i * shentsize + 4)
    off, size = struct.unpack_from("<QQ", d, shoff + i * shentsize + 0x18)
    if typ == 7:   # SHT_NOTE: namesz, descsz, type, "GNU\0", desc
        namesz, descsz, ntype = struct.unpack_from("<III", d, off)
        if ntype == 3:
            print(d[off + 12 + 4:off + 16 + descsz].hex())
PY
)
[ -n "$id" ] || fail "analyzer-classic has no build ID"
first=$(printf %s "$id" | cut -c1-2)
rest=$(printf %s "$id" | cut -c3-)
debug=sysroot/usr/lib/debug/.build-id/$first/$rest.debug
mkdir -p "sysroot$PWD" "${debug%/*}"
objcopy --only-keep-debug --compress-debug-sections=zlib analyzer-classic \
  "$debug" || fail "objcopy cannot write the debug file"
strip --strip-debug -o "sysroot$PWD/analyzer-classic" analyzer-classic
kernel_core kernel.core ./analyzer-classic
rm analyzer-classic   # its DWARF only in the debug file now

# Whether FILE has a compressed section (SHF_COMPRESSED).
compressed () {
  "$SYSTEM_PYTHON" - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
shoff, = struct.unpack_from("<Q", d, 0x28)
shentsize, shnum = struct.unpack_from("<HH", d, 0x3a)
flags = [struct.unpack_from("<Q", d, shoff + i * shentsize + 8)[0]
         for i in range(shnum)]
sys.exit(0 if any(f & 0x800 for f in flags) else 1)
PY
}
compressed "$debug" || fail "objcopy did not compress the debug sections"

leaks () { "$DMEM" leaks --format=json --sysroot "$PWD/sysroot" kernel.core; }
# The leak's frame has its file and line: the DWARF was read.
has_lines () {
  "$SYSTEM_PYTHON" - "$1" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["groups"][0]["frames"][0]
assert f["function"] == "main" and f["file"].endswith("analyzer-classic.c") \
    and f["line"] > 0, f
PY
}

export XDG_CACHE_HOME="$PWD/cache"
copy=$XDG_CACHE_HOME/dmem/$id.debug
leaks >first.json 2>first.err || fail "dmem leaks exited $?: $(cat first.err)"
has_lines first.json || fail "no file:line from the compressed debug file"
[ -f "$copy" ] || fail "no expanded copy at $copy"
compressed "$copy" && fail "the copy in the cache is still compressed"
[ "$(stat -c %a "$XDG_CACHE_HOME/dmem")" = 700 ] \
  || fail "the cache directory is not private: $(stat -c %a "$XDG_CACHE_HOME/dmem")"
size=$(stat -c %s "$copy")

# Read from the copy the second time, with the same report.
strace -f -e trace=openat -o trace.txt "$DMEM" leaks --format=json \
  --sysroot "$PWD/sysroot" kernel.core >second.json 2>second.err \
  || fail "dmem leaks (second) exited $?: $(cat second.err)"
grep -q "$copy" trace.txt || fail "the second run did not open the copy"
cmp -s first.json second.json || fail "the report differs with the copy"
[ ! -s second.err ] || fail "stderr with the copy: $(cat second.err)"
# The lines come from the copy: the file found by build ID has no DWARF.
cp "$debug" compressed.debug
objcopy --strip-debug compressed.debug "$debug"
leaks >copy.json 2>copy.err || fail "dmem leaks (copy only) exited $?"
cmp -s first.json copy.json || fail "the lines were not read from the copy"
cp compressed.debug "$debug"

# A damaged copy is not used, and is made again.
head -c 100 "$copy" >cut && mv cut "$copy"
leaks >damaged.json 2>damaged.err || fail "dmem leaks (damaged copy) exited $?"
cmp -s first.json damaged.json || fail "the report differs after a damaged copy"
expect_eq "the copy made again, in bytes" "$(stat -c %s "$copy")" "$size"

# No cache: the copy is an unlinked file in $TMPDIR; the report all the
# same, not a word about it, nothing left behind.
: >not-a-dir
mkdir tmp
XDG_CACHE_HOME=$PWD/not-a-dir TMPDIR=$PWD/tmp leaks >nocache.json \
  2>nocache.err || fail "dmem leaks (no cache) exited $?: $(cat nocache.err)"
cmp -s first.json nocache.json || fail "the report differs without a cache"
[ ! -s nocache.err ] || fail "stderr without a cache: $(cat nocache.err)"
[ -z "$(ls -A tmp)" ] || fail "left in TMPDIR: $(ls -A tmp)"
# A bundle's debug files are untrusted: expanded into temporary files for
# this analysis, never kept in the cache.  The bundle carries glibc's
# installed (compressed) debug file; the program's own is not installed.
"$DMEM" bundle -e "sysroot$PWD/analyzer-classic" -o ticket.dmem kernel.core \
  >bundle.out 2>&1 || fail "dmem bundle exited $?: $(cat bundle.out)"
mkdir fresh-cache
XDG_CACHE_HOME=$PWD/fresh-cache TMPDIR=$PWD/tmp "$DMEM" leaks --format=json \
  ticket.dmem >bundle.json 2>bundle.err \
  || fail "dmem leaks of the bundle exited $?: $(cat bundle.err)"
"$SYSTEM_PYTHON" - bundle.json <<'PY' || fail "no file:line from the bundle's glibc debug file"
import json, sys
f = json.load(open(sys.argv[1]))["groups"][0]["frames"]
libc = [x for x in f if x["module"].endswith("/libc.so.6")]
assert libc and all(x["file"] and x["line"] for x in libc), f
PY
[ -z "$(ls -A fresh-cache/dmem 2>/dev/null)" ] \
  || fail "a bundle's debug file was kept: $(ls -A fresh-cache/dmem)"
[ -z "$(ls -A tmp)" ] || fail "left in TMPDIR by the bundle: $(ls -A tmp)"
note "ok: expanded once to $copy ($size bytes), read from there after"
