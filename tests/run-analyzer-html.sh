#!/bin/sh
# dmem report in a real browser (headless chromium): a kernel core of a
# leaking program whose source path is hostile HTML; the page runs with no
# error, its flame graphs hold the leaking functions, its numbers are the
# JSON reports', it can be sorted, zoomed and searched, nothing in the core
# becomes markup, and no request leaves the file.  gdb and drgn write the
# same page.
. "$top_srcdir/tests/test-lib.sh"
[ -x "$DMEM" ] || fail "$DMEM is not built"
[ -e "$LIBDMEM" ] || skip "the runtime is not built"
[ -x /usr/lib/chromium/chromium ] || command -v chromium >/dev/null ||
  skip "chromium is not installed (.ci/setup installs it)"
BROWSER="$SYSTEM_PYTHON $top_srcdir/tests/html-browser.py"

# The leaking program, built from a directory and file whose names close the
# page's <script> and open elements of their own, if anything let them.
evil='evil</script><img src=x onerror="window.pwned=1"><b>'
mkdir -p "src/$evil"
src="$PWD/src/$evil/leaks&amp;.c"
cp "$SRC/analyzer-leaks.c" "$src"
$CC -O2 -g -fomit-frame-pointer -pthread -o analyzer-leaks "$src" ||
  fail "cannot build analyzer-leaks"
kernel_core kernel.core ./analyzer-leaks

"$DMEM" report kernel.core -o report.html >report.out 2>report.err ||
  fail "dmem report exited $?: $(cat report.err)"
grep -q '^report written to report.html ([0-9]* bytes)$' report.out ||
  fail "dmem report said: $(cat report.out)"
for r in leaks stacks stats mallinfo verify; do
  "$DMEM" $r --format=json kernel.core >$r.json 2>/dev/null || [ $r = verify ] ||
    fail "dmem $r --format=json"
done
"$DMEM" report --limit 2 -o limited.html kernel.core >/dev/null 2>&1 ||
  fail "dmem report --limit 2"

# What the page shows, read from the DOM after its script ran, then after
# clicks, a search and a hover, as a user would do them.
cat >probe.js <<'JS'
(async () => {
  const q = (s) => [...document.querySelectorAll(s)];
  const frames = () => q("#flame g.frame").map((g) => ({ name: g.dataset.name,
    bytes: +g.dataset.bytes, blocks: +g.dataset.blocks, depth: +g.dataset.depth,
    width: +g.querySelector("rect").getAttribute("width") }));
  const rows = (id) => q("#" + id + " tbody tr").map((tr) => {
    const td = tr.querySelectorAll("td"), n = td.length;
    return { kind: n === 5 ? td[0].textContent : "live",
             bytes: +td[n - 4].dataset.value, count: +td[n - 3].dataset.value,
             shown: td[n - 4].textContent, threads: td[n - 2].textContent,
             site: td[n - 1].querySelector("summary") ? td[n - 1].querySelector("summary").textContent : "",
             text: td[n - 1].textContent };
  });
  // Open every stack (they are built when first opened).
  for (const d of q("#leaks-table details, #live-table details")) d.open = true;
  await new Promise((resolve) => setTimeout(resolve, 50));
  const out = { rendered: document.body.dataset.rendered, title: document.title,
    pwned: window.pwned === undefined ? null : window.pwned,
    imgs: q("img").length, bolds: q("b").length, scripts: q("script").length,
    cards: Object.fromEntries(q(".card").map((c) => [c.dataset.summary, c.querySelector(".value").textContent])),
    leaks: rows("leaks-table"), live: rows("live-table"),
    histogram: q("#histogram text").map((t) => t.textContent),
    threads: q("#threads text").map((t) => t.textContent),
    mallinfo: q("#mallinfo-body tbody tr").map((tr) => [tr.cells[0].textContent, +tr.cells[1].dataset.value]),
    verify: document.getElementById("verify-body").textContent,
    manifest: document.getElementById("manifest-body").textContent,
    leaks_note: document.getElementById("leaks-note").textContent,
    body: document.body.textContent };
  out.start_view = document.getElementById("flame").dataset.kind;
  out.leaked_frames = frames();
  document.getElementById("flame-live").click();
  out.live_frames = frames();
  document.getElementById("flame-leaked").click();
  // Zoom on leak_in_worker_b: it takes the whole width, its siblings go.
  const svgWidth = +document.querySelector("#flame svg").getAttribute("viewBox").split(" ")[2];
  const wb = q("#flame g.frame").find((g) => g.dataset.name === "leak_in_worker_b");
  if (wb) wb.querySelector("rect").dispatchEvent(new MouseEvent("click", { bubbles: true }));
  out.zoomed = { frames: frames(), status: document.getElementById("flame-status").textContent, svgWidth };
  document.getElementById("flame-reset").click();
  out.reset = frames().length;
  // Search: highlighted frames and their share.
  const search = document.getElementById("flame-search");
  search.value = "worker_a";
  search.dispatchEvent(new Event("input"));
  out.search = { matched: q("#flame rect.match").length,
                 names: q("#flame rect.match").map((r) => r.parentNode.dataset.name),
                 share: document.getElementById("flame-match").textContent };
  search.value = "";
  search.dispatchEvent(new Event("input"));
  // Tooltip of the leak_in_worker_a frame.
  const g = q("#flame g.frame").find((g) => g.dataset.name === "leak_in_worker_a");
  if (g) {
    const box = g.querySelector("rect").getBoundingClientRect();
    g.querySelector("rect").dispatchEvent(new MouseEvent("mousemove", { bubbles: true,
      clientX: box.left + 2, clientY: box.top + 2 }));
  }
  out.tooltip = document.getElementById("tooltip").textContent;
  // Sorting: Bytes twice; live blocks by Blocks.
  const header = (id, title) => q("#" + id + " th").find((th) => th.textContent === title);
  header("leaks-table", "Bytes").click();
  out.sorted_once = rows("leaks-table").map((r) => r.bytes);
  out.sort_once = header("leaks-table", "Bytes").getAttribute("aria-sort");
  header("leaks-table", "Bytes").click();
  out.sorted_twice = rows("leaks-table").map((r) => r.bytes);
  out.sort_twice = header("leaks-table", "Bytes").getAttribute("aria-sort");
  header("live-table", "Blocks").click();
  out.live_by_blocks = rows("live-table").map((r) => r.count);
  return out;
})()
JS

