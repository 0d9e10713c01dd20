#!/bin/sh
# The mallinfo diagnosis through gdb, drgn and dmem (one engine):
# a 3 GiB block makes glibc's hblkhd overflow int; every reader names the
# overflowing field and sums, shows the saturated mallinfo() call from main,
# and they agree on glibc's true values.
. "$top_srcdir/tests/test-lib.sh"
. "$top_srcdir/tests/readers-lib.sh"
need_gdb
need_drgn
build readers-mallinfo -Wno-deprecated-declarations
kernel_core mi.core ./readers-mallinfo
gdb_dmem mi.gdb.json readers-mallinfo mi.core -- 'dmem mallinfo --json'
drgn_dmem mi.drgn.json -c mi.core -- mallinfo --json
expect_eq "drgn mallinfo status" 0 "$drgn_status"
set -- mi.gdb.json mi.drgn.json
if [ -x "$DMEM" ]; then
  "$DMEM" mallinfo --format=json mi.core >mi.c.json 2>mi.c.err || fail "dmem mallinfo: $(cat mi.c.err)"
  set -- mi.c.json "$@"
fi
check mallinfo "$@"
gdb_dmem mi.txt readers-mallinfo mi.core -- 'dmem mallinfo'
grep -q 'hblkhd .*> INT_MAX: overflows mallinfo()' mi.txt || fail "the text report does not flag hblkhd"
rm -f mi.core
exit 0
