#!/bin/sh
# Support tickets on the 1M-block core of analyzer-bench.sh: `dmem bundle`
# (time and size) against `tar` piped to `zstd` (the same level, 3, one
# thread) of the same files (the core, the modules, their debug files, as
# the manifest lists them); and `dmem leaks` on the core compressed with
# zstd, lz4, gzip and xz against the same core uncompressed.
# Usage: bench/bundle-bench.sh [BLOCKS]   (run from a built tree)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
DMEM=${DMEM:-$top/analyzers/dmem}
LIBDMEM=${LIBDMEM:-$top/runtime/.libs/libdmem.so}
BLOCKS=${1:-1000000}
[ -x "$DMEM" ] && [ -e "$LIBDMEM" ] || { echo "build dmem first" >&2; exit 1; }
work=$(mktemp -d /tmp/dmem-bench.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
cd "$work"

# The program of analyzer-bench.sh, taken from it: one definition.
sed -n "/^cat >many.c <<'C'/,/^C\$/p" "$top/bench/analyzer-bench.sh" \
  | sed '1d;$d' >many.c
cc -O2 -g -o many many.c
ulimit -c unlimited
DMEM_OPTS=abort-shutdown LD_PRELOAD=$LIBDMEM ./many "$BLOCKS" 2>/dev/null || true
mv "$(ls core* | head -n 1)" one.core
size=$(stat -c %s one.core)

# best of 3 wall-clock seconds of a command
best () {
  b=
  for i in 1 2 3; do
    s=$(date +%s.%N)
    "$@" >/dev/null 2>bench.err || { echo "failed: $*: $(cat bench.err)" >&2; exit 1; }
    e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc)
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}
mib () { echo "scale=1; $1 / 1048576" | bc; }

"$DMEM" bundle one.core -o one.dmem >/dev/null
t_bundle=$(best "$DMEM" bundle one.core -o one.dmem)
s_bundle=$(stat -c %s one.dmem)
# The same files, by tar and zstd.
tar --zstd -xOf one.dmem dmem-bundle.json >manifest.json
/usr/bin/python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
for x in m["modules"]:
    for k in ("path", "debug_path"):
        if x[k] and x["file"]:
            print(x[k])' manifest.json | sort -u >files
echo one.core >>files
tarzstd () { tar -cPf - -T files | zstd -q -3 -T1 -c >one.tar.zst; }
tarzstd
t_tar=$(best tarzstd)
s_tar=$(stat -c %s one.tar.zst)

echo "core: $BLOCKS blocks, $(mib "$size") MiB; $(wc -l <files) files in all"
printf '%-28s %8s %10s %8s\n' what seconds MiB ratio
printf '%-28s %8s %10s %8s\n' "dmem bundle" "$t_bundle" "$(mib "$s_bundle")" \
  "$(echo "scale=2; $t_bundle / $t_tar" | bc)x"
printf '%-28s %8s %10s %8s\n' "tar | zstd -3" "$t_tar" "$(mib "$s_tar")" 1.00x

t_plain=$(best "$DMEM" leaks one.core)
printf '\n%-28s %8s %10s %8s\n' "dmem leaks on" seconds MiB ratio
printf '%-28s %8s %10s %8s\n' "the core" "$t_plain" "$(mib "$size")" 1.00x
for c in zstd lz4 gzip xz; do
  case $c in
    zstd) zstd -q -3 -T1 -c one.core >one.core.zst; f=one.core.zst ;;
    lz4) lz4 -q -c one.core >one.core.lz4; f=one.core.lz4 ;;
    gzip) gzip -c one.core >one.core.gz; f=one.core.gz ;;
    xz) xz -T1 -c one.core >one.core.xz; f=one.core.xz ;;
  esac
  t=$(best "$DMEM" leaks "$f")
  printf '%-28s %8s %10s %8s\n' "the core, $c" "$t" "$(mib "$(stat -c %s "$f")")" \
    "$(echo "scale=2; $t / $t_plain" | bc)x"
done
t=$(best "$DMEM" leaks one.dmem)
printf '%-28s %8s %10s %8s\n' "the bundle" "$t" "$(mib "$s_bundle")" \
  "$(echo "scale=2; $t / $t_plain" | bc)x"
