#!/bin/sh
# gdb on a kernel core of the classic driver: the one direct leak of 2048
# bytes from main (printf's stdout buffer reachable), show_alloc_stacks,
# help text, one-line errors, and corrupted or cyclic lists.
. "$top_srcdir/tests/test-lib.sh"
. "$top_srcdir/tests/readers-lib.sh"
need_gdb
build readers-classic
kernel_core classic.core ./readers-classic

gdb_dmem leaks.json readers-classic classic.core -- 'dmem leaks --json'
check classic leaks.json
gdb_dmem stacks.json readers-classic classic.core -- 'dmem stacks --json'
check stacks-classic stacks.json
grep -q '"file": ".*readers-classic.c"' leaks.json || fail "no file:line in gdb's frames"

# show_alloc_stacks: every block with its thread and frames (dmem stacks --all).
gdb_dmem blocks.txt readers-classic classic.core -- show_alloc_stacks 'show_alloc_stacks --grouped --limit 1'
grep -Eq '^2048 bytes at 0x[0-9a-f]+ \(live\) from thread [0-9]+:$' blocks.txt ||
  fail "show_alloc_stacks lists no 2048-byte block: $(head -n 5 blocks.txt)"
grep -Eq '^    #[0-9]+ main\+0x[0-9a-f]+ \(.*readers-classic.c:[0-9]+\) \[readers-classic\]$' blocks.txt ||
  fail "show_alloc_stacks shows no main+0xOFF (file:line) frame"
expect_eq "grouped --limit 1 groups" 1 "$(grep -Ec 'blocks? \(live\) from threads' blocks.txt)"

# Help text on every command; bad arguments give one line, no traceback.
gdb_dmem help.txt readers-classic classic.core -- 'help show_alloc_stacks' 'help dmem' \
  'help dmem stacks' 'help dmem leaks' 'help dmem stats' 'help dmem mallinfo' 'help dmem verify'
expect_eq "Usage lines in help" 7 "$(grep -c '^Usage: ' help.txt)"
for bad in 'dmem leaks --bogus' 'show_alloc_stacks --limit x' 'dmem stacks --limit' 'dmem frob'; do
  gdb_dmem bad.txt readers-classic classic.core -- "$bad"
  expect_eq "error lines for '$bad'" 1 "$(wc -l <bad.txt.err)"
  grep -q Traceback bad.txt.err && fail "traceback for '$bad'"
  note "'$bad': $(cat bad.txt.err)"
done

# Other reports run and say what they must.
gdb_dmem other.json readers-classic classic.core -- 'dmem stats --json' 'dmem verify --json' 'dmem mallinfo --json'
grep -q '"live_blocks": 3' other.json || fail "stats: not 3 live blocks"
grep -q '"ok": true' other.json || fail "verify: the heap is not ok"
grep -q '"overflow": \[\]' other.json || fail "mallinfo: overflow reported"

# A program without the runtime: one clear line.
build readers-plain
(ulimit -c unlimited; ./readers-plain || true) >/dev/null 2>&1
[ -f core ] || fail "no core from readers-plain"
mv core plain.core
gdb_dmem plain.txt readers-plain plain.core -- 'dmem stacks'
expect_eq "no-runtime error" "dmem: no dmem runtime in the target (no symbol dmem_descriptor in any module)" "$(cat plain.txt.err)"

# Corrupted lists: the bad block is named and the walk goes on.
for mode in corrupt cycle; do
  kernel_core core.$mode ./readers-classic $mode
  bad=$(sed -n 's/^corrupted block //p' kernel_core.out)
  [ -n "$bad" ] || fail "readers-classic $mode printed no block"
  gdb_dmem $mode.json readers-classic core.$mode -- 'dmem leaks --json' 'dmem verify'
  grep -q "dmem: warning: shard [0-9]*: .*$bad" $mode.json.err ||
    fail "$mode: no message naming block $bad: $(cat $mode.json.err)"
  check classic $mode.json
  grep -q '^FAILED: ' $mode.json || fail "$mode: verify does not say FAILED"
done
exit 0
