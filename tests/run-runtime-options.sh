#!/bin/sh
# DMEM_OPTS: the original libdmem line, trace lines, warnings, and that
# abort-shutdown leaves a core without losing the program's output.
. "$top_srcdir/tests/test-lib.sh"
build classic
DMEM_OPTS=trace-stderr,log-allocs run_dmem ./classic >out 2>err || fail "classic under trace-stderr"
grep -q '^malloc(512) = 0x[0-9a-f]*$' err || { cat err; fail "no malloc trace line"; }
grep -q '^malloc(2048) = 0x[0-9a-f]*$' err || fail "no trace line for the leak"
grep -q '^free(0x[0-9a-f]*)$' err || fail "no free trace line"
expect_eq "program output" 2 "$(grep -c bytes out)"
DMEM_OPTS=bogus,trace-stderr=1 run_dmem ./classic >out 2>err || fail "an unknown option must not stop the program"
expect_eq "warnings" 2 "$(grep -c '^dmem: .* in DMEM_OPTS, ignored$' err)"
expect_eq "output with bad options" 2 "$(grep -c bytes out)"
# The original line: trace, then abort at shutdown for a core.
DMEM_OPTS=trace-stderr,log-allocs kernel_core core.classic ./classic
[ -s core.classic ] || fail "no core"
file core.classic 2>/dev/null | grep -q 'core file' || [ "$(head -c 4 core.classic | od -An -c | tr -d ' ')" = '177ELF' ] || fail "not an ELF core"
expect_eq "output kept at abort" 2 "$(grep -c bytes kernel_core.out)"
