#!/bin/sh
# The dmem demo: a leaking service under the runtime, then its leak report
# three ways: at exit (dmem run), and from a core in gdb, drgn and dmem.
# Run by `make demo` with the installed tools (DMEM, LIBDMEM, GDB_SCRIPT,
# DRGN_SCRIPT name them).
set -eu
: "${DMEM:?}" "${LIBDMEM:?}" "${GDB_SCRIPT:?}" "${DRGN_SCRIPT:?}" "${SRCDIR:?}"
work=$(mktemp -d /tmp/dmem-demo.XXXXXX)
cd "$work"
step () { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

step "Build a leaking service (-O2 -g, no frame pointers)" \
  "cc -O2 -g -pthread -o service demo-service.c"
cc -O2 -g -fomit-frame-pointer -pthread -o service "$SRCDIR/tests/programs/demo-service.c"

step "Run it under the runtime; the leak report comes at exit" "dmem run ./service"
"$DMEM" run ./service || true

step "Take a core of the running service (gcore; no ulimit or core_pattern needed)" \
  "LD_PRELOAD=$LIBDMEM ./service --wait & gcore -o core \$!"
mkfifo in
LD_PRELOAD="$LIBDMEM" ./service --wait <in >out &
pid=$!
exec 3>in
until grep -q ready out 2>/dev/null; do sleep 0.1; done
gcore -o core "$pid" >/dev/null 2>&1
mv "core.$pid" core
exec 3>&-
wait "$pid" || true
ls -l core

step "The C analyzer" "dmem leaks core"
"$DMEM" leaks core

step "gdb" "gdb -batch -ex 'source $GDB_SCRIPT' -ex 'dmem leaks' ./service core"
gdb -q -nx -batch -ex "source $GDB_SCRIPT" -ex "dmem leaks" ./service core 2>&1 \
  | grep -v '^\[New LWP\|^\[Thread debugging\|^Using host libthread_db\|^Core was generated\|^#0 \|^[0-9]*\t\|No such file or directory'

step "drgn" "drgn -c core $DRGN_SCRIPT leaks"
/usr/bin/drgn -q -c core "$DRGN_SCRIPT" leaks 2>&1

step "Every live block with its thread and stack, as libdmem's show_alloc_stacks did" \
  "gdb -batch -ex 'source $GDB_SCRIPT' -ex 'show_alloc_stacks --limit 2' ./service core"
gdb -q -nx -batch -ex "source $GDB_SCRIPT" -ex "show_alloc_stacks --limit 2" ./service core 2>&1 \
  | grep -v '^\[New LWP\|^\[Thread debugging\|^Using host libthread_db\|^Core was generated\|^#0 \|^[0-9]*\t\|No such file or directory'

rm -rf "$work"
