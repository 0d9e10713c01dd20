#!/bin/sh
# dmem leaks --suppressions (LeakSanitizer's leak:PATTERN files) and
# --error-exitcode on a kernel core of known leaks: by function, by module
# (a leak from a shared library), by source file, with ^, $ and *, in an
# LSan file with comments and other kinds; the suppressed groups counted
# apart (text table, JSON), out of the SUMMARY and the exit status; bad
# files; gdb and drgn printing the same report and status.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"

# libfoo.so's foo_leak leaks 300 bytes; the program leaks 100 bytes from
# leak_direct, a 3-node list from leak_list (48 direct, 96 indirect) and
# 64 bytes (possible) from leak_possible.
$CC -O2 -g -fomit-frame-pointer -shared -fPIC -o libfoo.so "$SRC/libfoo.c" \
  || fail "cannot build libfoo.so"
build analyzer-suppress -L. -lfoo -Wl,-rpath,"$PWD"
kernel_core all.core ./analyzer-suppress all

# leaks_with NAME LINES...: dmem leaks of the core with a suppressions file
# NAME.supp of LINES; the report in NAME.out, stderr in NAME.err, the
# status in $status.
leaks_with () {
  name=$1; shift
  printf '%s\n' "$@" >"$name.supp"
  status=0
  "$DMEM" leaks --suppressions="$name.supp" "$all_core" >"$name.out" 2>"$name.err" \
    || status=$?
}
all_core=all.core
# summary FILE: its SUMMARY line.
summary () { grep '^SUMMARY: ' "$1" || fail "no SUMMARY in $1: $(cat "$1")"; }
# used FILE: the rows of its "Suppressions used" table.
used () { sed -n '/^  count      bytes template$/,/^---/p' "$1" | sed '1d;$d'; }
full='SUMMARY: 448 bytes leaked in 3 blocks, 96 bytes indirectly leaked in 2 blocks, 64 bytes possibly leaked in 1 blocks, 0 bytes reachable in 0 blocks.'

# Without suppressions: everything, no table, status 0.
status=0
"$DMEM" leaks all.core >none.out 2>none.err || status=$?
expect_eq "dmem leaks" 0 "$status"
expect_eq "summary" "$full" "$(summary none.out)"
! grep -q 'Suppressions used' none.out || fail "a table without suppressions"

# --error-exitcode: N when there are direct leaks, else 0; the last line
# on stderr says so.
status=0
"$DMEM" leaks --error-exitcode=5 all.core >exit5.out 2>exit5.err || status=$?
expect_eq "dmem leaks --error-exitcode=5" 5 "$status"
expect_eq "the found line" "dmem: leaks found 3 direct leaks." "$(tail -n 1 exit5.err)"
cmp -s none.out exit5.out || fail "--error-exitcode changed the report"

# By function: leak_direct's 100 bytes, counted apart.
leaks_with func 'leak:leak_direct'
expect_eq "status by function" 0 "$status"
expect_eq "table by function" "      1        100 leak_direct" "$(used func.out)"
expect_eq "summary by function" 'SUMMARY: 348 bytes leaked in 2 blocks, 96 bytes indirectly leaked in 2 blocks, 64 bytes possibly leaked in 1 blocks, 0 bytes reachable in 0 blocks.' "$(summary func.out)"
! grep -q '^100 bytes' func.out || fail "the suppressed group is listed: $(cat func.out)"
grep -q '^-----------------------------------------------------$' func.out \
  || fail "LSan's rule lines: $(cat func.out)"
# The table comes after the groups, before the SUMMARY (LSan's order).
expect_eq "last line" "$(summary func.out)" "$(tail -n 1 func.out)"

# A leaked list: its direct and indirect groups share a stack, both
# suppressed (3 blocks, 144 bytes).
leaks_with list 'leak:leak_list'
expect_eq "table of the list" "      3        144 leak_list" "$(used list.out)"
expect_eq "summary without the list" 'SUMMARY: 400 bytes leaked in 2 blocks, 0 bytes indirectly leaked in 0 blocks, 64 bytes possibly leaked in 1 blocks, 0 bytes reachable in 0 blocks.' "$(summary list.out)"

# By module: the leak from libfoo.so, by its last component and by its
# full path anchored at both ends; by source file.
for pattern in libfoo.so "^$PWD/libfoo.so\$" libfoo.c '^libfoo.c$'; do
  leaks_with module "leak:$pattern"
  expect_eq "table of leak:$pattern" "      1        300 $pattern" "$(used module.out)"
  expect_eq "summary without libfoo ($pattern)" 'SUMMARY: 148 bytes leaked in 2 blocks, 96 bytes indirectly leaked in 2 blocks, 64 bytes possibly leaked in 1 blocks, 0 bytes reachable in 0 blocks.' "$(summary module.out)"
done
# A substring of the path of the module (its directory) is enough.
leaks_with dir "leak:$(basename "$PWD")/libfoo"
expect_eq "module by directory" "      1        300 $(basename "$PWD")/libfoo" "$(used dir.out)"

