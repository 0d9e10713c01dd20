#!/bin/sh
# dmem run: PROG under the runtime, leak report on stderr at its exit, PROG's
# exit status; no ulimit or core_pattern involved.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"
DMEM_RUNTIME=$LIBDMEM
export DMEM_RUNTIME

build analyzer-classic
status=0
"$DMEM" run ./analyzer-classic >run.out 2>run.err || status=$?
expect_eq "exit status of dmem run" 0 "$status"
grep -q '^leaked 2048 bytes at 0x' run.out || fail "program output: $(cat run.out)"
grep -q '^2048 bytes in 1 block (leak) from threads [0-9]*:$' run.err \
  || fail "leak report: $(cat run.err)"
grep -q '^    #0 main+0x.*analyzer-classic.c:' run.err \
  || fail "leak stack: $(cat run.err)"
grep -q '^SUMMARY: 2048 bytes leaked in 1 blocks' run.err \
  || fail "leak summary: $(cat run.err)"

# PROG's exit status comes through, the report still printed.
status=0
"$DMEM" run -- ./analyzer-classic 5 >run5.out 2>run5.err || status=$?
expect_eq "exit status 5" 5 "$status"
grep -q '^SUMMARY: 2048 bytes leaked' run5.err || fail "no report: $(cat run5.err)"

# -o passes options to the runtime.
"$DMEM" run -o trace-stderr ./analyzer-classic >trace.out 2>trace.err \
  || fail "dmem run -o trace-stderr"
grep -q '^malloc(2048) = 0x' trace.err || fail "no trace: $(head -5 trace.err)"

# So does DMEM_OPTS from the environment, and the report is still made.
DMEM_OPTS=trace-stderr "$DMEM" run ./analyzer-classic >envtrace.out 2>envtrace.err \
  || fail "DMEM_OPTS=trace-stderr dmem run"
grep -q '^malloc(2048) = 0x' envtrace.err || fail "DMEM_OPTS dropped: $(head -5 envtrace.err)"
grep -q '^SUMMARY: 2048 bytes leaked' envtrace.err || fail "no report with DMEM_OPTS: $(tail -3 envtrace.err)"

# DMEM_OPTS comes after report-socket and before -o, the later winning: the
# environment's fail-once applies, -o's fail-file replaces the environment's.
# Every allocation stack fails once, so the 2048-byte block is NULL and the
# program dies of SIGSEGV: named, with no report and 128+11.
status=0
(ulimit -c 0; DMEM_OPTS=fail-once,fail-file=env.stacks \
  "$DMEM" run -o fail-file=opt.stacks ./analyzer-classic >order.out 2>order.err) || status=$?
expect_eq "exit status of a crash" 139 "$status"
[ -s opt.stacks ] && [ ! -e env.stacks ] || fail "-o did not win over DMEM_OPTS: $(ls)"
grep -q '^dmem: ./analyzer-classic was killed by signal 11 (SIGSEGV: Segmentation fault); no leak report$' \
  order.err || fail "crash message: $(cat order.err)"

# A program that ends in _exit (dash does) never stops: one line, its status.
status=0
"$DMEM" run sh -c 'exit 3' >sh.out 2>sh.err || status=$?
expect_eq "exit status of sh" 3 "$status"
expect_eq "lines on stderr" 1 "$(wc -l <sh.err)"
grep -q 'without stopping' sh.err || fail "message: $(cat sh.err)"

# Killed by a signal: 128 + the signal, and one line naming it.
status=0
"$DMEM" run sh -c 'kill -9 $$' >kill.out 2>kill.err || status=$?
expect_eq "exit status of a killed program" 137 "$status"
expect_eq "lines on stderr for a killed program" 1 "$(wc -l <kill.err)"
grep -q '^dmem: sh was killed by signal 9 (SIGKILL: Killed); no leak report$' kill.err \
  || fail "message for a killed program: $(cat kill.err)"

