#!/bin/sh
# debuginfod: a real debuginfod server on 127.0.0.1 indexes a directory
# holding the test program; the program's local copy is deleted; with
# DEBUGINFOD_URLS the frames still have function and file:line (the file
# fetched into DEBUGINFOD_CACHE_PATH).  A server that refuses, and one that
# never answers (DEBUGINFOD_TIMEOUT): a warning naming the module and why,
# and the partial result, no hang.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"
command -v debuginfod >/dev/null || skip "debuginfod (the server) is not installed"
command -v curl >/dev/null || skip "curl is not installed"

mkdir run served
build analyzer-leaks
mv analyzer-leaks run/
kernel_core leaks.core ./run/analyzer-leaks
id=$(LC_ALL=C readelf -n run/analyzer-leaks | sed -n 's/.*Build ID: //p')
mv run/analyzer-leaks served/

# A free port, then the server on it (it listens on every address; the
# client asks 127.0.0.1).
port=$("$SYSTEM_PYTHON" -c '
import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
debuginfod -F -p "$port" -d "$PWD/db.sqlite" -t 3600 "$PWD/served" \
  >debuginfod.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
# Scanned once it serves the program by build ID.
tries=0
until curl -sf -o /dev/null "http://127.0.0.1:$port/buildid/$id/executable"; do
  tries=$((tries + 1))
  [ $tries -lt 300 ] || fail "debuginfod did not serve $id: $(tail -n 5 debuginfod.log)"
  kill -0 $server 2>/dev/null || fail "debuginfod exited: $(tail -n 5 debuginfod.log)"
  sleep 0.2
done

# Without a server: no symbols for the program (the check can fail).
"$DMEM" leaks leaks.core >bare.out 2>bare.err || fail "leaks without a server"
! grep -q leak_in_worker_b bare.out || fail "the program is still found locally"

mkdir cache
DEBUGINFOD_URLS="http://127.0.0.1:$port" DEBUGINFOD_CACHE_PATH="$PWD/cache" \
  "$DMEM" leaks --format=json leaks.core >fetched.json 2>fetched.err \
  || fail "leaks with debuginfod exited $?: $(cat fetched.err)"
[ -s "cache/$id/executable" ] || fail "nothing fetched into the cache: $(find cache)"
"$SYSTEM_PYTHON" - fetched.json <<'PY' || fail "frames after fetching: $(head -c 2000 fetched.json)"
import json, sys
r = json.load(open(sys.argv[1]))
fr = [f for g in r["groups"] for f in g["frames"] if f["function"] == "leak_in_worker_b"]
assert fr, "no leak_in_worker_b frame"
assert all(f["file"].endswith("analyzer-leaks.c") and f["line"] > 0 for f in fr), fr
assert not any("analyzer-leaks" in w for w in r["warnings"]), r["warnings"]
PY
# Text too, and a bundle made here holds the fetched file.
DEBUGINFOD_URLS="http://127.0.0.1:$port" DEBUGINFOD_CACHE_PATH="$PWD/cache" \
  "$DMEM" leaks leaks.core >fetched.out 2>&1 || fail "text leaks"
grep -q "leak_in_worker_b+0x[0-9a-f]* (.*analyzer-leaks.c:[0-9]*)" fetched.out \
  || fail "no function and file:line: $(head -n 5 fetched.out)"
kill $server
wait $server 2>/dev/null || true

# A server that is not there: a warning naming the module, a partial result.
rm -rf cache; mkdir cache
DEBUGINFOD_URLS="http://127.0.0.1:$port" DEBUGINFOD_CACHE_PATH="$PWD/cache" \
  timeout 120 "$DMEM" leaks leaks.core >gone.out 2>gone.err \
  || fail "leaks with a missing server exited $?: $(cat gone.err)"
grep -q "module .*analyzer-leaks: no file for build ID $id from the debuginfod servers (http://127.0.0.1:$port): Connection refused" gone.err \
  || fail "missing server: $(cat gone.err)"
grep -q "bytes in 1 block (leak)" gone.out || fail "no partial result: $(cat gone.out)"

# A server that accepts and never answers: DEBUGINFOD_TIMEOUT ends it.
"$SYSTEM_PYTHON" -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
time.sleep(600)' >mute.port &
mute=$!
trap 'kill $mute 2>/dev/null || true' EXIT
while [ ! -s mute.port ]; do sleep 0.1; done
DEBUGINFOD_URLS="http://127.0.0.1:$(cat mute.port)" DEBUGINFOD_TIMEOUT=2 \
  DEBUGINFOD_RETRY_LIMIT=0 DEBUGINFOD_CACHE_PATH="$PWD/cache" \
  timeout 120 "$DMEM" leaks leaks.core >mute.out 2>mute.err \
  || fail "leaks with a mute server exited $? (124: it hung): $(cat mute.err)"
grep -q "module .*analyzer-leaks: no file for build ID $id from the debuginfod servers .*: Timer expired" mute.err \
  || fail "mute server: $(cat mute.err)"
grep -q "bytes in 1 block (leak)" mute.out || fail "no partial result"
kill $mute
note "ok"