# Anchors: ^leak_ matches leak_direct, leak_list and leak_possible (the
# possible leak too); ^eak_ matches nothing, nor does leak_dir$;
# leak_direct$ does, and so does a '*'.
leaks_with start 'leak:^leak_'
expect_eq "table of ^leak_" "      5        308 ^leak_" "$(used start.out)"
expect_eq "summary of ^leak_" 'SUMMARY: 300 bytes leaked in 1 blocks, 0 bytes indirectly leaked in 0 blocks, 0 bytes possibly leaked in 0 blocks, 0 bytes reachable in 0 blocks.' "$(summary start.out)"
for pattern in '^eak_' 'leak_dir$' '^foo_leak_' 'nowhere*leak'; do
  leaks_with nomatch "leak:$pattern"
  expect_eq "leak:$pattern matches nothing" "" "$(used nomatch.out)"
  ! grep -q 'Suppressions used' nomatch.out || fail "an empty table for $pattern"
  expect_eq "summary of leak:$pattern" "$full" "$(summary nomatch.out)"
done
leaks_with end 'leak:leak_direct$'
expect_eq "table of leak_direct\$" "      1        100 leak_direct\$" "$(used end.out)"
leaks_with star 'leak:leak_*ible'
expect_eq "table of leak_*ible" "      1         64 leak_*ible" "$(used star.out)"
# The first pattern matching a stack takes it, in LSan's order: the
# innermost frame first, then each pattern in the file's order.
leaks_with order 'leak:^main$' 'leak:leak_direct'
expect_eq "the innermost frame wins" "      5        508 ^main\$
      1        100 leak_direct" "$(used order.out)"

# A file in LeakSanitizer's own format: comments, blank lines, other
# kinds, spaces around, a CRLF line.
printf '%s\n' '# Suppressions, as LSan and ASan take them.' '' \
  'interceptor_via_fun:some_function' 'interceptor_via_lib:libbar.so' \
  '   leak:leak_direct   ' '	# indented comment' 'called_from_lib:libbaz.so' \
  >lsan.supp
printf 'leak:libfoo.so\r\n' >>lsan.supp
status=0
"$DMEM" leaks --error-exitcode=5 --suppressions=lsan.supp all.core >lsan.out 2>lsan.err \
  || status=$?
expect_eq "the list's direct leak is left" 5 "$status"
expect_eq "LSan file's table" "      1        100 leak_direct
      1        300 libfoo.so" "$(used lsan.out)"
expect_eq "found line with suppressions" "dmem: leaks found 1 direct leaks." "$(tail -n 1 lsan.err)"
# Two files: the list too; possible leaks alone give no status.
printf 'leak:leak_list\n' >list.supp
status=0
"$DMEM" leaks --error-exitcode=5 --suppressions=lsan.supp --suppressions list.supp \
  all.core >two.out 2>two.err || status=$?
expect_eq "only a possible leak left" 0 "$status"
[ ! -s two.err ] || fail "stderr with nothing found: $(cat two.err)"
expect_eq "summary with two files" 'SUMMARY: 0 bytes leaked in 0 blocks, 0 bytes indirectly leaked in 0 blocks, 64 bytes possibly leaked in 1 blocks, 0 bytes reachable in 0 blocks.' "$(summary two.out)"

# JSON: the summary without the suppressed, the "suppressed" patterns,
# the "suppressed_groups" apart.
"$DMEM" leaks --format=json --suppressions=lsan.supp --suppressions=list.supp \
  all.core >two.json || fail "leaks --format=json --suppressions"
$SYSTEM_PYTHON - two.json <<'EOF' || fail "JSON with suppressions"
import json, sys
r = json.load(open(sys.argv[1]))
s = r["summary"]
assert (s["leaked_blocks"], s["leaked_bytes"], s["indirect_blocks"], s["possible_blocks"]) == (0, 0, 0, 1), s
assert (s["suppressed_blocks"], s["suppressed_bytes"]) == (5, 544), s
assert [g["kind"] for g in r["groups"]] == ["possible"], r["groups"]
assert r["suppressed"] == [
    {"pattern": "leak_direct", "blocks": 1, "bytes": 100},
    {"pattern": "libfoo.so", "blocks": 1, "bytes": 300},
    {"pattern": "leak_list", "blocks": 3, "bytes": 144}], r["suppressed"]
got = sorted((g["kind"], g["count"], g["bytes"], g["suppression"]) for g in r["suppressed_groups"])
assert got == [("indirect", 2, 96, "leak_list"), ("leak", 1, 48, "leak_list"),
               ("leak", 1, 100, "leak_direct"), ("leak", 1, 300, "libfoo.so")], got
for g in r["suppressed_groups"]:
    assert g["frames"] and g["threads"], g
