#!/usr/bin/env bash
# The Python worker module (python/daisy_worker.py) against the real
# broker: a task's `worker` is a Python program calling daisy_worker.run(),
# run by `daisy run` and `daisy-broker` as users do. Blocks exactly once and
# in dependency order, failures reported with their exception, prefetch,
# preemption (SIGTERM) and a killed worker charged fairly, completion
# checks, run ids, reconnection, CurveZMQ, and workers that die with their
# run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
check() {  # as lib.sh's, saying "ok - ..." for each check that holds
  local what=$1
  shift
  checks=$((checks + 1))
  if "$@"; then echo "ok - $what"; else fail "$what"; fi
}
PY=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${DAISY:=$root/build/daisy}" "${BROKER:=$root/build/daisy-broker}"
PYDIR=$root/python
export PYTHONPATH=$PYDIR
if ! $PY -c 'import zmq, msgpack' 2>/dev/null; then
  echo "SKIP: $PY has no zmq or msgpack (Debian: python3-zmq python3-msgpack)"
  exit 77
fi
cd "$tmpdir"

# Background processes still running at the end are ended, by their pid.
cleanup() {
  local p
  for p in $(jobs -p); do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$tmpdir"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT && echo "KEEP: files kept in $tmpdir"  # for debugging

json() { printf '%s' "$1" | $PY -c 'import json,sys; print(json.dumps(sys.stdin.read()))'; }

# Wait until a command succeeds, at most $1 seconds.
wait_for() {
  local limit=$1 i
  shift
  for i in $(seq $((limit * 20))); do
    if "$@"; then return 0; fi
    sleep 0.05
  done
  "$@"
}

# The worker logs of a run, whatever the layout below --logs: catlogs DIR GLOB.
catlogs() { find "$1" -type f -name "$2" -exec cat {} +; }

# Wait for a background process; its exit status in $rc (set -e stays
# quiet, and so does bash about a process killed by a signal).
reap() { rc=0; wait "$1" 2>/dev/null || rc=$?; }

# The block function, with knobs for each check below.
cat > pw.py <<'PY'
"""A task's worker program: daisy_worker.run() with knobs for the test."""
import argparse, logging, os, signal, sys, time
import daisy_worker

p = argparse.ArgumentParser()
p.add_argument("--records")              # "task id attempt start end ro rs wo ws" per block
p.add_argument("--pids")                 # "id attempt pid" per block
p.add_argument("--fail", type=int)       # this block raises
p.add_argument("--term-at", type=int)    # this block SIGTERMs its worker (once)
p.add_argument("--kill-at", type=int)    # this block SIGKILLs its worker after 0.3 s (once)
p.add_argument("--wait-for")             # the first block waits for this file (30 s at most)
p.add_argument("--once")                 # directory of mkdir locks: "once" across workers
p.add_argument("--sleep", type=float, default=0.0)
p.add_argument("--long", type=float)     # block 0 sleeps, block 1 computes, this long
p.add_argument("--prefetch", type=int, default=1)
p.add_argument("--connect")
p.add_argument("--task")
p.add_argument("--run-id")
p.add_argument("--give-up", type=float)
p.add_argument("--curve-secret")
p.add_argument("--broker-key")
p.add_argument("--linger", type=float)   # after run(): clean up this long, then say so
a = p.parse_args()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")


def once(name):
    try:
        os.mkdir(os.path.join(a.once, name))
        return True
    except FileExistsError:
        return False


def coords(c):
    return ",".join(str(x) for x in c)


def append(path, line):
    with open(path, "a") as f:
        f.write(line)


def process(block):
    start = time.time_ns()
    if a.wait_for and once("first"):
        deadline = time.monotonic() + 30
        while not os.path.exists(a.wait_for) and time.monotonic() < deadline:
            time.sleep(0.02)
    if block.block_id == a.fail:
        raise ValueError(f"block {block.block_id} is bad")
    if block.block_id == a.term_at and once("term"):
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not daisy_worker.stop_requested() and time.monotonic() < deadline:
            time.sleep(0.01)
        append(os.path.join(a.once, "term-info"), f"{os.getpid()} {daisy_worker.stop_requested()}\n")
    if block.block_id == a.kill_at and once("kill"):
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGKILL)
    if a.sleep:
        time.sleep(a.sleep)
    if a.long and block.block_id == 0:
        time.sleep(a.long)
    if a.long and block.block_id == 1:
        end, n = time.monotonic() + a.long, 0
        while time.monotonic() < end:          # pure Python: holds the GIL
            n = (n * 7 + 1) % 1000003
    r, w = block.read_roi, block.write_roi
    if a.records:
        append(a.records, f"{block.task_id} {block.block_id} {block.attempt} {start} "
               f"{time.time_ns()} {coords(r.offset)} {coords(r.shape)} {coords(w.offset)} "
               f"{coords(w.shape)}\n")
    if a.pids:
        append(a.pids, f"{block.block_id} {block.attempt} {os.getpid()}\n")