# dmem run killed: its program never stays stopped at exit.  The program's
# pid comes from the shell that execs it; it reads stdin until we close it.
# state PID: PID's state letter (R, S, T for stopped, Z), empty once reaped.
state () { sed -n 's/^[0-9]* (.*) \([A-Z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null || true; }
stopped () { [ "$(state "$1")" = T ]; }
finished () { case $(state "$1") in ''|Z) true ;; *) false ;; esac; }
# within CMD...: CMD succeeds within 10 s, polled every 0.05 s.
within () {
  tries=0
  until "$@"; do
    tries=$((tries + 1))
    [ "$tries" -lt 200 ] || return 1
    sleep 0.05
  done
}
# start_orphan: dmem run in the background ($dmem_pid), its program ($child)
# waiting on the fifo held open as fd 8.
start_orphan () {
  rm -f fifo child.pid; mkfifo fifo
  "$DMEM" run sh -c 'echo $$ >child.pid; exec ./analyzer-classic wait' \
    <fifo >orphan.out 2>orphan.err &
  dmem_pid=$!
  exec 8>fifo
  within test -s child.pid || { kill -KILL "$dmem_pid"; fail "dmem run did not start its program"; }
  child=$(cat child.pid)
}
# Killed while the program is stopped at exit (dmem itself stopped first,
# so that the program stays stopped until then): the program goes on.
start_orphan
kill -STOP "$dmem_pid"
exec 8>&-
within stopped "$child" \
  || { left=$(state "$child"); kill -KILL "$dmem_pid" "$child"; fail "the program did not stop at exit: '$left'"; }
kill -KILL "$dmem_pid"
wait "$dmem_pid" || true
within finished "$child" \
  || { left=$(state "$child"); kill -KILL "$child"; fail "program left '$left' once dmem run was killed"; }
# Killed before the program's exit: it does not stop at all.
start_orphan
kill -KILL "$dmem_pid"
wait "$dmem_pid" || true
exec 8>&-
within finished "$child" \
  || { left=$(state "$child"); kill -KILL "$child"; fail "program left '$left' after dmem run was killed early"; }

# A program that cannot be started: one line, 127 as from a shell.
status=0
"$DMEM" run ./no-such-program >none.out 2>none.err || status=$?
expect_eq "exit status for a missing program" 127 "$status"
expect_eq "lines on stderr for a missing program" 1 "$(wc -l <none.err)"

# --help: the usage on stdout, status 0.
status=0
"$DMEM" run --help >help.out 2>help.err || status=$?
expect_eq "dmem run --help" 0 "$status"
grep -q '^Usage: dmem run \[-o OPTS\] \[--error-exitcode=N\] \[--suppressions=FILE\]\.\.\.$' help.out \
  || fail "run --help: $(cat help.out)"
grep -q '^--output=FILE$' help.out || fail "run --help has no --output: $(cat help.out)"
[ ! -s help.err ] || fail "run --help wrote on stderr: $(cat help.err)"

# Usage errors: 64, the error and the hint.
status=0
"$DMEM" run >/dev/null 2>&1 || status=$?
expect_eq "dmem run without a program" 64 "$status"
status=0
"$DMEM" run --bogus ./analyzer-classic >bogus.out 2>bogus.err || status=$?
expect_eq "dmem run --bogus" 64 "$status"
expect_eq "run --bogus message" "dmem: run: unknown option '--bogus'
Try 'dmem --help'." "$(cat bogus.err)"
[ ! -s bogus.out ] || fail "run --bogus ran the program: $(cat bogus.out)"

# For CI: --error-exitcode=N is the status when PROG leaked (direct leaks,
# not suppressed), else PROG's own; the last line on stderr says why.
$CC -O2 -g -fomit-frame-pointer -shared -fPIC -o libfoo.so "$SRC/libfoo.c" \
  || fail "cannot build libfoo.so"
build analyzer-suppress -L. -lfoo -Wl,-rpath,"$PWD"
build analyzer-doublefree
status=0
"$DMEM" run --error-exitcode=23 ./analyzer-classic 5 >ee.out 2>ee.err || status=$?
expect_eq "dmem run --error-exitcode=23 of a leaking program" 23 "$status"
grep -q '^SUMMARY: 2048 bytes leaked in 1 blocks' ee.err || fail "report with --error-exitcode: $(cat ee.err)"
expect_eq "the found line" "dmem: leaks found 1 direct leaks." "$(tail -n 1 ee.err)"
status=0
"$DMEM" run --error-exitcode 23 -- ./analyzer-suppress 7 >clean.out 2>clean.err || status=$?
expect_eq "dmem run --error-exitcode of a clean program" 7 "$status"
grep -q '^SUMMARY: 0 bytes leaked in 0 blocks' clean.err || fail "clean report: $(cat clean.err)"
! grep -q 'leaks found' clean.err || fail "found line for a clean program: $(cat clean.err)"
status=0
"$DMEM" run --error-exitcode=23 ./analyzer-suppress >clean0.out 2>clean0.err || status=$?
expect_eq "a clean program's 0" 0 "$status"
# A possible leak alone is not a direct one.
status=0
"$DMEM" run --error-exitcode=23 ./analyzer-suppress possible 4 >poss.out 2>poss.err || status=$?
expect_eq "a possible leak alone" 4 "$status"
grep -q '^64 bytes in 1 block (possible leak)' poss.err || fail "possible leak report: $(cat poss.err)"
# Without the option, PROG's status however it leaked.
status=0
"$DMEM" run ./analyzer-suppress all 6 >all.out 2>all.err || status=$?
expect_eq "no --error-exitcode" 6 "$status"

