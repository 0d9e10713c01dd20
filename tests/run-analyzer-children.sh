#!/bin/sh
# dmem run --follow-children: every process of PROG's tree that exits (or
# _exits) is reported, headed with its pid and command line; exec'd
# programs at their own exit; statuses kept; --error-exitcode and JSON
# over all of them; without the option, a line counting the unreported.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"
DMEM_RUNTIME=$LIBDMEM
export DMEM_RUNTIME
build analyzer-children
build analyzer-classic

# report_of PID FILE: the text report headed "dmem: leaks of ... (pid PID)"
# in FILE, to the next line of dmem's own.
report_of () {
  awk -v head="(pid $1) at exit:" '
    /^dmem: / { on = index($0, head) > 0 && /^dmem: leaks of /; next }
    on' "$2"
}
# headers FILE: the number of reports in FILE.
headers () { grep -c '^dmem: leaks of .* (pid [0-9]*) at exit:' "$1" || true; }

# A parent and two children, each leaking its own block: three reports.
status=0
"$DMEM" run --follow-children ./analyzer-children 5 >tree.out 2>tree.err || status=$?
expect_eq "exit status of a followed tree" 5 "$status"
read -r _ parent one two <<EOT
$(sed -n 's/^parent \([0-9]*\), children \([0-9]*\) \([0-9]*\)$/p \1 \2 \3/p' tree.out)
EOT
[ -n "$two" ] || fail "program output: $(cat tree.out) $(cat tree.err)"
expect_eq "reports of the tree" 3 "$(headers tree.err)"
for p in $parent $one $two; do
  grep -q "^dmem: leaks of ./analyzer-children 5 (pid $p) at exit:\$" tree.err \
    || fail "no report headed with pid $p: $(grep '^dmem:' tree.err)"
done
# check PID BYTES FUNCTION: PID's report has that leak alone, from FUNCTION.
check () {
  report_of "$1" tree.err >"report.$1"
  grep -q "^$2 bytes in 1 block (leak) from threads $1:\$" "report.$1" \
    || fail "pid $1 has no $2-byte leak: $(cat "report.$1")"
  grep -q "^    #1 $3+0x.*analyzer-children.c:" "report.$1" \
    || fail "pid $1's leak is not from $3: $(cat "report.$1")"
  grep -q "^SUMMARY: $2 bytes leaked in 1 blocks," "report.$1" \
    || fail "pid $1's summary: $(cat "report.$1")"
}
check "$parent" 1111 parent_leak
check "$one" 2222 first_child_leak
check "$two" 3333 second_child_leak  # it ended in _exit
! grep -q 'not followed' tree.err || fail "'not followed' with --follow-children"

# Without the option: PROG alone, and how many exits went unreported.
status=0
"$DMEM" run ./analyzer-children 5 >one.out 2>one.err || status=$?
expect_eq "exit status, children not followed" 5 "$status"
expect_eq "reports without --follow-children" 1 "$(headers one.err)"
grep -q '^1111 bytes in 1 block (leak)' one.err || fail "PROG's report: $(cat one.err)"
expect_eq "the not-followed line" \
  "dmem: child processes were not followed: 2 exited unreported (--follow-children reports them)" \
  "$(grep 'not followed' one.err)"

