#!/bin/sh
# Mutated real cores never crash or hang dmem: a few hundred damaged copies
# of a kernel core (block headers, list links, shard heads, ELF headers and
# notes, truncation) through the real dmem, each under timeout, must exit 0
# or 2.  Then the libFuzzer target, when clang can build it, on the core
# and on a bundle of it.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"

build analyzer-leaks
kernel_core kernel.core ./analyzer-leaks
"$DMEM" stacks --all --format=json kernel.core >all.json || fail "stacks --all"
"$SYSTEM_PYTHON" "$top_srcdir/tests/analyzer-mutate.py" fuzz kernel.core \
  all.json "$DMEM" "${DMEM_FUZZ_RUNS:-300}" "${DMEM_FUZZ_SEED:-1}" \
  || fail "dmem crashed, hung or misreported on a mutated core (see above)"

if command -v clang >/dev/null \
   && make -C "$top_builddir/analyzers" fuzz-core >fuzz-build.log 2>&1; then
  mkdir corpus
  cp kernel.core corpus/
  "$top_builddir/analyzers/fuzz-core" -runs=200 -max_len=$(wc -c <kernel.core) \
    -rss_limit_mb=4096 -timeout=30 corpus >fuzz.log 2>&1 \
    || fail "libFuzzer found a crash: $(tail -n 20 fuzz.log)"
  note "libFuzzer: $(grep -a '^Done' fuzz.log)"
  # A bundle (the manifest and the core only, small enough to mutate): the
  # same entry point reads it by its magic.
  if command -v zstd >/dev/null; then
    mkdir small bundle-corpus
    cp kernel.core small/core
    printf '{"dmem_bundle": 1}\n' >small/dmem-bundle.json
    (cd small && tar -cf - dmem-bundle.json core) | zstd -q -19 -c \
      >bundle-corpus/small.dmem
    "$DMEM" stats bundle-corpus/small.dmem >/dev/null || fail "the small bundle"
    "$top_builddir/analyzers/fuzz-core" -runs=200 \
      -max_len=$(wc -c <bundle-corpus/small.dmem) -rss_limit_mb=4096 \
      -timeout=30 bundle-corpus >fuzz-bundle.log 2>&1 \
      || fail "libFuzzer found a crash in a bundle: $(tail -n 20 fuzz-bundle.log)"
    note "libFuzzer on a bundle: $(grep -a '^Done' fuzz-bundle.log)"
  fi
else
  note "libFuzzer target not built (no clang with -fsanitize=fuzzer)"
fi