$BROWSER report.html probe.js net.json >page.json || fail "html-browser.py failed"
$BROWSER limited.html probe.js net-limited.json >limited.json ||
  fail "html-browser.py failed on limited.html"

"$SYSTEM_PYTHON" - page.json limited.json leaks.json stacks.json stats.json \
  mallinfo.json verify.json "$evil" "$src" <<'PY' || fail "the page is wrong"
import json, sys
page, limited, leaks, stacks, stats, mallinfo, verify = (json.load(open(p)) for p in sys.argv[1:8])
evil, src = sys.argv[8:10]

def clean(run, what):
    """No error, and no request but the file itself."""
    assert run["exceptions"] == [], (what, run["exceptions"])
    assert run["console_errors"] == [], (what, run["console_errors"])
    assert run["csp"] == [], (what, run["csp"])
    assert [u for u in run["requests"] if not u.startswith("file:")] == [], (what, run["requests"])
    assert run["netlog_requests"] == [], (what, run["netlog_requests"])
    r = run["result"]
    assert "probe_error" not in r, (what, r)
    assert r["rendered"] == "ok", (what, r["rendered"])
    return r

p = clean(page, "report.html")
lim = clean(limited, "limited.html")

# Nothing from the core became markup; the hostile path is shown as text.
assert p["pwned"] is None and p["imgs"] == 0 and p["bolds"] == 0, p
assert p["scripts"] == 2, p["scripts"]
assert src in p["body"], "the source path is not shown as text"

# Summary cards are the JSON's numbers.
s = leaks["summary"]
num = lambda t: int("".join(c for c in t if c.isdigit()))
for card, field in (("live_bytes", "live_bytes"), ("leaked_bytes", "leaked_bytes"),
                    ("indirect_bytes", "indirect_bytes"), ("possible_bytes", "possible_bytes"),
                    ("reachable_bytes", "reachable_bytes")):
    assert num(p["cards"][card]) == s[field], (card, p["cards"][card], s[field])
assert num(p["cards"]["peak_bytes"]) == stats["peak_bytes"], p["cards"]
assert p["cards"]["verify"] == ("OK" if verify["ok"] else "FAILED"), p["cards"]
assert (s["leaked_bytes"], s["indirect_bytes"]) == (2348, 432), s

# The tables hold the JSON's groups, in its order, with its numbers.
def key(g):
    return (g["bytes"], g["count"])
