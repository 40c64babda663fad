#!/usr/bin/python3
"""Drive headless chromium over its DevTools protocol: open the live view,
wait until it shows the end of the run, print what the DOM says (JSON) and
write a screenshot.

    live_view.py URL PROFILE_DIR SCREENSHOT.png DEADLINE_S

PROFILE_DIR is the --user-data-dir of a chromium started with
--remote-debugging-port=0 (it writes DevToolsActivePort there)."""
import base64
import json
import os
import sys
import time
import urllib.request

import websocket

url, profile, png, limit = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
deadline = time.monotonic() + limit


def die(text):
    sys.stderr.write(f"live_view.py: {text}\n")
    sys.exit(1)


def left():
    t = deadline - time.monotonic()
    if t <= 0:
        die("deadline passed")
    return t


port_file = os.path.join(profile, "DevToolsActivePort")
while not os.path.exists(port_file) or not open(port_file).read().strip():
    left()
    time.sleep(0.1)
port = open(port_file).read().split()[0]
targets = []
while not [t for t in targets if t.get("type") == "page"]:
    left()
    try:
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2))
    except OSError:
        time.sleep(0.2)
page = [t for t in targets if t.get("type") == "page"][0]
ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=5)
ids = iter(range(1, 1 << 30))


def call(method, **params):
    n = next(ids)
    ws.send(json.dumps({"id": n, "method": method, "params": params}))
    while True:
        ws.settimeout(max(0.1, min(5.0, left())))
        reply = json.loads(ws.recv())
        if reply.get("id") == n:
            if "error" in reply:
                die(f"{method}: {reply['error']}")
            return reply["result"]


def evaluate(expr):
    r = call("Runtime.evaluate", expression=expr, returnByValue=True)
    return r["result"].get("value")


call("Page.enable")
call("Emulation.setDeviceMetricsOverride", width=1200, height=1600, deviceScaleFactor=1, mobile=False)
call("Page.navigate", url=url)
seen_running = False
while evaluate("document.body && document.body.dataset.finished") != "true":
    left()
    seen_running |= evaluate("document.getElementById('run-status') ? "
                             "document.getElementById('run-status').textContent : ''") == "running"
    time.sleep(0.2)
time.sleep(0.8)     # the maps are redrawn every 250 ms
state = evaluate("""JSON.stringify([...document.querySelectorAll('article.task')].map(a => ({
  task: a.dataset.task,
  counters: Object.fromEntries([...a.querySelectorAll('[data-counter]')].map(b => [b.dataset.counter, +b.textContent])),
  map: Object.fromEntries([...a.querySelectorAll('[data-map-count]')].map(b => [b.dataset.mapCount, +b.textContent])),
  canvas: [a.querySelector('canvas').width, a.querySelector('canvas').height]})))""")
shot = call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
with open(png, "wb") as f:
    f.write(base64.b64decode(shot["data"]))
print(json.dumps({"seen_running": seen_running, "tasks": json.loads(state),
                  "status": evaluate("document.getElementById('run-status').textContent"),
                  "failures": evaluate("document.querySelectorAll('#failures li').length"),
                  "workers": evaluate("document.querySelectorAll('#workers tbody tr').length"),
                  "workers_connected": evaluate(
                      "document.querySelectorAll('#workers tbody tr.connected').length")}))
ws.close()
