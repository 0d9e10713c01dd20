#!/bin/sh
# Real programs give identical output and exit status under the runtime,
# over glibc, jemalloc and tcmalloc.
. "$top_srcdir/tests/test-lib.sh"
printf 'b\na\nc\n%.0s' $(seq 1 2000) > lines
cat > script.py <<'PY'
import json, collections, re
d = collections.Counter(re.findall(r"\w+", open("lines").read() * 3))
print(json.dumps(sorted(d.items())), sum(len(str(i)) for i in range(100000)))
PY
cat > script.sql <<'SQL'
create table t(a integer, b text);
with recursive n(i) as (select 1 union all select i+1 from n where i < 20000)
insert into t select i, printf('%08x', (i * 2654435761) % 4294967296) || i from n;
select count(*), sum(a), count(distinct substr(b,1,2)) from t;
create index ti on t(b);
select a from t where a % 1000 = 0 order by b limit 5 offset 0;
SQL
git init -q repo && (cd repo && printf 'one\n' > f && git add f \
  && git -c user.email=t@e -c user.name=t commit -qm one) || fail "git set-up"

run_all () {
  /usr/bin/python3 script.py
  perl -e 'my %h; $h{$_ % 977} .= "x" for 1..200000; print scalar(keys %h), " ", length(join "", values %h), "\n"'
  if command -v sqlite3 >/dev/null; then sqlite3 :memory: < script.sql; else echo "no sqlite3"; fi
  (cd repo && git log --format=%s && git status --short && git cat-file -p HEAD^{tree})
  sort lines | uniq -c; ls -la "$top_srcdir/include/dmem" | awk '{print $5, $9}'
  sha256sum lines; du -sb lines; tr a-z A-Z < lines | tail -n 2; seq 1 100000 | wc -l
}
run_all > expected 2>&1 || fail "programs fail even without the runtime"
for below in "" $(ls /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/x86_64-linux-gnu/libtcmalloc.so.4 2>/dev/null); do
  LD_PRELOAD="$LIBDMEM${below:+:$below}" run_all > actual 2>&1 \
    || fail "a program failed under the runtime (below: ${below:-glibc})"
  diff expected actual >/dev/null || { diff expected actual | head; fail "output differs under the runtime (below: ${below:-glibc})"; }
done
command -v sqlite3 >/dev/null || skip "sqlite3 is not installed; the other programs agree"
