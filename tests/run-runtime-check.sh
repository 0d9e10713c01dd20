#!/bin/sh
# dmem_check_leaks (dmem/dmem.h) as a test suite uses it: the program checks
# twice, the count returned is the direct leaks at that point and the report
# on stderr names where they were allocated; while other threads allocate
# and free; built from the build tree (preloaded, or linked with -ldmem)
# and with `pkg-config --cflags --libs dmem` against an installed tree;
# without the runtime it links, runs and gets -1.
. "$top_srcdir/tests/test-lib.sh"
inc="-I$top_srcdir/include"

# counts FILE: "first N second M" from the program's output.
counts () { tr '\n' ' ' <"$1" | sed 's/ $//'; }

# reports ERR: the two reports' SUMMARY lines, then the leak functions of
# each report (the frame under each leak group), one report per line.
check_reports () {
  expect_eq "$1: reports" 2 "$(grep -c '^SUMMARY: ' "$2")"
  # Report 1 is the text before the first SUMMARY, report 2 after it.
  awk '/^SUMMARY: /{n++; next} /^    #0 /{print n+1, $2}' "$2" |
    sed 's/+0x[0-9a-f]*$//' | sort -u >fns
  expect_eq "$1: leaking functions by report" \
    "$(printf '1 leak_two\n2 leak_three\n2 leak_two')" "$(cat fns)"
  grep -q '^SUMMARY: 96 bytes leaked in 2 blocks' "$2" || { cat "$2"; fail "$1: first summary"; }
  grep -q '^SUMMARY: 336 bytes leaked in 5 blocks' "$2" || { cat "$2"; fail "$1: second summary"; }
}

# From the build tree, preloaded (the program is not linked with libdmem).
$CC -O2 -g -fomit-frame-pointer -pthread $inc -o check "$SRC/check.c" || fail "cannot build check"
run_dmem ./check >out 2>err || { cat err; fail "preloaded: exit status"; }
expect_eq "preloaded: counts" "first 2 second 5" "$(counts out)"
check_reports preloaded err

# While four threads malloc and free all the time.
run_dmem ./check threads >out 2>err || { cat err; fail "threads: exit status"; }
expect_eq "threads: counts" "first 2 second 5" "$(counts out)"
check_reports threads err

# Without the runtime: it links and runs, and gets -1, silently.
./check >out 2>err || fail "no runtime: exit status"
expect_eq "no runtime: counts" "first -1 second -1" "$(counts out)"
expect_eq "no runtime: stderr" "" "$(cat err)"

# The analyzer cannot be run: -1 and one line saying why, each time.
DMEM_ANALYZER=$WORK/no-such-dmem run_dmem ./check >out 2>err || fail "no analyzer: exit status"
expect_eq "no analyzer: counts" "first -1 second -1" "$(counts out)"
expect_eq "no analyzer: lines" 2 "$(grep -c '^dmem: dmem_check_leaks: .*no-such-dmem' err)"

# Under dmem run: the runtime starts that dmem; the report at exit still
# comes (the 5 leaks).
env -u DMEM_ANALYZER DMEM_RUNTIME="$LIBDMEM" "$DMEM" run ./check >out 2>err || { cat err; fail "dmem run: exit status"; }
expect_eq "dmem run: counts" "first 2 second 5" "$(counts out)"
expect_eq "dmem run: reports (2 checks, 1 at exit)" 3 "$(grep -c '^SUMMARY: ' err)"

# Linked with -ldmem from the build tree: always under the runtime.
$CC -O2 -g -pthread $inc -o check-linked "$SRC/check.c" \
  -L"$top_builddir/runtime/.libs" -ldmem || fail "cannot link with -ldmem"
LD_LIBRARY_PATH="$top_builddir/runtime/.libs" ./check-linked >out 2>err ||
  { cat err; fail "linked: exit status"; }
expect_eq "linked: counts" "first 2 second 5" "$(counts out)"
check_reports linked err

# Against an installed tree, with pkg-config; the runtime finds the
# installed dmem beside it (no DMEM_ANALYZER).
command -v pkg-config >/dev/null || skip "pkg-config is not installed"
inst=$WORK/inst
for dir in runtime analyzers; do
  ${MAKE:-make} -s -C "$top_builddir/$dir" install prefix="$inst" >install.log 2>&1 ||
    fail "make install in $dir: $(tail -n 3 install.log)"
done
${MAKE:-make} -s -C "$top_builddir" install-dmemincludeHEADERS install-pkgconfigDATA \
  prefix="$inst" >install.log 2>&1 || fail "make install of dmem.h, dmem.pc: $(tail -n 3 install.log)"
# dmem.pc names the configured prefix; point it at the scratch one.
sed "s|^prefix=.*|prefix=$inst|" "$inst/lib/pkgconfig/dmem.pc" >dmem.pc
flags=$(PKG_CONFIG_PATH=$WORK pkg-config --cflags --libs dmem) || fail "pkg-config dmem"
case "$flags" in *-ldmem*) ;; *) fail "pkg-config --libs dmem: no -ldmem in '$flags'" ;; esac
$CC -O2 -g -pthread -o check-installed "$SRC/check.c" $flags || fail "cannot build with pkg-config"
env -u DMEM_ANALYZER LD_LIBRARY_PATH="$inst/lib" ./check-installed >out 2>err ||
  { cat err; fail "installed: exit status"; }
expect_eq "installed: counts" "first 2 second 5" "$(counts out)"
check_reports installed err
exit 0
