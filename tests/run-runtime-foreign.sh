#!/bin/sh
# Pointers the runtime never handed out (glibc's __libc_malloc, a page-aligned
# block with nothing mapped below it) reach free/realloc/malloc_usable_size.
. "$top_srcdir/tests/test-lib.sh"
$CC -O2 -shared -fPIC -o libbelow.so "$SRC/below.c" || fail "cannot build libbelow.so"
build foreign -ldl
run_dmem ./foreign >out 2>&1 || { cat out; fail "foreign pointers over glibc"; }
LD_PRELOAD="$WORK/libbelow.so" run_dmem ./foreign >out 2>&1 || { cat out; fail "foreign pointers over libbelow"; }
grep -q 'foreign pointers handled' out || fail "no verdict"
