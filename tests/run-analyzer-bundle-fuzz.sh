#!/bin/sh
# Damaged bundles never crash or hang dmem: a real bundle's tar stream
# damaged (headers, sizes, names, member order, truncation, member bytes)
# and compressed again, and its compressed bytes damaged, each through the
# real dmem under timeout: exit 0 or 2.  (run-analyzer-fuzz.sh also runs
# the libFuzzer target on a small bundle: the engine's open takes both.)
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"
command -v zstd >/dev/null || skip "zstd is not installed"

build analyzer-leaks
kernel_core leaks.core ./analyzer-leaks
"$DMEM" bundle leaks.core -o leaks.dmem >/dev/null || fail "dmem bundle"
"$DMEM" leaks leaks.dmem >/dev/null || fail "the bundle itself"
"$SYSTEM_PYTHON" "$top_srcdir/tests/bundle-mutate.py" leaks.dmem "$DMEM" \
  "${DMEM_FUZZ_RUNS:-60}" "${DMEM_FUZZ_SEED:-1}" \
  || fail "dmem crashed, hung or misreported on a damaged bundle (see above)"

note "ok"
