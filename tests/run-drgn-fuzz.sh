#!/bin/sh
# The shared reader logic on corrupted heaps: random header fields, shard
# heads, counters and descriptor words overwritten (in what drgn hands the
# reader), every report run each time.  Only clean reports, DmemError and
# ValidationError may come out: never another exception, never a hang.
. "$top_srcdir/tests/test-lib.sh"
. "$top_srcdir/tests/readers-lib.sh"
need_drgn
build readers-threads
kernel_core threads.core ./readers-threads
for seed in 1 2; do
  "$DRGN" -q -c threads.core "$top_srcdir/tests/readers-fuzz.py" "$(dirname "$DRGN_SCRIPT")" \
    80 $seed >fuzz.$seed.txt 2>&1 || fail "$(tail -n 20 fuzz.$seed.txt)"
  note "seed $seed: $(tail -n 1 fuzz.$seed.txt)"
done
exit 0
