#!/usr/bin/env bash
# The live view (--http): a real `daisy run` of a pipeline with failing
# blocks, watched by headless chromium through its DevTools protocol
# (live_view.py): the page's counters and its maps' per-state counts must
# match the execution summary; a screenshot is left in the build's
# meson-logs/live_view.png. Then bad input: 404, 405, an oversized
# request, a non-loopback address without --http-public.
# Without chromium (or python3-websocket) the browser part is skipped
# (77), except under CI=true, where it fails.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
cd "$tmpdir"
pids=()
groups=()   # process groups killed whole: Debian's chromium is a wrapper script
cleanup() {
  pkill -P "$watchdog" 2>/dev/null   # its sleep: killed, it ends without firing
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for g in "${groups[@]}"; do kill -9 -- "-$g" 2>/dev/null; done
  wait 2>/dev/null
  lib_cleanup
}
trap cleanup EXIT
# A hard deadline for the whole test: whatever hangs, it fails and ends
# (every step has its own timeout too). The watchdog holds no output pipe.
trap 'echo "FAIL: live_view.sh: deadline of 240 s passed" >&2; exit 1' TERM
( sleep 240 && kill -TERM $$ ) > /dev/null 2>&1 &
watchdog=$!

browser=$(command -v chromium || true)
if [ -z "$browser" ] || ! $PY -c 'import websocket' 2>/dev/null; then
  if [ "${CI:-}" = true ]; then
    echo "FAIL: chromium or python3-websocket missing (scripts/deps.sh installs them)" >&2
    exit 1
  fi
  echo "SKIP: chromium or python3-websocket not installed" >&2
  exit 77
fi

# Task a (2D, 12 x 12 blocks): two blocks fail for good (one retry); b
# downstream of it loses the blocks that read them; c is 3D (3 x 5 x 5).
cat > p.json <<'JSON'
{"tasks": [
  {"id": "a", "total_roi": {"offset": [0, 0], "shape": [48, 48]},
   "read_roi": {"offset": [0, 0], "shape": [4, 4]}, "write_roi": {"offset": [0, 0], "shape": [4, 4]},
   "read_write_conflict": false, "workers": 2, "max_retries": 1,
   "command": "sleep 0.05; case $DAISY_BLOCK_ID in 7|40) echo \"boom at $DAISY_BLOCK_ID\" >&2; exit 3;; esac"},
  {"id": "b", "upstream": ["a"], "total_roi": {"offset": [0, 0], "shape": [48, 48]},
   "read_roi": {"offset": [0, 0], "shape": [8, 8]}, "write_roi": {"offset": [0, 0], "shape": [8, 8]},
   "read_write_conflict": false, "workers": 2, "command": "sleep 0.05"},
  {"id": "c", "total_roi": {"offset": [0, 0, 0], "shape": [3, 20, 20]},
   "read_roi": {"offset": [0, 0, 0], "shape": [1, 4, 4]}, "write_roi": {"offset": [0, 0, 0], "shape": [1, 4, 4]},
   "read_write_conflict": false, "workers": 1, "command": "sleep 0.05"}
]}
JSON

timeout 180 "$DAISY" run --quiet --logs logs --http 127.0.0.1:0 p.json > out.txt 2> err.txt &
run=$!
pids+=($run)
url=
for _ in $(seq 100); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*/' err.txt | head -1)
  [ -n "$url" ] && break
  sleep 0.1
done
check "daisy run prints the live view's address" test -n "$url"
[ -n "$url" ] || { cat err.txt >&2; finish; exit 1; }

# Bad input, while it serves.
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
check "unknown path: 404" test "$(code "${url}nope")" = 404
check "POST: 405" test "$(code -X POST -d x=1 "$url")" = 405
check "PUT: 405" test "$(code -X PUT "${url}app.js")" = 405
big=$(head -c 65536 /dev/zero | tr '\0' a)
status=$(code -H "X-Big: $big" "$url")
check "oversized request refused ($status)" test "$status" -ge 400 -o "$status" = 000
check "the page is served" test "$(code "$url")" = 200
check "its script is served" test "$(code "${url}app.js")" = 200
check "events are text/event-stream" \
  sh -c "curl -s -D - -o /dev/null --max-time 1 '${url}events' | grep -qi '^content-type: text/event-stream'"

