#!/bin/sh
# drgn on gcore cores: the classic driver's one leak, and the thread
# program's leak shapes with blocks held by thread stacks, TLS and globals.
. "$top_srcdir/tests/test-lib.sh"
. "$top_srcdir/tests/readers-lib.sh"
need_drgn
build readers-classic
build readers-threads
gcore_core classic.core ./readers-classic wait
drgn_dmem leaks.json -c classic.core -- leaks --json
check classic leaks.json
gcore_core threads.core ./readers-threads wait
drgn_dmem threads.json -c threads.core -- leaks --json
check threads threads.json
exit 0
