#!/bin/sh
# drgn on a kernel core of the classic driver: the script's subcommands, the
# importable helpers, exit statuses, and corrupted or cyclic lists.
. "$top_srcdir/tests/test-lib.sh"
. "$top_srcdir/tests/readers-lib.sh"
need_drgn
build readers-classic
kernel_core classic.core ./readers-classic

drgn_dmem leaks.json -c classic.core -- leaks --json
expect_eq "leaks exit status" 0 "$drgn_status"
check classic leaks.json
drgn_dmem stacks.json -c classic.core -- stacks --json
check stacks-classic stacks.json
drgn_dmem blocks.txt -c classic.core -- stacks --all
grep -Eq '^2048 bytes at 0x[0-9a-f]+ \(live\) from thread [0-9]+:$' blocks.txt ||
  fail "blocks lists no 2048-byte block"
grep -Eq '^    #[0-9]+ main\+0x[0-9a-f]+ \(.*readers-classic.c:[0-9]+\) \[readers-classic\]$' blocks.txt ||
  fail "blocks shows no main+0xOFF (file:line) frame"
for cmd in stats mallinfo verify; do
  drgn_dmem $cmd.json -c classic.core -- $cmd --json
  expect_eq "$cmd exit status" 0 "$drgn_status"
done
grep -q '"ok": true' verify.json || fail "verify: the heap is not ok"

# The helpers, imported as in an interactive session.
"$DRGN" -q -c classic.core "$top_srcdir/tests/readers-iterate.py" "$(dirname "$DRGN_SCRIPT")" ok \
  >iterate.txt 2>&1 || fail "helpers: $(cat iterate.txt)"

# Usage errors exit 64, a core without the runtime 2, each with one line.
drgn_dmem bad.txt -c classic.core -- frob
expect_eq "unknown subcommand status" 64 "$drgn_status"
expect_eq "unknown subcommand lines" 1 "$(wc -l <bad.txt.err)"
drgn_dmem bad.txt -c classic.core -- leaks --limit
expect_eq "bad --limit status" 64 "$drgn_status"
build readers-plain
(ulimit -c unlimited; ./readers-plain || true) >/dev/null 2>&1
[ -f core ] || fail "no core from readers-plain"
mv core plain.core
drgn_dmem plain.txt -c plain.core -- stacks
expect_eq "no-runtime status" 2 "$drgn_status"
expect_eq "no-runtime error" "dmem: no dmem runtime in the target (no symbol dmem_descriptor in any module)" \
  "$(grep -v '^could not get debugging information' plain.txt.err | head -n 5)"

# Corrupted lists: reports name the bad block and go on; the iterator raises.
for mode in corrupt cycle; do
  kernel_core core.$mode ./readers-classic $mode
  bad=$(sed -n 's/^corrupted block //p' kernel_core.out)
  drgn_dmem $mode.json -c core.$mode -- leaks --json
  expect_eq "$mode status" 0 "$drgn_status"
  grep -q "dmem: warning: shard [0-9]*: .*$bad" $mode.json.err ||
    fail "$mode: no message naming block $bad: $(cat $mode.json.err)"
  check classic $mode.json
  "$DRGN" -q -c core.$mode "$top_srcdir/tests/readers-iterate.py" "$(dirname "$DRGN_SCRIPT")" "$bad" \
    >iterate.txt 2>&1 || fail "$mode: iterator: $(cat iterate.txt)"
done
exit 0