mkdir -p "$BUILD/meson-logs"
png="$BUILD/meson-logs/live_view.png"
rm -f "$png"
# In a session of its own: the wrapper script, the browser and its helper
# processes are one process group, killed together (killing the wrapper
# alone leaves the browser running).
setsid timeout 150 "$browser" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
  --no-first-run --no-default-browser-check --remote-debugging-port=0 \
  --user-data-dir="$tmpdir/profile" about:blank > chromium.log 2>&1 &
groups+=($!)
timeout 120 $PY "$here/live_view.py" "$url" "$tmpdir/profile" "$png" 100 > dom.json 2> driver.err
check "the browser saw the run end" test $? -eq 0
cat driver.err >&2
wait $run
check "daisy run exits 1 (blocks failed)" test $? -eq 1
check "a screenshot was written" test -s "$png"
echo "screenshot: $png"

# The DOM against the execution summary.
$PY - out.txt dom.json <<'PY' || fail "the page's counters and maps match the execution summary"
import json, re, sys
summary = open(sys.argv[1]).read()
dom = json.load(open(sys.argv[2]))
want = {}
for m in re.finditer(r"Task (\S+):\s+num blocks : (\d+)\s+completed ✔: (\d+) \(skipped (\d+)\)"
                     r"\s+failed    ✗: (\d+)\s+orphaned  ∅: (\d+)", summary):
    t, total, completed, skipped, failed, orphaned = m.groups()
    want[t] = dict(total=int(total), completed=int(completed), skipped=int(skipped),
                   failed=int(failed), orphaned=int(orphaned))
got = {t["task"]: t for t in dom["tasks"]}
ok = set(want) == set(got) == {"a", "b", "c"}
for t, w in want.items():
    c, m = got[t]["counters"], got[t]["map"]
    for k, v in w.items():
        ok &= c[k] == v
    ok &= m["completed"] + m["skipped"] == w["completed"] and m["skipped"] == w["skipped"]
    ok &= m["failed"] == w["failed"] and m["orphaned"] == w["orphaned"]
    ok &= m["pending"] == m["ready"] == m["processing"] == 0
ok &= want["a"]["failed"] == 2 and want["b"]["orphaned"] > 0
ok &= got["a"]["canvas"] == [12, 12] and got["c"]["canvas"] == [5, 5]
ok &= dom["failures"] >= 2 and dom["workers"] >= 5 and "failures" in dom["status"]
ok &= dom["workers_connected"] == 0     # the run is over: finished or lost, none connected
print("page:", json.dumps(dom))
print("summary:", json.dumps(want))
sys.exit(0 if ok else 1)
PY
check "the page saw the run while it ran" grep -q '"seen_running": true' dom.json

# A non-loopback address: refused without --http-public, served (with a
# warning) with it.
echo '{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [2]}, "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]}, "command": "true"}]}' > t.json
timeout 30 "$DAISY" run --quiet --logs logs2 --http 0.0.0.0:0 t.json > out2.txt 2> err2.txt
check "non-loopback refused: exit 2" test $? -eq 2
check "non-loopback refused: says why" grep -q -- "not a loopback address.*--http-public" err2.txt
timeout 30 "$DAISY" run --quiet --logs logs3 --http 0.0.0.0:0 --http-public t.json > out3.txt 2> err3.txt
check "--http-public: runs" test $? -eq 0
check "--http-public: warns" grep -q "warning: serving the live view on .* without TLS" err3.txt
timeout 10 "$DAISY" run --http 127.0.0.1 t.json > /dev/null 2> err4.txt
check "no port: exit 2" test $? -eq 2
check "no port: names the value" grep -q -- "--http '127.0.0.1': expected ADDR:PORT" err4.txt
finish