# --suppressions is passed on to the report: leaks suppressed by function
# and by module are out of the status.
printf '# classic\nleak:^main$\n' >main.supp
status=0
"$DMEM" run --error-exitcode=23 --suppressions=main.supp ./analyzer-classic 6 >sup.out 2>sup.err \
  || status=$?
expect_eq "a suppressed leak" 6 "$status"
grep -q '^      1       2048 ^main\$$' sup.err || fail "suppressions table: $(cat sup.err)"
grep -q '^SUMMARY: 0 bytes leaked in 0 blocks' sup.err || fail "suppressed summary: $(cat sup.err)"
printf 'interceptor_via_fun:strdup\nleak:libfoo.so\n' >foo.supp
status=0
"$DMEM" run --error-exitcode=23 --suppressions foo.supp ./analyzer-suppress foo >foo.out 2>foo.err \
  || status=$?
expect_eq "a leak suppressed by module" 0 "$status"
grep -q '^      1        300 libfoo.so$' foo.err || fail "module suppression: $(cat foo.err)"
status=0
"$DMEM" run --error-exitcode=23 --suppressions foo.supp ./analyzer-suppress foo direct >fd.out 2>fd.err \
  || status=$?
expect_eq "one leak suppressed, one not" 23 "$status"
# A bad file or option: said before PROG runs.
status=0
"$DMEM" run --suppressions=missing.supp ./analyzer-classic >missing.out 2>missing.err || status=$?
expect_eq "dmem run with a missing suppressions file" 2 "$status"
[ ! -s missing.out ] || fail "PROG ran with a missing suppressions file"
expect_eq "missing file message" "dmem: cannot read the suppressions file 'missing.supp': No such file or directory" \
  "$(cat missing.err)"
printf 'leak:\n' >empty.supp
status=0
"$DMEM" run --suppressions=empty.supp ./analyzer-classic >empty.out 2>empty.err || status=$?
expect_eq "dmem run with an empty pattern" 64 "$status"
[ ! -s empty.out ] || fail "PROG ran with a malformed suppressions file"
for bad in --error-exitcode=0 --error-exitcode=300 --format=xml --error-exitcode --output; do
  status=0
  "$DMEM" run $bad ./analyzer-classic >bad.out 2>bad.err || status=$?
  expect_eq "dmem run $bad" 64 "$status"
  [ ! -s bad.out ] || fail "dmem run $bad ran PROG"
  expect_eq "lines for dmem run $bad" 2 "$(wc -l <bad.err)"
done

# --format=json --output=FILE: the report as JSON in FILE, one line on
# stderr saying where; -o is still the runtime's options.
status=0
"$DMEM" run -o trace-stderr --format=json --output=leaks.json --error-exitcode=23 \
  ./analyzer-suppress all 1 >json.out 2>json.err || status=$?
expect_eq "dmem run --format=json --output" 23 "$status"
grep -q '^malloc(100) = 0x' json.err || fail "-o with --output: no trace: $(head -n 3 json.err)"
grep -q "^dmem: leaks of ./analyzer-suppress (pid [0-9]*) at exit: written to leaks.json\$" json.err \
  || fail "where the report went: $(grep '^dmem:' json.err)"
! grep -q 'SUMMARY\|"summary"' json.err || fail "the report went to stderr too"
expect_eq "found line with --output" "dmem: leaks found 3 direct leaks." "$(tail -n 1 json.err)"
$SYSTEM_PYTHON - leaks.json <<'EOF' || fail "the JSON file: $(head -c 300 leaks.json)"
import json, sys
r = json.load(open(sys.argv[1]))
s = r["summary"]
assert (s["leaked_blocks"], s["leaked_bytes"], s["indirect_blocks"], s["possible_blocks"]) == (3, 448, 2, 1), s
assert sorted(g["bytes"] for g in r["groups"] if g["kind"] == "leak") == [48, 100, 300], r["groups"]
assert r["suppressed"] == [] and s["suppressed_blocks"] == 0, r
EOF
# JSON with suppressions, and --json.
status=0
"$DMEM" run --json --suppressions=foo.supp --output=foo.json ./analyzer-suppress foo 3 \
  >fj.out 2>fj.err || status=$?
