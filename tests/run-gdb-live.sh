#!/bin/sh
# gdb -p on live processes: the classic driver's one leak and the thread
# program's shapes, read from the running process with its registers.
. "$top_srcdir/tests/test-lib.sh"
. "$top_srcdir/tests/readers-lib.sh"
need_gdb
build readers-classic
build readers-threads
start_live readers-classic wait
gdb_dmem leaks.json -p "$live_pid" -- 'dmem leaks --json' 'show_alloc_stacks --limit 2'
stop_live
check classic leaks.json
grep -Eq '^[0-9]+ bytes at 0x[0-9a-f]+ \(live\) from thread [0-9]+:$' leaks.json ||
  fail "show_alloc_stacks on a live process lists no block"
start_live readers-threads wait
gdb_dmem threads.json -p "$live_pid" -- 'dmem leaks --json'
stop_live
check threads threads.json
exit 0
