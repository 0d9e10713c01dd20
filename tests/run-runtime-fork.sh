#!/bin/sh
# fork while four threads allocate, 200 times; children allocate on new
# threads.  A deadlock shows up as the timeout.
. "$top_srcdir/tests/test-lib.sh"
build forks
for below in "" $(ls /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 2>/dev/null); do
  LD_PRELOAD=$below run_dmem timeout 120 ./forks >out 2>&1 || { cat out; fail "fork with threads (below: ${below:-glibc})"; }
done
