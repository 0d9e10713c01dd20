#!/bin/sh
# Allocation stacks through -O2 code without frame pointers, glibc's printf
# path included (_IO_file_doallocate ... puts ... main).
. "$top_srcdir/tests/test-lib.sh"
build stacks -I"$top_srcdir/include" -rdynamic -ldl
run_dmem ./stacks >out 2>&1 || { cat out; fail "wrong allocation stacks"; }
grep -q '^ok stdout buffer: _IO_file_doallocate .*puts main' out || { cat out; fail "printf's buffer stack"; }
