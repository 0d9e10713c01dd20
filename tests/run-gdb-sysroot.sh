#!/bin/sh
# Where the core's files are looked up: a relative --sysroot, gdb's
# `set sysroot' and `set debug-file-directory' reach the engine, and dmem
# and gdb then print the same frames.
. "$top_srcdir/tests/test-lib.sh"
. "$top_srcdir/tests/readers-lib.sh"
need_gdb
[ -x "$DMEM" ] || fail "$DMEM is not built"
build readers-classic
kernel_core classic.core ./readers-classic

# The program's debug info in a directory of its own, by build-id; the
# program itself stripped.
id=$(readelf -n readers-classic | sed -n 's/^ *Build ID: *//p')
[ -n "$id" ] || fail "readers-classic has no build-id"
dir=debug/.build-id/$(echo "$id" | cut -c1-2)
mkdir -p "$dir"
objcopy --only-keep-debug readers-classic "$dir/$(echo "$id" | cut -c3-).debug"
strip -g readers-classic

has_line () { grep -q '^    #[0-9]* main+0x[0-9a-f]* (.*readers-classic.c:[0-9]*) \[readers-classic\]$' "$1"; }

gdb_dmem plain.txt readers-classic classic.core -- 'dmem leaks'
has_line plain.txt && fail "file:line without the debug file: $(cat plain.txt)"
gdb_dmem debugdir.txt readers-classic classic.core -- \
  "set debug-file-directory $PWD/debug" 'dmem leaks'
has_line debugdir.txt || fail "gdb's debug-file-directory is not used: $(cat debugdir.txt.err)"

# A sysroot holding the program at the path the core names, and the debug
# file under its usr/lib/debug; the program moved away.
mkdir -p "sysroot$PWD" sysroot/usr/lib
cp readers-classic "sysroot$PWD/"
cp -r debug sysroot/usr/lib/debug
mv readers-classic readers-classic.moved
"$DMEM" leaks --sysroot=sysroot classic.core >sysroot.c 2>sysroot.c.err ||
  fail "dmem --sysroot: $(cat sysroot.c.err)"
has_line sysroot.c || fail "a relative --sysroot finds no program or debug file: $(cat sysroot.c)"
gdb_dmem sysroot.gdb.all "sysroot$PWD/readers-classic" classic.core -- \
  "set sysroot $PWD/sysroot" 'echo @@\n' 'dmem leaks'
sed '1,/^@@$/d' sysroot.gdb.all >sysroot.gdb
cmp -s sysroot.c sysroot.gdb || fail "gdb with set sysroot and dmem --sysroot differ: $(diff sysroot.c sysroot.gdb | head)"
exit 0
