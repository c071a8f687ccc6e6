#!/usr/bin/env python3
"""Drive ozfs's bucket page (?browser=true) in headless Chromium over the DevTools protocol.

Used by tests/e2e/ops.rs (bucket_page_in_headless_chromium). Opens --url, reports the names of
the listing rows ("rows-before: ..."), creates folder --folder with the page's form, uploads
--upload with the page's file input, reports the rows again ("rows-after: ..."), and keeps
screenshots (bucket-page-before.png, bucket-page.png) in --out. Exits non-zero with a message
on any failure. Chromium and websocket-client come from scripts/test-deps-browser.sh.
"""

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

try:
    import websocket  # websocket-client
except ImportError:
    sys.exit("websocket-client is missing: run scripts/test-deps-browser.sh")

DEADLINE_S = 60


def start_chromium(profile):
    exe = shutil.which("chromium")
    if not exe:
        sys.exit("chromium is missing: run scripts/test-deps-browser.sh")
    os.makedirs(profile, exist_ok=True)
    proc = subprocess.Popen(
        [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--user-data-dir=" + profile,
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            "--window-size=1100,700",
            "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port_file = os.path.join(profile, "DevToolsActivePort")
    end = time.time() + DEADLINE_S
    while not os.path.exists(port_file) or os.path.getsize(port_file) == 0:
        if proc.poll() is not None or time.time() > end:
            proc.kill()
            sys.exit("chromium did not start its DevTools endpoint")
        time.sleep(0.05)
    with open(port_file) as f:
        port = int(f.readline().strip())
    return proc, port


class Page:
    def __init__(self, port):
        end = time.time() + DEADLINE_S
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=5) as r:
                    targets = json.load(r)
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    break
            except OSError:
                pass
            if time.time() > end:
                sys.exit("no page target in chromium")
            time.sleep(0.05)
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=DEADLINE_S, suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method, tolerate=None, **params):
        """One DevTools call. An error whose message contains `tolerate` returns None."""
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    if tolerate and any(t in str(msg["error"]) for t in tolerate):
                        return None
                    sys.exit("%s failed: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method):
        end = time.time() + DEADLINE_S
        while True:
            for i, e in enumerate(self.events):
                if e["method"] == method:
                    del self.events[: i + 1]
                    return e
            if time.time() > end:
                sys.exit("timed out waiting for " + method)
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            sys.exit("script error: %s" % r["exceptionDetails"])
        return r["result"].get("value")

    def rows(self):
        return self.eval(
            "Array.from(document.querySelectorAll('tbody tr td:first-child a'))"
            ".map(a => a.textContent).filter(t => t !== '..').join(' ')"
        )

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def wait_reload(self, what):
        """Wait for the page's reload after a write; fail with the page's status message."""
        end = time.time() + DEADLINE_S
        while True:
            for i, e in enumerate(self.events):
                if e["method"] == "Page.loadEventFired":
                    del self.events[: i + 1]
                    return
            # The page may navigate (the reload we wait for) while this runs: Chromium then
            # answers "Inspected target navigated or closed"; keep waiting for the load event.
            r = self.call(
                "Runtime.evaluate",
                tolerate=("navigated or closed", "Cannot find context", "context was destroyed"),
                expression="(document.getElementById('msg')||{}).textContent || ''",
                returnByValue=True,
            )
            msg_text = ""
            if r is not None and "exceptionDetails" not in r:
                msg_text = r["result"].get("value") or ""
            if msg_text.startswith("Failed"):
                sys.exit("%s: the page said %r" % (what, msg_text))
            if time.time() > end:
                sys.exit("%s: the page did not reload (status %r)" % (what, msg_text))
            self.ws.settimeout(0.2)
            try:
                msg = json.loads(self.ws.recv())
                if "method" in msg:
                    self.events.append(msg)
            except websocket.WebSocketTimeoutException:
                pass
            finally:
                self.ws.settimeout(DEADLINE_S)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--upload", required=True)
    ap.add_argument("--folder", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--profile", required=True)
    a = ap.parse_args()
    proc, port = start_chromium(a.profile)
    try:
        page = Page(port)
        page.call("Page.enable")
        page.call("Runtime.enable")
        page.call("DOM.enable")
        page.call("Page.navigate", url=a.url)
        page.wait_event("Page.loadEventFired")
        print("rows-before: " + page.rows())
        page.screenshot(os.path.join(a.out, "bucket-page-before.png"))
        if not page.eval("!!document.getElementById('upload') && !!document.getElementById('mkdir')"):
            sys.exit("the page has no upload / new-folder forms")

        # New folder, through the form.
        page.eval(
            "document.getElementById('folder').value = %s;"
            "document.getElementById('mkdir').requestSubmit(); true" % json.dumps(a.folder)
        )
        page.wait_reload("create folder")

        # Upload, through the file input.
        doc = page.call("DOM.getDocument")
        node = page.call("DOM.querySelector", nodeId=doc["root"]["nodeId"], selector="#files")["nodeId"]
        page.call("DOM.setFileInputFiles", files=[os.path.abspath(a.upload)], nodeId=node)
        page.eval("document.getElementById('upload').requestSubmit(); true")
        page.wait_reload("upload")
        print("rows-after: " + page.rows())
        page.screenshot(os.path.join(a.out, "bucket-page.png"))
        try:
            page.call("Browser.close")
        except Exception:
            pass
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