rc = daisy_worker.run(process, broker=a.connect, task_id=a.task, run_id=a.run_id,
                      prefetch=a.prefetch, give_up=a.give_up, curve_secret=a.curve_secret,
                      broker_key=a.broker_key)
print(f"run returned {rc}, stop requested {daisy_worker.stop_requested()}, pid {os.getpid()}",
      flush=True)
if a.linger:
    time.sleep(a.linger)
    append(os.path.join(a.once, "cleaned"), f"{os.getpid()}\n")
sys.exit(rc)
PY
mkdir locks

# A task's worker: sh -c runs it; `exec` makes the worker the process the
# launcher started (its parent is then the broker), without it sh stays in
# between (its parent the broker, the worker's grandparent).
worker() { echo "exec $PY $tmpdir/pw.py --once $tmpdir/locks $*"; }
worker_sh() { echo "cd $tmpdir && $PY pw.py --once $tmpdir/locks $*"; }

task1d() {  # file, id, blocks, workers, max_retries, worker program
  cat >"$1" <<JSON
{"tasks": [{"id": "$2", "total_roi": {"offset": [0], "shape": [$3]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "read_write_conflict": false, "workers": $4, "max_retries": $5,
  "worker": $(json "$6")}]}
JSON
}

# 1. A two-task pipeline of Python workers (conflicting blocks in 2-D, a
#    downstream task with a window of 3): every block exactly once, in
#    dependency order, with the same ROIs as the serial runner.
record='s=$(date +%s%N); echo "$DAISY_TASK_ID $DAISY_BLOCK_ID $DAISY_ATTEMPT $s $(date +%s%N) $DAISY_READ_OFFSET $DAISY_READ_SHAPE $DAISY_WRITE_OFFSET $DAISY_WRITE_SHAPE" >> '"$tmpdir"'/serial1.txt'
pipeline() {  # file, "worker" or "command", program for a, program for b
  cat >"$1" <<JSON
{"tasks": [
  {"id": "a", "total_roi": {"offset": [0, 0], "shape": [40, 40]},
   "read_roi": {"offset": [0, 0], "shape": [12, 12]}, "write_roi": {"offset": [2, 2], "shape": [8, 8]},
   "fit": "shrink", "workers": 3, "$2": $(json "$3")},
  {"id": "b", "upstream": ["a"], "total_roi": {"offset": [2, 2], "shape": [36, 36]},
   "read_roi": {"offset": [0, 0], "shape": [10, 10]}, "write_roi": {"offset": [1, 1], "shape": [8, 8]},
   "workers": 2, "$2": $(json "$4")}
]}
JSON
}
pipeline p1.json worker "$(worker --records "$tmpdir/run1.txt" --sleep 0.005)" \
  "$(worker_sh --records "$tmpdir/run1.txt" --prefetch 3)"
pipeline p1s.json command "$record" "$record"
rc=0; timeout 120 "$DAISY" run --quiet --logs logs1 --heartbeat 200 p1.json >out1.txt 2>err1.txt || rc=$?
check "a pipeline of Python workers exits 0" test "$rc" -eq 0
check "both tasks processed successfully" test "$(grep -c 'all blocks processed successfully' out1.txt)" -eq 2
"$DAISY" plan --json p1.json >plan1.jsonl
"$DAISY" run --serial --quiet p1s.json >/dev/null
check "every block once, in dependency order, with the serial run's ROIs" \
  $PY "$here/check_run.py" plan1.jsonl run1.txt --serial serial1.txt
check "no worker met a fatal error" test -z "$(catlogs logs1 '*.err' | grep '^daisy_worker: ')"
check "the run statistics have the Python workers' CPU time and memory (STATS)" \
  $PY - "$(find logs1 -name stats.json)" <<'PY'
import json, sys
w = json.load(open(sys.argv[1]))["workers"]
assert sum(x["blocks"] for x in w) == 41, w
assert all(x["cpu_s"] > 0 and x["peak_rss_kb"] > 0 for x in w if x["blocks"]), w
PY

# 2. A block function that raises: the block fails after its retries with
#    the exception as its error, in the summary and with its traceback in
#    the worker's log; the other blocks run once; daisy run exits 1.
task1d p2.json f 20 2 1 "$(worker --pids "$tmpdir/run2.txt" --fail 3)"
rc=0; timeout 120 "$DAISY" run --quiet --logs logs2 --heartbeat 200 p2.json >out2.txt 2>err2.txt || rc=$?
check "a run with a failing block exits 1" test "$rc" -eq 1
check "one block failed" grep -q "failed    ✗: 1" out2.txt
check "the summary shows the exception of its last attempt" \
  grep -q "block 3 (attempt [0-9]*): ValueError: block 3 is bad (pw.py:[0-9]* in process)" out2.txt
traceback_logged() {
  catlogs logs2 'f-*.err' | grep -A3 "block 3 (attempt [12]) failed" | grep "^Traceback" >/dev/null
}
check "the worker log has the traceback" traceback_logged
check "every other block ran once" \
  test "$(cut -d' ' -f1 run2.txt | sort -un | wc -l)" -eq 19 -a "$(wc -l <run2.txt)" -eq 19 \
  -a -z "$(grep '^3 ' run2.txt)"

# 2b. Blocks much longer than the broker's patience (3 heartbeats of
#     200 ms), one sleeping, one computing in pure Python: the heartbeats go
#     on, and with max_retries 0 both complete.
task1d p2b.json h 4 2 0 "$(worker --pids "$tmpdir/run2b.txt" --long 1.5)"
rc=0; timeout 120 "$DAISY" run --quiet --logs logs2b --heartbeat 200 p2b.json >out2b.txt 2>err2b.txt || rc=$?
check "long blocks complete under a 600 ms liveness" test "$rc" -eq 0
check "none was retried" test "$(sort -un run2b.txt | wc -l)" -eq 4 -a -z "$(grep -v ' 0 ' run2b.txt)"

# 3. Prefetch 4: one worker holds 4 blocks while its first block runs (the
#    broker's progress feed counts them), and the run completes.
port=$(free_port)
task1d p3.json w 24 1 0 "$(worker --pids "$tmpdir/run3.txt" --prefetch 4 --wait-for "$tmpdir/held4")"
$PY - "tcp://127.0.0.1:$port" 4 held4 <<'PY' &
import os, sys, time, msgpack, zmq
sub = zmq.Context().socket(zmq.SUB)
sub.connect(sys.argv[1])
sub.setsockopt(zmq.SUBSCRIBE, b"task_state")
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    if sub.poll(200):
        event = msgpack.unpackb(sub.recv_multipart()[1], raw=False)
        if event[5] >= int(sys.argv[2]):           # processing: blocks held
            open(sys.argv[3] + ".tmp", "w").write(f"{event[5]}\n")
            os.rename(sys.argv[3] + ".tmp", sys.argv[3])
            sys.exit(0)
sys.exit(1)
PY
observer=$!
rc=0; timeout 120 "$DAISY" run --quiet --logs logs3 --publish "tcp://127.0.0.1:$port" p3.json \
  >out3.txt 2>err3.txt || rc=$?
check "the prefetching run exits 0" test "$rc" -eq 0
reap $observer
check "the broker saw the worker hold 4 blocks at once" test "$rc" -eq 0 -a -s held4
check "every block once" test "$(sort -un run3.txt | wc -l)" -eq 24 -a "$(wc -l <run3.txt)" -eq 24

# 4. Preemption: a worker holding 4 blocks gets SIGTERM in the middle of a
#    block; that block finishes and is released, the others go back with
#    their attempt unchanged, the worker exits 143; with max_retries 0 the
#    run still completes every block exactly once.
task1d p4.json s 40 1 0 "$(worker --pids "$tmpdir/run4.txt" --prefetch 4 --term-at 7)"
rc=0; timeout 120 "$DAISY" run --quiet --logs logs4 --heartbeat 200 p4.json >out4.txt 2>err4.txt || rc=$?
check "the preempted run exits 0" test "$rc" -eq 0
check "no attempt was used" test -z "$(grep -v ' 0 ' run4.txt)"
check "every block ran once" test "$(cut -d' ' -f1 run4.txt | sort -un | wc -l)" -eq 40 -a "$(wc -l <run4.txt)" -eq 40
read -r tpid tflag < locks/term-info || true
check "the block saw stop_requested()" test "${tflag:-}" = True
check "the running block finished on the preempted worker" grep -q "^7 0 ${tpid:-none}\$" run4.txt
check "the preempted worker's run() returned 128 + SIGTERM, as daisy-worker exits" \
  grep -rqx "run returned 143, stop requested True, pid ${tpid:-none}" logs4
check "it ran no block after the signal" \
  test "$(awk -v p="${tpid:-none}" '$3 == p' run4.txt | tail -1 | cut -d' ' -f1)" = 7

# 5. A worker killed (SIGKILL) 0.3 s into a block with 16 held: only that
#    block uses a retry; the other held blocks come back as they were.
task1d p5.json k 60 1 1 "$(worker_sh --pids "$tmpdir/run5.txt" --prefetch 16 --kill-at 5 --sleep 0.01)"
rc=0; timeout 120 "$DAISY" run --quiet --logs logs5 --heartbeat 200 p5.json >out5.txt 2>err5.txt || rc=$?
check "the run survives the kill" test "$rc" -eq 0
check "the kill happened" test -d locks/kill
check "every block ran" test "$(cut -d' ' -f1 run5.txt | sort -un | wc -l)" -eq 60
check "only the killed block used a retry" test "$(awk '$2 != 0 {print $1, $2}' run5.txt)" = "5 1"

# 6. A completion check, through `python3 -m daisy_worker --check`: blocks
#    found done are reported skipped and not processed.
cat > chk.py <<PY
import os
def done(block):
    return os.path.exists(f"$tmpdir/done/{block.write_roi.offset[0]}")
def process(block):
    with open("$tmpdir/run6.txt", "a") as f:
        f.write(f"{block.write_roi.offset[0]}\n")
PY
mkdir done
for i in 0 4 8 12 16; do touch "done/$i"; done
task1d p6.json c 20 2 0 "cd $tmpdir && exec $PY -m daisy_worker --prefetch 2 --check chk:done chk:process"
rc=0; timeout 120 "$DAISY" run --quiet --logs logs6 p6.json >out6.txt 2>err6.txt || rc=$?
check "the run with a completion check exits 0" test "$rc" -eq 0
check "5 blocks found done, counted as skipped" grep -q "completed ✔: 20 (skipped 5)" out6.txt
check "the other 15 processed once, no done one processed" \
  test "$(sort -n run6.txt | tr '\n' ' ')" = "1 2 3 5 6 7 9 10 11 13 14 15 17 18 19 "
check "python3 -m daisy_worker --help" bash -c "$PY -m daisy_worker --help | grep -q 'MODULE:FUNCTION'"
check "whose exit statuses say what a signal makes, as run() returns" \
  bash -c "$PY -m daisy_worker --help | grep -q '130, 143  stopped by SIGINT, SIGTERM'"
check "--version says the project's version, as daisy-worker does" \
  test "$($PY -m daisy_worker --version)" = "daisy_worker $("${WORKER:-$root/build/daisy-worker}" --version | cut -d' ' -f2)"
rc=0; env -u DAISY_BROKER $PY -m daisy_worker chk:process > noep.txt 2>&1 || rc=$?
check "no endpoint: exit 2, pointing at --connect" \
  bash -c "[ $rc -eq 2 ] && grep -q 'pass --connect EP or set DAISY_BROKER' noep.txt"

# 7. Run ids and refusals: a worker of another run, of an unknown task,
#    with CurveZMQ keys at a clear-text broker, or with no broker, exits 1
#    saying why; an unknown host or a bad port exits 2; the right one
#    finishes the run.
"$DAISY" keygen broker >/dev/null && "$DAISY" keygen good >/dev/null && "$DAISY" keygen bad >/dev/null
port=$(free_port)
task1d p7.json t 10 1 0 true
"$BROKER" --bind "tcp://127.0.0.1:$port" --run-id run-7 --quiet p7.json >b7.out 2>b7.err &
broker=$!
check "the broker started" wait_for 10 grep -q "start workers of task t" b7.err
rc=0; timeout 20 $PY pw.py --connect "tcp://127.0.0.1:$port" --task t --run-id other >w7a.out 2>w7a.err || rc=$?
check "a worker of another run exits 1" test "$rc" -eq 1
check "and says why" grep -q "daisy_worker: broker at tcp://127.0.0.1:$port serves another run, this worker was started for run other" w7a.err
rc=0; timeout 20 $PY pw.py --connect "tcp://127.0.0.1:$port" --task nope --run-id run-7 >w7b.out 2>w7b.err || rc=$?
check "a worker of an unknown task exits 1 saying why" test "$rc" -eq 1 -a -n "$(grep 'refused this worker' w7b.err)"
rc=0; timeout 60 $PY pw.py --connect "tcp://127.0.0.1:$port" --task t --run-id run-7 --give-up 40 \
  --curve-secret good_secret --broker-key broker >w7d.out 2>w7d.err || rc=$?
check "a CurveZMQ worker at a clear-text broker exits 1" test "$rc" -eq 1
check "saying why" grep -q "daisy_worker: broker at tcp://127.0.0.1:$port speaks clear text and this worker CurveZMQ" w7d.err
rc=0; timeout 20 $PY pw.py --connect "tcp://127.0.0.1:$(free_port)" --task t --give-up 1 >w7c.out 2>w7c.err || rc=$?
check "a worker without a broker gives up and exits 1" test "$rc" -eq 1 -a -n "$(grep 'broker unreachable' w7c.err)"
# A host the resolver does not know, or a port out of range: exit 2 at
# once, as daisy-worker, not retried silently for ever.
rc=0; timeout 20 $PY pw.py --connect "tcp://nonexistent.invalid:$port" --task t >w7e.out 2>w7e.err || rc=$?
check "a worker given an unknown host exits 2" test "$rc" -eq 2
check "naming the host" grep -q "host 'nonexistent.invalid' is not known" w7e.err
rc=0; timeout 20 $PY pw.py --connect "tcp://127.0.0.1:99999" --task t >w7f.out 2>w7f.err || rc=$?
check "a worker given port 99999 exits 2" test "$rc" -eq 2
rc=0; timeout 20 $PY pw.py --connect "tcp://127.0.0.1:$port" --task t --run-id 'run 7' >w7g.out 2>w7g.err || rc=$?
check "a run id no broker can have exits 2, as daisy-worker" test "$rc" -eq 2
check "naming it" grep -q "run id 'run 7': expected 1 to 32 letters" w7g.err
rc=0; timeout 60 $PY pw.py --connect "tcp://127.0.0.1:$port" --task t --run-id run-7 --pids "$tmpdir/run7.txt" >w7.out 2>w7.err || rc=$?
check "the worker of this run finishes it" test "$rc" -eq 0
reap $broker
check "and the broker exits 0" test "$rc" -eq 0
check "its blocks all ran" test "$(sort -un run7.txt | wc -l)" -eq 10
check "a refused worker printed nothing but its reason" test "$(wc -l <w7a.err)" -eq 1

# 8. The broker killed under a running worker: the worker notices the
#    silence, and reconnects (same routing id, no run id) to a broker
#    restarted on the same address, and finishes the new run.
port=$(free_port)
task1d p8.json t 30 1 0 true
"$BROKER" --bind "tcp://127.0.0.1:$port" --heartbeat 200 --quiet p8.json >b8a.out 2>&1 &
broker=$!
$PY pw.py --connect "tcp://127.0.0.1:$port" --task t --sleep 0.05 --pids "$tmpdir/run8.txt" >w8.out 2>w8.err &
pworker=$!
check "the worker got going" wait_for 20 eval 'test "$(cat run8.txt 2>/dev/null | wc -l)" -ge 5'
kill -9 $broker
reap $broker
check "the worker notices the broker's silence" wait_for 10 grep -q "silent for 0.6 s: reconnecting" w8.err
"$BROKER" --bind "tcp://127.0.0.1:$port" --heartbeat 200 --quiet p8.json >b8b.out 2>&1 &
broker=$!
reap $broker
check "the restarted broker completes with the reconnected worker" test "$rc" -eq 0
check "its summary says so" grep -q "completed ✔: 30" b8b.out
check "the worker joined twice" test "$(grep -c "joined task t" w8.err)" -eq 2
reap $pworker
check "the worker exits 0 after the second broker's shutdown" test "$rc" -eq 0

# 9. CurveZMQ: with both key files the worker finishes the run; a key not
#    on the broker's list is refused at once, clear text never gets in.
mkdir allow
cp good allow/
port=$(free_port)
task1d p9.json t 30 1 0 true
"$BROKER" --bind "tcp://127.0.0.1:$port" --curve-secret broker_secret --curve-allow allow \
  --quiet p9.json >b9.out 2>b9.err &
broker=$!
check "the CurveZMQ broker started" wait_for 10 grep -q "start workers of task t" b9.err
rc=0; timeout 60 $PY pw.py --connect "tcp://127.0.0.1:$port" --task t --give-up 40 \
  --pids "$tmpdir/run9-plain.txt" >w9p.out 2>w9p.err || rc=$?
check "a clear-text worker is refused (exit 1)" test "$rc" -eq 1
check "and told why" grep -q "daisy_worker: broker at tcp://127.0.0.1:$port speaks CurveZMQ and this worker clear text" w9p.err
rc=0; timeout 60 $PY pw.py --connect "tcp://127.0.0.1:$port" --task t --give-up 40 \
  --curve-secret bad_secret --broker-key broker --pids "$tmpdir/run9-bad.txt" >w9b.out 2>w9b.err || rc=$?
check "a worker whose key is not allowed exits 1" test "$rc" -eq 1
check "and says its key was refused" grep -q "refused this worker's CurveZMQ key" w9b.err
check "neither got a block" test ! -e run9-plain.txt -a ! -e run9-bad.txt
rc=0; timeout 60 $PY pw.py --connect "tcp://127.0.0.1:$port" --task t \
  --curve-secret good_secret --broker-key broker --pids "$tmpdir/run9.txt" >w9.out 2>w9.err || rc=$?
check "an authorised worker finishes the run" test "$rc" -eq 0
reap $broker
check "the broker exits 0" test "$rc" -eq 0
check "every block ran on the authorised worker" test "$(sort -un run9.txt | wc -l)" -eq 30

# 10. `daisy run` killed (SIGKILL): its Python workers, with or without a
#     shell in between, are gone within 3 s (DAISY_BROKER_PID).
cat > p10.json <<JSON
{"tasks": [
  {"id": "a", "total_roi": {"offset": [0], "shape": [400]}, "read_roi": {"offset": [0], "shape": [1]},
   "write_roi": {"offset": [0], "shape": [1]}, "read_write_conflict": false, "workers": 2,
   "worker": $(json "$(worker --pids "$tmpdir/run10.txt" --sleep 0.05)")},
  {"id": "b", "total_roi": {"offset": [0], "shape": [400]}, "read_roi": {"offset": [0], "shape": [1]},
   "write_roi": {"offset": [0], "shape": [1]}, "read_write_conflict": false, "workers": 2,
   "worker": $(json "$(worker_sh --pids "$tmpdir/run10.txt" --sleep 0.05)")}
]}
JSON
"$DAISY" run --quiet --logs logs10 p10.json >/dev/null 2>&1 &
run=$!
descendants() {
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$c"
    descendants "$c"
  done
}
pythons=""
four_pythons() {  # the run's Python processes, once there are 4
  local p
  pythons=""
  for p in $(descendants $run); do
    [ "$(ps -o comm= -p "$p" 2>/dev/null)" = python3 ] && pythons="$pythons $p"
  done
  [ "$(echo $pythons | wc -w)" -eq 4 ]
}
check "the run has 4 Python workers at work" \
  wait_for 30 eval 'four_pythons && test "$(cat run10.txt 2>/dev/null | wc -l)" -ge 20'
kill -9 $run
reap $run
alive() {  # zombies are dead: reaping them is init's business
  local p
  for p in $pythons; do
    case "$(ps -o stat= -p "$p" 2>/dev/null)" in ''|Z*) ;; *) return 0 ;; esac
  done
  return 1
}
check "no Python worker of the killed run alive 3 s later" wait_for 3 eval '! alive'
check "those behind a shell said why" \
  grep -rq --include 'b-*.err' "^daisy_worker: the broker that started this worker (pid [0-9]*) is gone" logs10

