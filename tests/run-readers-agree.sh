#!/bin/sh
# The three front ends print the same report, byte for byte: dmem, gdb and
# drgn run every subcommand (text, and JSON where it has one) on kernel
# cores of the classic driver, the thread program and a 3000-block heap,
# gcore cores (one of a service whose joined threads left DTVs that ld.so
# allocated), cores whose lists were corrupted or made cyclic, a block's
# guard overwritten, a block freed twice, a stripped program under a
# stripped runtime, and a live process (gdb -p, drgn -p, dmem --pid).  The
# classic core's leak report is also compared with the text below.
. "$top_srcdir/tests/test-lib.sh"
. "$top_srcdir/tests/readers-lib.sh"
need_gdb
need_drgn
[ -x "$DMEM" ] || fail "$DMEM is not built"
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

# The reports compared, as words after the target (file names: spaces and
# '=' become '_').
reports='stacks|stacks --all|stacks --retained|leaks|leaks --format=folded|stats|mallinfo|verify|stacks --format=json|leaks --format=json|stats --format=json|mallinfo --format=json|verify --format=json'
name_of () { printf '%s' "$1" | tr ' =' '__'; }

# compare BASE: BASE.NAME.{c,gdb,drgn} are the same for every report.
compare () {
  IFS='|'; for words in $reports; do
    unset IFS
    n=$(name_of "$words")
    for fe in gdb drgn; do
      cmp -s "$1.$n.c" "$1.$n.$fe" ||
        fail "$fe and dmem differ on '$words' ($1): $(diff "$1.$n.c" "$1.$n.$fe" | head -n 6)"
    done
  done
  unset IFS
}

# gdb_reports BASE GDB-TARGET-ARGS...: every report in one gdb run, cut
# apart at echoed markers into BASE.NAME.gdb.
gdb_reports () {
  base=$1; shift
  set -- "$@" --
  IFS='|'; for words in $reports; do
    set -- "$@" "echo @@$(name_of "$words")\\n" "dmem $words"
  done
  unset IFS
  gdb_dmem "$base.gdb.all" "$@"
  # gdb's own last word on a live process is cut off too.
  awk -v base="$base" '/^@@/ { out = base "." substr($0, 3) ".gdb"; next }
    /^\[Inferior [0-9]+ \(process [0-9]+\) detached\]$/ { next }
    out { print > out }' "$base.gdb.all"
}

for pair in readers-classic:classic readers-threads:threads readers-many:many \
            readers-many:gmany demo-service:service readers-classic:corrupt \
            readers-classic:cycle readers-classic:overrun \
            readers-classic:doublefree readers-stripped:stripped; do
  prog=${pair%%:*} base=${pair#*:}
  gdb_reports "$base" "$prog" "$base.core"
  IFS='|'; for words in $reports; do
    unset IFS
    n=$(name_of "$words")
    # shellcheck disable=SC2086
    "$DMEM" $words -e "$prog" "$base.core" >"$base.$n.c" 2>"$base.$n.c.err" || [ $? = 1 ] ||
      fail "dmem $words $base.core: $(cat "$base.$n.c.err")"
    # shellcheck disable=SC2086
    drgn_dmem "$base.$n.drgn" -c "$base.core" -- $words
  done
  unset IFS
  compare "$base"
done

# A live process waiting on its input: the same reports three ways.
start_live readers-threads wait
gdb_reports live -p "$live_pid"
IFS='|'; for words in $reports; do
  unset IFS
  n=$(name_of "$words")
  # shellcheck disable=SC2086
  "$DMEM" $words --pid "$live_pid" >"live.$n.c" 2>"live.$n.c.err" || [ $? = 1 ] ||
    fail "dmem $words --pid: $(cat "live.$n.c.err")"
  # shellcheck disable=SC2086
  drgn_dmem "live.$n.drgn" -p "$live_pid" -- $words
done
unset IFS
stop_live
compare live

check threads threads.leaks_--format_json.c
grep -q '"kind": "overrun"' overrun.verify_--format_json.c || fail "verify finds no overrun"
grep -q '"kind": "double-free"' doublefree.verify_--format_json.c ||
  fail "verify shows no caught double free"

# The classic core's leaks, in the words every front end prints (thread
# ids and code offsets vary between runs and compilers).
sed -e 's/threads [0-9]*:/threads TID:/' -e 's/+0x[0-9a-f]*/+OFF/' \
    -e 's|([^) ]*/|(|' -e 's/:[0-9]*)/:LINE)/' classic.leaks.c >classic.leaks.text
cat >classic.leaks.expected <<'EOF'
2048 bytes in 1 block (leak) from threads TID:
    #0 leak_it+OFF (readers-classic.c:LINE) [readers-classic]
    #1 main+OFF (readers-classic.c:LINE) [readers-classic]
    #2 __libc_start_call_main+OFF (libc_start_call_main.h:LINE) [libc.so.6]
    #3 __libc_start_main+OFF (libc-start.c:LINE) [libc.so.6]
    #4 _start+OFF [readers-classic]

SUMMARY: 2048 bytes leaked in 1 blocks, 0 bytes indirectly leaked in 0 blocks, 0 bytes possibly leaked in 0 blocks, 4160 bytes reachable in 2 blocks.
EOF
diff classic.leaks.expected classic.leaks.text >classic.leaks.diff ||
  fail "the classic leak report changed: $(cat classic.leaks.diff)"
exit 0