assert [(r["bytes"], r["count"]) for r in p["leaks"]] == [key(g) for g in leaks["groups"]], p["leaks"]
assert [(r["bytes"], r["count"]) for r in p["live"]] == [key(g) for g in stacks["groups"]], p["live"]
kinds = {"leak": "direct leak", "indirect": "indirect leak", "possible": "possible leak"}
assert [r["kind"] for r in p["leaks"]] == [kinds[g["kind"]] for g in leaks["groups"]], p["leaks"]
for r, g in zip(p["leaks"], leaks["groups"]):
    assert r["site"].startswith(g["frames"][0]["function"]), (r, g["frames"][0])
    assert num(r["shown"]) == g["bytes"], r
    assert r["threads"] == ", ".join(map(str, g["threads"])), (r, g["threads"])
    for f in g["frames"]:
        assert f["function"] in r["text"], (f, r["text"])
# A number column sorts most first on the first click, then least first.
assert p["sort_once"] == "descending", p["sort_once"]
assert p["sorted_once"] == sorted(p["sorted_once"], reverse=True), p["sorted_once"]
assert p["sort_twice"] == "ascending" and p["sorted_twice"] == sorted(p["sorted_once"]), p
assert p["live_by_blocks"] == sorted(p["live_by_blocks"], reverse=True), p["live_by_blocks"]

# Flame graphs: the leaking functions' frames, their bytes the JSON's sums.
def by_name(frames):
    d = {}
    for f in frames:
        d[f["name"]] = d.get(f["name"], 0) + f["bytes"]
    return d
def json_sum(groups, fn):
    return sum(g["bytes"] for g in groups if any(f["function"] == fn for f in g["frames"]))
assert p["start_view"] == "leaked", p["start_view"]
lf, vf = by_name(p["leaked_frames"]), by_name(p["live_frames"])
for fn in ("leak_in_worker_a", "leak_in_worker_b", "drop_list", "make_list", "main"):
    assert fn in lf, (fn, sorted(lf))
    assert lf[fn] == json_sum(leaks["groups"], fn), (fn, lf[fn])
assert lf["leak_in_worker_a"] == 300 and lf["leak_in_worker_b"] == 2000, lf
roots = [f for f in p["leaked_frames"] if f["depth"] == 0]
assert len(roots) == 1 and roots[0]["bytes"] == s["leaked_bytes"] + s["indirect_bytes"] + s["possible_bytes"], roots
assert by_name(f for f in p["leaked_frames"] if f["depth"] == 1) == \
    {"direct leak": s["leaked_bytes"], "indirect leak": s["indirect_bytes"]}, p["leaked_frames"]
vroot = [f for f in p["live_frames"] if f["depth"] == 0]
assert vroot[0]["bytes"] == stacks["summary"]["live_bytes"] and vroot[0]["blocks"] == stacks["summary"]["live_blocks"], vroot
for fn in ("leak_in_worker_b", "blocked_worker", "make_list"):
    assert vf[fn] == json_sum(stacks["groups"], fn), (fn, vf.get(fn))

# Zoom: leak_in_worker_b fills the width, the other leaks are gone.
z = p["zoomed"]
names = {f["name"] for f in z["frames"]}
assert "leak_in_worker_a" not in names and "drop_list" not in names, names
wb = [f for f in z["frames"] if f["name"] == "leak_in_worker_b"][0]
assert wb["width"] > z["svgWidth"] - 2, (wb, z["svgWidth"])
assert "zoomed on leak_in_worker_b" in z["status"], z["status"]
assert p["reset"] == len(p["leaked_frames"]), p["reset"]

# Search: worker_a matches worker_a and leak_in_worker_a, 300 bytes once.
total = roots[0]["bytes"]
assert sorted(p["search"]["names"]) == ["leak_in_worker_a", "worker_a"], p["search"]
assert p["search"]["share"] == "matched 300 B in 3 blocks, %.1f%% of the graph" % (100 * 300 / total), p["search"]

# Tooltip: function, module, file:line, bytes, blocks.
t = p["tooltip"]
fa = [g for g in leaks["groups"] if g["frames"][0]["function"] == "leak_in_worker_a"][0]["frames"][0]
for want in ("leak_in_worker_a", "module: " + fa["module"], "%s:%d" % (fa["file"], fa["line"]),
             "bytes: 300 ", "blocks: 3"):
    assert want in t, (want, t)
assert fa["file"] == src, (fa["file"], src)

# Charts and the other reports: stats', mallinfo's and verify's numbers.
for b in stats["histogram"]:
    assert any(x.endswith(" in %d blocks" % b["blocks"]) for x in p["histogram"]), (b, p["histogram"])