# 11. The broker stopped (SIGSTOP) past the worker's patience, then
#     continued: the worker said hello again, the broker sent again every
#     block it held for it, and the worker kept one of each: every block
#     ran once, and the run completes.
port=$(free_port)
task1d p11.json t 30 1 0 true
"$BROKER" --bind "tcp://127.0.0.1:$port" --heartbeat 200 --run-id run-11 --quiet p11.json \
  >b11.out 2>b11.err &
broker=$!
$PY pw.py --connect "tcp://127.0.0.1:$port" --task t --run-id run-11 --prefetch 2 --sleep 0.05 \
  --pids "$tmpdir/run11.txt" >w11.out 2>w11.err &
pyworker=$!
check "the Python worker started" wait_for 20 test -s run11.txt
kill -STOP $broker
sleep 1.5       # past liveness x heartbeat (600 ms)
kill -CONT $broker
rc=0; timeout 60 tail --pid=$broker -f /dev/null || rc=$?
check "the broker, stopped and continued, completes the run" grep -q "completed ✔: 30" b11.out
check "every block ran once" test "$(cut -d' ' -f1 run11.txt | sort | uniq -d | wc -l)" -eq 0
kill $broker $pyworker 2>/dev/null || true

# 11b. A worker holding queued blocks (prefetch 4) stopped past the
#     broker's patience: continued, it says hello again and starts none of
#     them until the WELCOME says they went to others. The block its
#     function was in may run twice: a function cannot be stopped (README).
#     A guard more than a reproduction: the function is stopped with its
#     worker, so the old race (the next block started before the broker's
#     answer) needed it to end just as the worker was continued; runtime.sh
#     2d, whose commands run on while their worker is stopped, reproduces
#     it for daisy-worker every time.
task1d p11b.json t 12 3 2 "$(worker --pids "$tmpdir/run11b.txt" --sleep 0.3 --prefetch 4)"
timeout 120 "$DAISY" run --quiet --logs logs11b --heartbeat 200 p11b.json >r11b.out 2>r11b.err &
run=$!
check "a Python worker finished a block" wait_for 30 test -s run11b.txt
read -r _ _ stopped < run11b.txt
kill -STOP "$stopped"
sleep 1.5       # past liveness x heartbeat (600 ms)
kill -CONT "$stopped"
rc=0; wait $run || rc=$?
check "the run with a stopped Python worker completes" test "$rc" -eq 0
check "no queued block ran twice (run11b.txt)" \
  test "$(cut -d' ' -f1,2 run11b.txt | sort | uniq -d | wc -l)" -le 1