expect_eq "dmem run --json --output" 3 "$status"
$SYSTEM_PYTHON - foo.json <<'EOF' || fail "the JSON file with suppressions: $(head -c 300 foo.json)"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["suppressed"] == [{"pattern": "libfoo.so", "blocks": 1, "bytes": 300}], r["suppressed"]
assert r["summary"]["leaked_blocks"] == 0 and r["summary"]["suppressed_bytes"] == 300, r["summary"]
EOF
# --output without --format: the text report in FILE.
"$DMEM" run --output leaks.txt ./analyzer-classic >text.out 2>text.err || fail "dmem run --output"
grep -q '^SUMMARY: 2048 bytes leaked in 1 blocks' leaks.txt || fail "text in the file: $(cat leaks.txt)"
! grep -q SUMMARY text.err || fail "the text report went to stderr too: $(cat text.err)"
# A file that cannot be written: 2, PROG not run.
status=0
"$DMEM" run --output=no-such-dir/leaks.json ./analyzer-classic >nodir.out 2>nodir.err || status=$?
expect_eq "an unwritable --output" 2 "$status"
[ ! -s nodir.out ] || fail "PROG ran with an unwritable --output"
expect_eq "unwritable --output message" "dmem: cannot write no-such-dir/leaks.json: No such file or directory" \
  "$(cat nodir.err)"

# The heap is checked at exit on the same snapshot: with --error-exitcode
# the heap errors the runtime caught (here a double free it let pass:
# keep-going) make the status too; the check is shown when it finds one,
# or always with --verify.
status=0
"$DMEM" run -o keep-going --verify --error-exitcode=23 ./analyzer-doublefree >df.out 2>df.err \
  || status=$?
expect_eq "dmem run --verify of a double free" 23 "$status"
grep -q '^dmem: heap check of ./analyzer-doublefree (pid [0-9]*) at exit:$' df.err \
  || fail "no heap check: $(cat df.err)"
sed -n '/^dmem: heap check/,$p' df.err | grep -q 'double-free' || fail "heap check: $(cat df.err)"
status=0
"$DMEM" run -o keep-going --error-exitcode=23 ./analyzer-doublefree >df2.out 2>df2.err || status=$?
expect_eq "a double free without --verify" 23 "$status"
grep -q '^dmem: heap check of ./analyzer-doublefree (pid [0-9]*) at exit:$' df2.err \
  || fail "no heap check of a double free without --verify: $(cat df2.err)"
# Errors the runtime itself never sees, found by the check at exit: a
# never-freed block overrun, a write into a freed block in the quarantine.
build analyzer-quarantine
status=0
"$DMEM" run --error-exitcode=23 ./analyzer-quarantine overrun >ov.out 2>ov.err || status=$?
expect_eq "dmem run of a never-freed overrun" 23 "$status"
sed -n '/^dmem: heap check/,$p' ov.err | grep -q 'overrun.*' || fail "overrun at exit: $(cat ov.err)"
sed -n '/^dmem: heap check/,$p' ov.err | grep -q 'allocate_kept' || fail "overrun's stack at exit: $(cat ov.err)"
status=0
"$DMEM" run -o quarantine=1048576 ./analyzer-quarantine uaf >uaf.out 2>uaf.err || status=$?
expect_eq "dmem run of a write after free (no --error-exitcode)" 0 "$status"
sed -n '/^dmem: heap check/,$p' uaf.err | grep -q '^use-after-free of the 100-byte block' ||
  fail "write after free at exit: $(cat uaf.err)"
status=0
"$DMEM" run ./analyzer-suppress 9 >nv.out 2>nv.err || status=$?
expect_eq "dmem run of a sound heap" 9 "$status"
! grep -q '^dmem: heap check' nv.err || fail "a heap check shown for a sound heap without --verify"
status=0
"$DMEM" run --verify --error-exitcode=23 ./analyzer-suppress 9 >v.out 2>v.err || status=$?
expect_eq "dmem run --verify of a sound heap" 9 "$status"
grep -q '^dmem: heap check of' v.err || fail "no heap check: $(cat v.err)"
