#!/bin/sh
# The installed readers: `make install` into a scratch prefix; gdb auto-loads
# the dmem commands with libdmem.so from a core (once its auto-load
# safe-path allows), and the installed drgn script finds the shared module.
. "$top_srcdir/tests/test-lib.sh"
. "$top_srcdir/tests/readers-lib.sh"
need_gdb
need_drgn
inst=$WORK/inst
for dir in runtime analyzers gdb drgn; do
  ${MAKE:-make} -s -C "$top_builddir/$dir" install prefix="$inst" >install.log 2>&1 ||
    fail "make install in $dir: $(tail -n 3 install.log)"
done
for f in lib/libdmem.so share/dmem/gdb/dmem.py share/dmem/drgn/dmem.py \
         share/dmem/python/dmem_engine.py lib/libdmem-engine.so "share/gdb/auto-load$inst/lib/libdmem.so-gdb.py"; do
  [ -f "$inst/$f" ] || fail "not installed: $f"
done
build readers-classic
LIBDMEM=$inst/lib/libdmem.so
# The installed front ends must find the installed engine by themselves.
unset DMEM_ENGINE
kernel_core classic.core ./readers-classic

"$GDB" -batch -nx -q -iex "add-auto-load-scripts-directory $inst/share/gdb/auto-load" \
  -iex "add-auto-load-safe-path $inst" -ex 'dmem leaks --json' \
  readers-classic classic.core >auto.json 2>auto.err || fail "gdb: $(tail -n 3 auto.err)"
check classic auto.json

"$DRGN" -q -c classic.core "$inst/share/dmem/drgn/dmem.py" leaks --json >drgn.json 2>drgn.err ||
  fail "installed drgn script: $(tail -n 3 drgn.err)"
check classic drgn.json
exit 0