# 11c. A broker silent for liveness - 1.5 heartbeats (1.5 s here) may be
#      about to lose its worker and give the worker's queued blocks to
#      others: the worker says hello again and starts no queued block
#      until the WELCOME. Before, it went on starting them until it gave
#      the broker up (3 s). The broker is stopped for 3 s; a block started
#      1.6-2.0 s into the stop would have been started past the hold.
port=$(free_port)
task1d p11c.json t 40 1 0 true
"$BROKER" --bind "tcp://127.0.0.1:$port" --run-id run-11c --quiet p11c.json \
  >b11c.out 2>b11c.err &
broker=$!
$PY pw.py --connect "tcp://127.0.0.1:$port" --task t --run-id run-11c --prefetch 16 --sleep 0.2 \
  --records "$tmpdir/rec11c.txt" >w11c.out 2>w11c.err &
pyworker=$!
check "the Python worker started" wait_for 20 test -s rec11c.txt
stopped_at=$(date +%s%N)
kill -STOP $broker
sleep 3
kill -CONT $broker
rc=0; timeout 60 tail --pid=$broker -f /dev/null || rc=$?
late=$(awk -v t="$stopped_at" '$4 >= t + 1600000000 && $4 <= t + 2000000000' rec11c.txt | wc -l)
check "no queued block started 1.6-2.0 s into the broker's silence ($late did)" test "$late" -eq 0
check "the run completes" grep -q "completed ✔: 40" b11c.out
check "every block ran once" test "$(cut -d' ' -f2 rec11c.txt | sort | uniq -d | wc -l)" -eq 0
kill $broker $pyworker 2>/dev/null || true

# 12. At the end of a run the workers, told to shut down, end on their
#     own: a worker program's clean-up after run() returns (4 s here) is
#     not cut short, as it was when the run SIGTERMed them at once and
#     SIGKILLed them 3 s later.
task1d p12.json t 8 2 0 "$(worker --linger 4)"
rc=0; timeout 60 "$DAISY" run --quiet --logs logs12 p12.json >r12.out 2>r12.err || rc=$?
check "the run with lingering workers exits 0" test "$rc" -eq 0
check "both workers finished their clean-up" test "$(wc -l < locks/cleaned)" -eq 2
finish