EOF
"$DMEM" leaks --format=json all.core >plain.json || fail "leaks --format=json"
$SYSTEM_PYTHON - plain.json <<'EOF' || fail "JSON without suppressions"
import json, sys
r = json.load(open(sys.argv[1]))
assert (r["summary"]["suppressed_blocks"], r["summary"]["suppressed_bytes"]) == (0, 0), r["summary"]
assert r["suppressed"] == [] and r["suppressed_groups"] == [], r
assert r["summary"]["leaked_blocks"] == 3, r["summary"]
EOF
# Folded stacks leave the suppressed groups out.
"$DMEM" leaks --format=folded --suppressions=lsan.supp all.core >folded.out \
  || fail "leaks --format=folded --suppressions"
! grep -q 'leak_direct\|foo_leak' folded.out || fail "folded suppressed: $(cat folded.out)"
grep -q '^leak;.*leak_list 48$' folded.out || fail "folded list: $(cat folded.out)"

# Bad files: one line each; unreadable 2, malformed 64 naming the line.
status=0
"$DMEM" leaks --suppressions=missing.supp all.core >missing.out 2>missing.err || status=$?
expect_eq "a missing file" 2 "$status"
expect_eq "missing file message" "dmem: cannot read the suppressions file 'missing.supp': No such file or directory" "$(cat missing.err)"
[ ! -s missing.out ] || fail "a report with a missing file"
printf '# ok\nleak:main\nleak:\n' >empty.supp
status=0
"$DMEM" leaks --suppressions=empty.supp all.core >empty.out 2>empty.err || status=$?
expect_eq "leak: without a pattern" 64 "$status"
expect_eq "empty pattern message" "dmem: empty.supp:3: 'leak:' needs a pattern" "$(cat empty.err)"
printf 'leak:main\nmain\n' >junk.supp
status=0
"$DMEM" leaks --suppressions=junk.supp all.core >junk.out 2>junk.err || status=$?
expect_eq "a line without a kind" 64 "$status"
expect_eq "junk line message" "dmem: junk.supp:2: not a suppression (KIND:PATTERN, such as leak:FUNCTION): 'main'" "$(cat junk.err)"
# Options: leaks only, N from 1 to 255.
for bad in "stacks --suppressions=lsan.supp" "verify --error-exitcode=3" \
           "leaks --error-exitcode=0" "leaks --error-exitcode=256" "leaks --error-exitcode=x"; do
  status=0
  # shellcheck disable=SC2086
  "$DMEM" $bad all.core >bad.out 2>bad.err || status=$?
  expect_eq "dmem $bad" 64 "$status"
  expect_eq "lines for dmem $bad" 2 "$(wc -l <bad.err)"
done

# gdb and drgn: the same report, byte for byte, and the status: gdb's
# error is the found line, after the report.
if [ -n "${GDB:-}" ] && [ -x "$GDB" ]; then
  . "$top_srcdir/tests/readers-lib.sh"
  # gdb_report OUT CMD: gdb's report of CMD on the core in OUT (what gdb
  # says while loading the core cut off), its stderr in OUT.err.
  gdb_report () {
    gdb_dmem "$1.all" analyzer-suppress all.core -- 'echo @@report\n' "$2"
    sed '1,/^@@report$/d' "$1.all" >"$1"
    mv "$1.all.err" "$1.err"
  }
  "$DMEM" leaks --suppressions="$PWD/lsan.supp" -e analyzer-suppress all.core >c.out \
    || fail "dmem leaks -e"
  gdb_report g.out "dmem leaks --suppressions=$PWD/lsan.supp"
  expect_eq "gdb's status" 0 "$gdb_status"
  cmp -s c.out g.out || fail "gdb and dmem differ: $(diff c.out g.out | head -n 6)"
  gdb_report g5.out "dmem leaks --suppressions=$PWD/lsan.supp --error-exitcode=5"
  expect_eq "gdb's status with leaks found" 1 "$gdb_status"
  cmp -s c.out g5.out || fail "gdb's report with --error-exitcode: $(diff c.out g5.out | head -n 6)"
  expect_eq "gdb's error" "dmem: leaks found 1 direct leaks." "$(tail -n 1 g5.out.err)"
  gdb_report gbad.out "dmem leaks --suppressions=$PWD/empty.supp"
  expect_eq "gdb's error on a bad file" "dmem: $PWD/empty.supp:3: 'leak:' needs a pattern" \
    "$(tail -n 1 gbad.out.err)"
  [ ! -s gbad.out ] || fail "gdb printed a report with a bad file: $(cat gbad.out)"
  # verify's found status stays an error of its own.
  gdb_report gv.out "dmem verify"
  expect_eq "gdb verify" 0 "$gdb_status"
  if [ -x "${DRGN:-/usr/bin/drgn}" ]; then
    need_drgn
    drgn_dmem d.out -c all.core -- leaks --suppressions="$PWD/lsan.supp" --error-exitcode=5
    expect_eq "drgn's status" 5 "$drgn_status"
    cmp -s c.out d.out || fail "drgn and dmem differ: $(diff c.out d.out | head -n 6)"
  else
    note "drgn is not installed: not compared"
  fi
else
  note "gdb is not installed: not compared"
fi
exit 0