# A shell script that runs a leaking program: the program's report, and
# the shell's own (dash ends in _exit), with no leak in it.
printf '#!/bin/sh\n./analyzer-classic\nexit 6\n' >script.sh
chmod +x script.sh
status=0
"$DMEM" run --follow-children ./script.sh >script.out 2>script.err || status=$?
expect_eq "exit status of the script" 6 "$status"
grep -q '^leaked 2048 bytes at 0x' script.out || fail "script output: $(cat script.out)"
prog=$(sed -n 's/^dmem: leaks of \.\/analyzer-classic (pid \([0-9]*\)) at exit:$/\1/p' script.err)
[ -n "$prog" ] || fail "no report of the script's program: $(grep '^dmem:' script.err)"
report_of "$prog" script.err >report.prog
grep -q '^2048 bytes in 1 block (leak)' report.prog || fail "its leak: $(cat report.prog)"
grep -q '^    #0 main+0x.*analyzer-classic.c:' report.prog || fail "its stack: $(cat report.prog)"
shell=$(sed -n 's/^dmem: leaks of \(\/bin\/\)\{0,1\}sh \.\/script\.sh (pid \([0-9]*\)) at exit:$/\2/p' script.err)
[ -n "$shell" ] || fail "no report of the shell: $(grep '^dmem:' script.err)"
report_of "$shell" script.err >report.shell
grep -q '^SUMMARY: 0 bytes leaked in 0 blocks, 0 bytes indirectly leaked in 0 blocks,' report.shell \
  || fail "the shell's report: $(cat report.shell)"
# sh -c as well, a command after the program so that sh does not exec it.
status=0
"$DMEM" run --follow-children -- sh -c './analyzer-classic 3; true' >shc.out 2>shc.err || status=$?
expect_eq "exit status of sh -c" 0 "$status"
grep -q '^dmem: leaks of \./analyzer-classic 3 (pid [0-9]*) at exit:$' shc.err \
  || fail "sh -c's program: $(grep '^dmem:' shc.err)"
grep -q '^2048 bytes in 1 block (leak)' shc.err || fail "sh -c's leak: $(cat shc.err)"

# A dmem run inside a followed tree (a test suite testing with it): its
# program tells the inner dmem run, which reports it, not the outer one.
status=0
"$DMEM" run --follow-children -- sh -c "\"$DMEM\" run ./analyzer-classic 4; true" \
  >nest.out 2>nest.err || status=$?
expect_eq "exit status of the nesting shell" 0 "$status"
expect_eq "reports of the inner program" 1 \
  "$(grep -c '^dmem: leaks of \./analyzer-classic (pid [0-9]*) at exit:$' nest.err || true)"
grep -q '^dmem: leaks of .*dmem run \./analyzer-classic 4 (pid [0-9]*) at exit:$' nest.err \
  || fail "the inner dmem run's own report: $(grep '^dmem:' nest.err)"

# A program that execs another: the exec'd one reports at its exit, the
# image before the exec never exits.
status=0
"$DMEM" run --follow-children ./analyzer-children exec ./analyzer-classic 2 >exec.out 2>exec.err \
  || status=$?
expect_eq "exit status of the exec'd program" 2 "$status"
expect_eq "reports of an exec" 1 "$(headers exec.err)"
grep -q '^dmem: leaks of \./analyzer-classic 2 (pid [0-9]*) at exit:$' exec.err \
  || fail "the exec'd program's report: $(grep '^dmem:' exec.err)"
grep -q '^2048 bytes in 1 block (leak)' exec.err || fail "the exec'd leak: $(cat exec.err)"
! grep -q '4444 bytes' exec.err || fail "the image before exec was reported: $(cat exec.err)"

# --error-exitcode counts a leak in a child only when children are followed.
status=0
"$DMEM" run --follow-children --error-exitcode=9 ./analyzer-children child-only 2 \
  >ee.out 2>ee.err || status=$?
expect_eq "--error-exitcode, leak in a followed child" 9 "$status"
grep -q '^SUMMARY: 0 bytes leaked in 0 blocks' ee.err || fail "the clean parent: $(cat ee.err)"
grep -q '^2222 bytes in 1 block (leak)' ee.err || fail "the child's leak: $(cat ee.err)"
status=0
"$DMEM" run --error-exitcode=9 ./analyzer-children child-only 2 >ee1.out 2>ee1.err || status=$?
expect_eq "--error-exitcode, leak in a child not followed" 2 "$status"
grep -q '^dmem: child processes were not followed: 1 exited unreported' ee1.err \
  || fail "not-followed line: $(cat ee1.err)"

