#!/bin/sh
# mallinfo() past 2 GiB: glibc's fields wrap negative; under the runtime they
# saturate, the sums callers compute stay >= 0, and the call is logged.
. "$top_srcdir/tests/test-lib.sh"
build mallinfo -I"$top_srcdir/include" -ldl
./mallinfo expect-wrap >out 2>&1 || { cat out; fail "premise: glibc's mallinfo() should wrap past 2 GiB"; }
run_dmem ./mallinfo expect-saturate >out 2>&1 || { cat out; fail "mallinfo() does not saturate"; }
