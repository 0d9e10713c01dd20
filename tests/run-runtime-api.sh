#!/bin/sh
# Every allocation entry point, alone over glibc and layered over jemalloc
# and tcmalloc: sizes, alignment, errno, headers, out of memory below.
. "$top_srcdir/tests/test-lib.sh"
build api -I"$top_srcdir/include"
run_dmem ./api >out 2>&1 || { cat out; fail "entry points misbehave over glibc"; }
for below in $(ls /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/x86_64-linux-gnu/libtcmalloc.so.4 2>/dev/null); do
  LD_PRELOAD=$below run_dmem ./api >out 2>&1 || { cat out; fail "entry points misbehave over $below"; }
done
# The test can fail: without the runtime there are no headers.
./api >/dev/null 2>&1 && fail "api passes without the runtime: it tests nothing"
exit 0
