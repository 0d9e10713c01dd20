#!/bin/sh
# gdb on gcore cores: the classic driver's one leak, and the thread program's
# leak shapes with blocks held by thread stacks, TLS and globals.
. "$top_srcdir/tests/test-lib.sh"
. "$top_srcdir/tests/readers-lib.sh"
need_gdb
build readers-classic
build readers-threads
gcore_core classic.core ./readers-classic wait
gdb_dmem leaks.json readers-classic classic.core -- 'dmem leaks --json'
check classic leaks.json
gcore_core threads.core ./readers-threads wait
gdb_dmem threads.json readers-threads threads.core -- 'dmem leaks --json' 'show_alloc_stacks'
check threads threads.json
expect_eq "threads in show_alloc_stacks" 4 \
  "$(grep -o 'from thread [0-9]*' threads.json | sort -u | wc -l)"
exit 0
