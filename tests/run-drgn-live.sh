#!/bin/sh
# drgn -p on live processes: the classic driver's one leak and the thread
# program's shapes; the process runs on afterwards.
. "$top_srcdir/tests/test-lib.sh"
. "$top_srcdir/tests/readers-lib.sh"
need_drgn
build readers-classic
build readers-threads
start_live readers-classic wait
drgn_dmem leaks.json -p "$live_pid" -- leaks --json
expect_eq "leaks exit status" 0 "$drgn_status"
stop_live
check classic leaks.json
start_live readers-threads wait
drgn_dmem threads.json -p "$live_pid" -- leaks --json
kill -0 "$live_pid" || fail "the process did not survive drgn"
stop_live
check threads threads.json
exit 0