assert len([x for x in p["threads"] if x.startswith("thread ")]) == len(stats["threads"]), p["threads"]
assert [tuple(x) for x in p["mallinfo"]] == list(mallinfo["fields"].items()), p["mallinfo"]
assert ("%s: %d blocks" % ("OK" if verify["ok"] else "FAILED", verify["blocks_checked"])) in p["verify"], p["verify"]
assert "No manifest: the target is a plain core" in p["manifest"], p["manifest"]

# --limit 2: two rows per table, the rest one box, the totals unchanged.
assert [(r["bytes"], r["count"]) for r in lim["leaks"]] == [key(g) for g in leaks["groups"][:2]], lim["leaks"]
assert "The first 2 of %d" % len(leaks["groups"]) in lim["leaks_note"], lim["leaks_note"]
other = [f for f in lim["leaked_frames"] if f["name"] == "[other stacks, not listed]"]
shown = sum(g["bytes"] for g in leaks["groups"][:2])
assert len(other) == 1 and other[0]["bytes"] == total - shown, other
assert [f for f in lim["leaked_frames"] if f["depth"] == 0][0]["bytes"] == total, lim["leaked_frames"]
assert num(lim["cards"]["leaked_bytes"]) == s["leaked_bytes"], lim["cards"]
PY

# A core with thousands of stacks: the lists are capped (the totals are
# not), the tables show 100 rows at a time, the flame graph's grey box holds
# the stacks not listed.
build analyzer-manystacks
kernel_core many.core ./analyzer-manystacks
"$DMEM" report many.core -o many.html >/dev/null 2>&1 || fail "dmem report many.core"
"$DMEM" leaks --format=json many.core >many-leaks.json || fail "dmem leaks many.core"
"$DMEM" stacks --format=json many.core >many-stacks.json || fail "dmem stacks many.core"
cat >many-probe.js <<'JS'
(async () => {
  const rows = (id) => [...document.querySelectorAll("#" + id + " tbody tr")].map((tr) =>
    [...tr.querySelectorAll("td.num")].map((td) => +td.dataset.value));
  const out = { rendered: document.body.dataset.rendered, live: rows("live-table"),
    more: document.querySelector("#live-table button.more").textContent,
    flame: [...document.querySelectorAll("#flame g.frame")].filter((g) => +g.dataset.depth <= 1)
      .map((g) => [g.dataset.name, +g.dataset.bytes]),
    note: document.getElementById("live-note").textContent };
  document.querySelector("#live-table button.more").click();
  out.live_more = rows("live-table");
  return out;
})()
JS
$BROWSER many.html many-probe.js net-many.json >many.json || fail "html-browser.py on many.html"
"$SYSTEM_PYTHON" - many.json many-leaks.json many-stacks.json <<'PY' || fail "the page of many stacks is wrong"
import json, sys
run, leaks, stacks = (json.load(open(p)) for p in sys.argv[1:4])
assert run["exceptions"] == [] and run["console_errors"] == [] and run["netlog_requests"] == [], run
p = run["result"]
assert p["rendered"] == "ok", p
assert stacks["groups_total"] == len(stacks["groups"]) > 6000, stacks["groups_total"]
want = [[g["bytes"], g["count"]] for g in stacks["groups"]]
assert p["live"] == want[:100] and p["live_more"] == want[:200], (p["live"][:3], want[:3])
assert p["more"] == "Show 100 more (100 of 1,000 shown)", p["more"]
assert "The first 1,000 of %s stacks" % format(stacks["groups_total"], ",") in p["note"], p["note"]
s = leaks["summary"]
total = s["leaked_bytes"] + s["indirect_bytes"] + s["possible_bytes"]
flame = dict(p["flame"])
assert flame["all leaked blocks"] == total, flame
assert len(leaks["groups"]) > 1000, leaks["groups_total"]
listed = sum(g["bytes"] for g in leaks["groups"][:1000])
assert flame["[other stacks, not listed]"] == total - listed, flame
PY

# A bundle's manifest, where this build makes bundles (dmem bundle).
if "$DMEM" bundle --help >/dev/null 2>&1; then
  "$DMEM" bundle kernel.core -e ./analyzer-leaks -o leaks.bundle >bundle.out 2>&1 ||
    fail "dmem bundle: $(cat bundle.out)"
  "$DMEM" report leaks.bundle -o bundle.html >/dev/null 2>bundle.err ||
    fail "dmem report of a bundle: $(cat bundle.err)"
  cat >bundle-probe.js <<'JS'
(async () => ({ rendered: document.body.dataset.rendered,
  fields: Object.fromEntries([...document.querySelectorAll("#manifest-fields dt")].map((dt) =>
    [dt.textContent, dt.nextElementSibling.textContent])),
  modules: [...document.querySelectorAll("#manifest-body tbody tr")].map((tr) => tr.textContent),
  plain: !!document.getElementById("no-manifest") }))()
