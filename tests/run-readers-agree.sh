#!/bin/sh
# The three readers agree: gdb, drgn and (when built) the C analyzer give the
# same summaries and groups (kind, count, bytes, threads, pcs) for stacks and
# leaks, and the same stats and verify, on kernel cores of the classic driver,
# the thread program and a 3000-block heap, gcore cores (one of a service
# whose joined threads left DTVs that ld.so allocated), cores whose lists
# were corrupted or made cyclic, a block's guard overwritten, a block freed
# twice, and a stripped program under a stripped runtime.
. "$top_srcdir/tests/test-lib.sh"
. "$top_srcdir/tests/readers-lib.sh"
need_gdb
need_drgn
build readers-classic
build readers-threads
build readers-many
build demo-service
kernel_core classic.core ./readers-classic
kernel_core threads.core ./readers-threads
kernel_core many.core ./readers-many 3000
gcore_core gmany.core ./readers-many 2000 wait
gcore_core service.core ./demo-service --wait
kernel_core corrupt.core ./readers-classic corrupt
kernel_core cycle.core ./readers-classic cycle
kernel_core overrun.core ./readers-classic overrun
kernel_core doublefree.core ./readers-classic doublefree
# Stripped runtime and program: the descriptor is found through .dynsym.
cp "$LIBDMEM" libdmem.so && strip libdmem.so
cp readers-classic readers-stripped && strip readers-stripped
full_libdmem=$LIBDMEM LIBDMEM=$PWD/libdmem.so
kernel_core stripped.core ./readers-stripped
LIBDMEM=$full_libdmem

have_c=no
[ -x "$DMEM" ] && have_c=yes
for pair in readers-classic:classic readers-threads:threads readers-many:many \
            readers-many:gmany demo-service:service readers-classic:corrupt readers-classic:cycle \
            readers-classic:overrun readers-classic:doublefree readers-stripped:stripped; do
  prog=${pair%%:*} core=${pair#*:}.core
  # One gdb run for the four reports, cut apart at its echoed markers.
  gdb_dmem ${pair#*:}.gdb.all $prog $core -- \
    'dmem stacks --json' 'echo @@leaks\n' 'dmem leaks --json' \
    'echo @@verify\n' 'dmem verify --json' 'echo @@stats\n' 'dmem stats --json'
  awk -v base=${pair#*:} 'BEGIN { out = base ".stacks.gdb.json" }
    /^@@/ { out = base "." substr($0, 3) ".gdb.json"; next } { print > out }' \
    ${pair#*:}.gdb.all
  for cmd in stacks leaks verify stats; do
    base=${pair#*:}.$cmd
    drgn_dmem $base.drgn.json -c $core -- $cmd --json
    expect_eq "drgn $cmd on $core" 0 "$drgn_status"
    set -- $base.gdb.json $base.drgn.json
    if [ $have_c = yes ]; then
      "$DMEM" $cmd --format=json -e $prog $core >$base.c.json 2>$base.c.err ||
        fail "dmem $cmd $core: $(cat $base.c.err)"
      set -- $base.c.json "$@"
    fi
    case $cmd in
      verify|stats) check same-$cmd "$@" ;;
      *) check same "$@" ;;
    esac
  done
done
check threads threads.leaks.gdb.json
grep -q '"kind": "overrun"' overrun.verify.drgn.json || fail "verify finds no overrun"
grep -q '"kind": "double-free"' doublefree.verify.gdb.json || fail "verify shows no caught double free"
[ $have_c = yes ] || skip "gdb and drgn agree; the C analyzer is not built"
exit 0