# JSON: a list of {pid, command, report}, one per process.
status=0
"$DMEM" run --follow-children --format=json --output=tree.json ./analyzer-children 7 \
  >json.out 2>json.err || status=$?
expect_eq "exit status with JSON" 7 "$status"
$SYSTEM_PYTHON - tree.json json.out <<'PY' || fail "the JSON file: $(head -c 400 tree.json)"
import json, re, sys
procs = json.load(open(sys.argv[1]))
parent, one, two = map(int, re.search(r"parent (\d+), children (\d+) (\d+)",
                                      open(sys.argv[2]).read()).groups())
assert isinstance(procs, list) and len(procs) == 3, procs
by_pid = {p["pid"]: p for p in procs}
want = {parent: (1111, "parent_leak"), one: (2222, "first_child_leak"),
        two: (3333, "second_child_leak")}
assert sorted(by_pid) == sorted(want), by_pid.keys()
for pid, (size, fn) in want.items():
    p = by_pid[pid]
    assert p["command"] == "./analyzer-children 7", p["command"]
    r = p["report"]
    assert r["summary"]["leaked_bytes"] == size, (pid, r["summary"])
    leaks = [g for g in r["groups"] if g["kind"] == "leak"]
    assert len(leaks) == 1 and fn in [f["function"] for f in leaks[0]["frames"]], leaks
assert procs[-1]["pid"] == parent, "the parent exits last"
PY
expect_eq "JSON headers on stderr" 3 "$(grep -c 'at exit: written to tree.json$' json.err)"

# A process of the tree still running when PROG exits is named; it is not
# waited for and runs on (here until we close the fifo it reads).
rm -f bg.fifo; mkfifo bg.fifo
exec 9<>bg.fifo
"$DMEM" run --follow-children sh -c './analyzer-classic wait <bg.fifo >bg.prog 2>&1 & echo $! >bg.pid' \
  >bg.out 2>bg.err || true
bg=$(cat bg.pid)
grep -q "^dmem: \./analyzer-classic wait (pid $bg) still runs after sh: its exit will not be reported\$" bg.err \
  || { exec 9>&-; fail "the running orphan: $(cat bg.err)"; }
exec 9>&-

# dmem run killed while a child is stopped at its exit: the child goes on,
# its parent reaps it as usual.
state () { sed -n 's/^[0-9]* (.*) \([A-Z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null || true; }
stopped () { [ "$(state "$1")" = T ]; }
finished () { case $(state "$1") in ''|Z) true ;; *) false ;; esac; }
# children_of PID: PID's first child, or nothing.
children_of () {
  set -- $(cat /proc/"$1"/task/*/children 2>/dev/null || true)
  echo "${1:-}"
}
within () {
  tries=0
  until "$@"; do
    tries=$((tries + 1))
    [ "$tries" -lt 200 ] || return 1
    sleep 0.05
  done
}
rm -f fifo; mkfifo fifo
"$DMEM" run --follow-children ./analyzer-children wait <fifo >killed.out 2>killed.err &
dmem_pid=$!
exec 8>fifo
has_grandchild () {
  prog=$(children_of "$dmem_pid")
  [ -n "$prog" ] && child=$(children_of "$prog") && [ -n "$child" ]
}
within has_grandchild || { kill -KILL "$dmem_pid"; fail "the tree did not start"; }
kill -STOP "$dmem_pid"
exec 8>&-
within stopped "$child" \
  || { left=$(state "$child"); kill -KILL "$dmem_pid" "$child"; fail "the child did not stop at exit: '$left'"; }
kill -KILL "$dmem_pid"
wait "$dmem_pid" || true
within finished "$child" \
  || { left=$(state "$child"); kill -KILL "$child"; fail "child left '$left' once dmem run was killed"; }
within finished "$prog" \
  || { kill -KILL "$prog"; fail "the parent did not finish"; }
expect_eq "the parent's word on its child" "reaped: ok" "$(cat killed.out)"
