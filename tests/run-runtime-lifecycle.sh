#!/bin/sh
# Threads exiting, dlopen/dlclose, and a 10 kHz timer signal during it all.
. "$top_srcdir/tests/test-lib.sh"
build lifecycle -I"$top_srcdir/include" -ldl
run_dmem timeout 120 ./lifecycle >out 2>&1 || { cat out; fail "lifecycle"; }