JS
  $BROWSER bundle.html bundle-probe.js net-bundle.json >bundle.json ||
    fail "html-browser.py on bundle.html"
  "$SYSTEM_PYTHON" - bundle.json <<'PY' || fail "the bundle's manifest is not shown (is t->manifest passed in html.c's json_manifest?)"
import json, sys
run = json.load(open(sys.argv[1]))
assert run["exceptions"] == [] and run["console_errors"] == [] and run["netlog_requests"] == [], run
p = run["result"]
assert p["rendered"] == "ok" and not p["plain"], p
assert p["fields"].get("program.name") == "analyzer-leaks", p["fields"]
assert any("analyzer-leaks" in m for m in p["modules"]) and any("libc.so.6" in m for m in p["modules"]), p["modules"]
PY
else
  note "this build makes no bundles: a bundle's manifest is not checked"
fi

# The checks can fail: a page that asks for an image, first with the
# report's policy (blocked, and said), then without it (asked for).
sed 's|<body>|<body><img src="http://example.invalid/x.png">|' report.html >asks.html
sed -e 's|<meta http-equiv="Content-Security-Policy"[^>]*>||' asks.html >asks-nocsp.html
$BROWSER asks.html probe.js net-asks.json >asks.json || fail "html-browser.py on asks.html"
$BROWSER asks-nocsp.html probe.js net-nocsp.json >nocsp.json ||
  fail "html-browser.py on asks-nocsp.html"
"$SYSTEM_PYTHON" - asks.json nocsp.json <<'PY' || fail "a page that makes a request was not caught"
import json, sys
asks, nocsp = (json.load(open(p)) for p in sys.argv[1:3])
url = "http://example.invalid/x.png"
assert any(url in c for c in asks["csp"]) and asks["console_errors"], asks
assert url in nocsp["requests"] and url in nocsp["netlog_requests"], nocsp
PY

# gdb and drgn write the same page (but for the time it was made and the
# name of the core: gdb gives the engine its full path).
data () { sed -n 's/.*<script type="application\/json" id="dmem-data">\(.*\)/\1/p' "$1" |
          sed -e 's/"generated": "[^"]*"//' -e 's/"target": "[^"]*"//'; }
data report.html >report.data
[ -s report.data ] || fail "no data island in report.html"
if [ -n "${GDB:-}" ] && [ -x "$GDB" ]; then
  . "$top_srcdir/tests/readers-lib.sh"
  gdb_dmem gdb.out analyzer-leaks kernel.core -- 'dmem report -o gdb.html'
  expect_eq "gdb dmem report status" 0 "$gdb_status"
  grep -q '^report written to gdb.html' gdb.out || fail "gdb said: $(cat gdb.out gdb.out.err)"
  data gdb.html >gdb.data
  cmp -s report.data gdb.data || fail "gdb's page differs: $(cmp report.data gdb.data)"
else
  note "gdb is not installed: its page is not compared"
fi
DRGN=${DRGN:-/usr/bin/drgn}
if [ -x "$DRGN" ]; then
  . "$top_srcdir/tests/readers-lib.sh"
  drgn_dmem drgn.out -c kernel.core -- report -o drgn.html
  expect_eq "drgn report status" 0 "$drgn_status"
  data drgn.html >drgn.data
  cmp -s report.data drgn.data || fail "drgn's page differs: $(cmp report.data drgn.data)"
fi

# Usage and bad input: one line, 64 or 2, and no page left behind.
status=0
"$DMEM" report --format=json -o x.html kernel.core >/dev/null 2>err || status=$?
expect_eq "report --format=json" 64 "$status"
status=0
"$DMEM" leaks -o x.html kernel.core >/dev/null 2>err || status=$?
expect_eq "leaks -o" 64 "$status"
status=0
"$DMEM" report -o no/such/dir/x.html kernel.core >/dev/null 2>err || status=$?
expect_eq "report -o into a missing directory" 2 "$status"
expect_eq "its message" "dmem: cannot write no/such/dir/x.html: No such file or directory" "$(cat err)"
head -c 4096 kernel.core >short.core
status=0
"$DMEM" report -o short.html short.core >/dev/null 2>err || status=$?
expect_eq "report of a truncated core" 2 "$status"
expect_eq "its message lines" 1 "$(wc -l <err)"
[ ! -e short.html ] || fail "a page was left for a core that cannot be analysed"
exit 0
