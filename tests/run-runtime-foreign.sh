#!/bin/sh
# Pointers the runtime never handed out (glibc's __libc_malloc, a page-aligned
# block with nothing mapped below it) reach free/realloc/malloc_usable_size.
# Blocks of ours at the start of a page are told from those without asking
# the kernel whether the page below is mapped (mincore).
. "$top_srcdir/tests/test-lib.sh"
$CC -O2 -shared -fPIC -o libbelow.so "$SRC/below.c" || fail "cannot build libbelow.so"
build foreign -ldl
run_dmem ./foreign >out 2>&1 || { cat out; fail "foreign pointers over glibc"; }
LD_PRELOAD="$WORK/libbelow.so" run_dmem ./foreign >out 2>&1 || { cat out; fail "foreign pointers over libbelow"; }
grep -q 'foreign pointers handled' out || fail "no verdict"

build page-starts
command -v strace >/dev/null || skip "strace is not installed"
strace -f -o strace.out -e trace=mincore env LD_PRELOAD="$LIBDMEM" ./page-starts >out 2>&1 \
  || { cat out; fail "blocks at a page start mishandled"; }
n=$(sed -n 's/^page starts: \([0-9]*\),.*/\1/p' out)
[ "${n:-0}" -ge 8 ] || fail "only ${n:-no} blocks started a page: the test proves nothing"
calls=$(grep -c 'mincore(' strace.out || true)
[ "$calls" -eq 0 ] || fail "$calls mincore calls for $n blocks of ours at a page start"
