#!/bin/sh
# Heap errors reported at the scene name every frame as the analyzer's
# reports do, static functions too: the runtime starts this build's dmem
# (DMEM_ANALYZER) on itself for function, file:line and module; when it
# cannot be run (missing, or failing) the runtime reads the modules'
# symbol tables itself: the static functions are still named, without
# file:line, and the program is not held up.
. "$top_srcdir/tests/test-lib.sh"
build scene

# The source lines the frames must name (from the source, not by hand).
line_of () { grep -n "$1" "$SRC/scene.c" | head -n 1 | cut -d: -f1; }
alloc_line=$(line_of 'char \*p = malloc (n);')
free_line=$(line_of '^  free (p);')
[ -n "$alloc_line" ] && [ -n "$free_line" ] || fail "premise: lines not found in scene.c"

# first_frame TITLE FILE: the first frame line under "  TITLE:".
first_frame () { sed -n "/^  $1:\$/{n;p;q}" "$2"; }

# scene MODE KIND: run it, expect the abort and a report of KIND.
scene () {
  rc=0
  timeout 300 sh -c 'LD_PRELOAD="$1" ./scene "$2"' sh "$LIBDMEM" "$1" >out 2>err || rc=$?
  expect_eq "$1: exit status (SIGABRT)" 134 "$rc"
  head -n 1 err | grep -q "^dmem: $2: " || { cat err; fail "$1: not reported as $2"; }
  grep -q survived out && fail "$1: the program went on"
  return 0
}

for mode in overrun:overrun double:double-free; do
  m=${mode%%:*} kind=${mode#*:}
  scene $m $kind
  # Named by the analyzer: function, file:line, module, as dmem's reports.
  first_frame "allocated at" err |
    grep -Eq "^    #0 allocate_static[.+].* \(.*/scene\.c:$alloc_line\) \[scene\]\$" ||
    { cat err; fail "$m: allocation frame with file:line"; }
  first_frame "found at" err |
    grep -Eq "^    #0 free_static\+0x[0-9a-f]+ \(.*/scene\.c:$free_line\) \[scene\]\$" ||
    { cat err; fail "$m: found-at frame with file:line"; }
  grep -Eq '^    #[0-9]+ main\+0x[0-9a-f]+ \(.*/scene\.c:[0-9]+\) \[scene\]$' err ||
    { cat err; fail "$m: main's frame"; }
done

# The double free names where the block was freed first (quarantine).
DMEM_OPTS=quarantine=4096 scene double double-free
first_frame "freed at" err |
  grep -Eq "^    #0 free_static\+0x[0-9a-f]+ \(.*/scene\.c:$free_line\) \[scene\]\$" ||
  { cat err; fail "double: freed-at frame"; }

# Without the analyzer: the runtime's own names from .symtab (static
# functions included), the module, no file:line.
for analyzer in "$WORK/no-such-dmem" /bin/false; do
  DMEM_ANALYZER=$analyzer scene overrun overrun
  first_frame "allocated at" err |
    grep -Eq '^    #0 allocate_static[.+][^ ]*\+0x[0-9a-f]+ \[scene\]$' ||
    { cat err; fail "$analyzer: allocation frame from .symtab"; }
  first_frame "found at" err |
    grep -Eq '^    #0 free_static\+0x[0-9a-f]+ \[scene\]$' ||
    { cat err; fail "$analyzer: found-at frame from .symtab"; }
  grep -Eq '^    #[0-9]+ main\+0x[0-9a-f]+ \[scene\]$' err ||
    { cat err; fail "$analyzer: main's frame from .symtab"; }
done
# Told not to start it (empty): the same.
DMEM_ANALYZER= scene double double-free
first_frame "found at" err | grep -Eq '^    #0 free_static\+0x[0-9a-f]+ \[scene\]$' ||
  { cat err; fail "no analyzer: found-at frame"; }

# keep-going: reported with file:line, and the program goes on as before.
DMEM_OPTS=keep-going run_dmem ./scene double >out 2>err || fail "keep-going: stopped"
grep -q survived out || fail "keep-going: did not go on"
first_frame "found at" err | grep -q "scene\.c:$free_line" || { cat err; fail "keep-going: frames"; }

# dmem run hands the runtime its own path: no DMEM_ANALYZER needed.
rc=0
env -u DMEM_ANALYZER DMEM_RUNTIME="$LIBDMEM" timeout 300 "$DMEM" run ./scene double >out 2>err || rc=$?
expect_eq "dmem run: exit status (SIGABRT)" 134 "$rc"
first_frame "found at" err | grep -q "free_static+.*scene\.c:$free_line" ||
  { cat err; fail "dmem run: frames"; }

# dmem symbolize, the subcommand the runtime starts: usage errors and a
# stopped-free lookup of our own process.
rc=0
"$DMEM" symbolize --pid $$ >out 2>err || rc=$?
expect_eq "symbolize without addresses" 64 "$rc"
rc=0
"$DMEM" symbolize --pid $$ 0x1,zz >out 2>err || rc=$?
expect_eq "symbolize of a bad address" 64 "$rc"
grep -q "not a hex address" err || fail "symbolize: bad address message"
"$DMEM" symbolize --pid $$ 0x10,0x20 0x30 >out 2>err || fail "symbolize: $(cat err)"
expect_eq "symbolize: unknown addresses as they are" \
  "$(printf '    #0 0x10\n    #1 0x20\n\n    #0 0x30')" "$(cat out)"
exit 0
