"""Open an HTML file in headless chromium and say what happened, as JSON.

Usage: html-browser.py PAGE.html PROBE.js NETLOG

Drives chromium over the DevTools protocol on a pipe (--remote-debugging-pipe:
JSON messages ended by a NUL byte, commands on fd 3, replies on fd 4; only
the standard library is needed).  Loads PAGE, then evaluates PROBE (a
JavaScript expression, which may be a promise) in the page and prints
{"result": its value, "exceptions": [...], "console_errors": [...],
"requests": [URLs the page asked for], "csp": [policy violations],
"netlog_requests": [URLs the net log shows the page asking for]}.  Every host name
resolves to nothing and every connection goes to a closed port, so a
request cannot reach the network even when the page tried one.
HTML_BROWSER_SCREENSHOT=FILE.png also saves the whole page as it is then.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

TIMEOUT = 60  # seconds for the whole page
# Debian's /usr/bin/chromium is a shell script whose start-up files use fds
# 3 and 4 themselves: start the browser itself.
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
                 if os.access(p, os.X_OK)), "chromium")


class Browser:
    def __init__(self, netlog):
        self.profile = tempfile.mkdtemp(prefix="dmem-chromium.")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        # The child's fds 3 and 4 are the two pipe ends: moved there after the
        # fork (through fresh fds, in case one of them is 3 or 4 already);
        # pass_fds keeps 3 and 4 open past close_fds.
        def fds():
            r, w = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(r, 3)
            os.dup2(w, 4)
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-pipe", "--user-data-dir=" + self.profile,
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync",
             "--host-resolver-rules=MAP * ~NOTFOUND",
             "--proxy-server=127.0.0.1:9", "--log-net-log=" + netlog,
             "--net-log-capture-mode=Everything", "about:blank"],
            pass_fds=(3, 4), preexec_fn=fds,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.environ.get("HTML_BROWSER_LOG", os.devnull), "w"))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.deadline = time.time() + TIMEOUT

    def _read_message(self):
        while b"\0" not in self.buf:
            if time.time() > self.deadline:
                raise SystemExit("html-browser: chromium did not answer in %d s" % TIMEOUT)
            chunk = os.read(self.from_chrome, 1 << 16)
            if not chunk:
                raise SystemExit("html-browser: chromium closed the pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._read_message()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise SystemExit("html-browser: %s: %s" % (method, m["error"]))
                return m["result"]
            self.events.append(m)

    def wait_event(self, method):
        for i, m in enumerate(self.events):
            if m.get("method") == method:
                return self.events.pop(i)
        while True:
            m = self._read_message()
            if m.get("method") == method:
                return m
            self.events.append(m)

    def close(self):
        """Close the browser (killed if it does not go); once."""
        if self.proc.poll() is None and not getattr(self, "closing", False):
            self.closing = True
            try:
                self.call("Browser.close")
            except (SystemExit, OSError):
                pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        subprocess.run(["rm", "-rf", self.profile])


def netlog_requests(path):
    """The URL requests chromium's net log shows a page making: URL_REQUEST
    jobs with an initiator (the browser's own, such as its update checks,
    have none: "not an origin").  A log cut short is read to its last whole
    event."""
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        return ["(no net log at %s)" % path]
    try:
        log = json.loads(text)
    except ValueError:
        log = json.loads(text[:text.rindex("}") + 1] + "]}")
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for e in log.get("events", []):
        p = e.get("params", {})
        if e.get("type") == start and p.get("initiator", "not an origin") != "not an origin":
            urls.append(p.get("url"))
    return urls


def main():
    page, probe, netlog = sys.argv[1:4]
    b = Browser(netlog)
    try:
        run(b, page, probe, netlog)
    finally:
        b.close()   # also when chromium did not answer in time: never left running


def run(b, page, probe, netlog):
    target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    s = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Runtime", "Network", "Page", "Log"):
        b.call(domain + ".enable", session=s)
    b.call("Page.addScriptToEvaluateOnNewDocument", {"source":
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"}, session=s)
    b.call("Page.navigate", {"url": "file://" + os.path.abspath(page)}, session=s)
    b.wait_event("Page.loadEventFired")
    r = b.call("Runtime.evaluate", {"expression": open(probe).read(), "awaitPromise": True,
                                    "returnByValue": True}, session=s)
    if "exceptionDetails" in r:
        result = {"probe_error": r["exceptionDetails"].get("exception", {}).get("description")
                  or r["exceptionDetails"].get("text")}
    else:
        result = r["result"].get("value")
    shot = os.environ.get("HTML_BROWSER_SCREENSHOT")
    if shot:  # for a person to look at the page after the probe ran
        b.call("Emulation.setDeviceMetricsOverride", {"width": 1400, "height": 1000,
               "deviceScaleFactor": 1, "mobile": False}, session=s)
        png = b.call("Page.captureScreenshot", {"captureBeyondViewport": True}, session=s)
        import base64
        open(shot, "wb").write(base64.b64decode(png["data"]))
    csp = b.call("Runtime.evaluate", {"expression": "window.__csp", "returnByValue": True},
                 session=s)["result"].get("value")
    b.close()
    out = {"result": result, "exceptions": [], "console_errors": [], "requests": [], "csp": csp}
    for m in b.events:
        p = m.get("params", {})
        if m.get("method") == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            out["exceptions"].append(d.get("exception", {}).get("description") or d.get("text"))
        elif m.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out["console_errors"].append(" ".join(str(a.get("value", a.get("description")))
                                                  for a in p.get("args", [])))
        elif m.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
            out["console_errors"].append(p["entry"].get("text"))
        elif m.get("method") == "Network.requestWillBeSent":
            out["requests"].append(p["request"]["url"])
    out["netlog_requests"] = netlog_requests(netlog)
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


main()
