#!/usr/bin/env bash
# Run integrity with real programs: a run owns its workers (run ids, workers
# die with their broker), and a lost worker is charged fairly (only the
# block it was running uses a retry; preemption and silent clients cost
# none).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
cd "$tmpdir"

json() { printf '%s' "$1" | $PY -c 'import json,sys; print(json.dumps(sys.stdin.read()))'; }

task1d() {  # file, blocks, workers, max_retries, command
  cat >"$1" <<JSON
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [$2]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "read_write_conflict": false, "workers": $3, "max_retries": $4,
  "command": $(json "$5")}]}
JSON
}

# All processes below $1, depth first.
descendants() {
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$c"
    descendants "$c"
  done
}

# 1. SIGKILL a run mid-run and at once start an unrelated run with the same
#    task and worker ids: no worker of the first run outlives it by 2 s,
#    and every block the second run completes ran its own command.
task1d a.json 400 4 2 'echo "$DAISY_BLOCK_ID" >> '"$tmpdir"'/a.log; sleep 0.05'
task1d b.json 400 4 0 'echo "$DAISY_BLOCK_ID" >> '"$tmpdir"'/b.log'
"$DAISY" run --quiet --logs logs-a a.json >/dev/null 2>&1 &
arun=$!
for _ in $(seq 100); do [ "$(wc -l 2>/dev/null <a.log || echo 0)" -ge 20 ] && break; sleep 0.1; done
check "the first run got going" test "$(wc -l <a.log)" -ge 20
olds=$(descendants $arun)
check "the first run has workers" test -n "$olds"
kill -9 $arun
wait $arun 2>/dev/null
"$DAISY" run --quiet --logs logs-b b.json >b.out 2>b.err
check "the second run exits 0" test $? -eq 0
check "every block of the second run ran its own command" \
  test "$(sort -un b.log | wc -l)" -eq 400 -a "$(wc -l <b.log)" -eq 400
[ "$(wc -l <b.log)" -eq 400 ] || { sort -n b.log | uniq -d | head -3; wc -l b.log; cat b.err b.out; } >&2
sleep 2
alive=""   # zombies are dead: reaping them is init's business
for p in $olds; do
  case "$(ps -o stat= -p "$p" 2>/dev/null)" in ''|Z*) ;; *) alive="$alive $p" ;; esac
done
check "no process of the killed run alive 2 s later" test -z "$alive"
[ -n "$alive" ] && ps -o pid,ppid,pgid,etimes,args -p "$(echo $alive | tr " " ",")" >&2

# 2. A worker started for another run is refused and exits at once; the
#    broker prints the run id and the command line for hand-started workers.
task1d c.json 20 1 0 'true'
port=$(free_port)
"$BROKER" --bind "tcp://127.0.0.1:$port" --run-id run-c --quiet c.json >c.out 2>c.err &
broker=$!
for _ in $(seq 50); do grep -q "start workers of task t" c.err && break; sleep 0.1; done
check "broker prints its run id" grep -q "serving c.json on tcp://127.0.0.1:$port, run run-c" c.err
check "broker prints the worker command line" \
  grep -q "daisy-worker --connect tcp://127.0.0.1:$port --task t --run-id run-c --exec true" c.err
timeout 10 "$WORKER" --connect "tcp://127.0.0.1:$port" --task t --run-id other --exec true 2>w.err
check "a worker of another run exits 1" test $? -eq 1
check "and says why" grep -q "serves another run, this worker was started for run other" w.err
line=$(grep -A1 "start workers of task t" c.err | tail -1)
eval "timeout 20 $WORKER ${line#*daisy-worker}" 2>/dev/null
check "the printed command line works" test $? -eq 0
wait $broker
check "the broker finished" test $? -eq 0
check "the refusal was logged with the worker's host" grep -q "refused .*wrong_run" c.err

# A launch template that would start nothing is refused up front.
"$BROKER" --launch 'ssh {host} true' c.json >/dev/null 2>tmpl.err
check "a template without {cmd} is a usage error" test $? -eq 2
check "and says so" grep -q "has no {cmd}" tmpl.err

# 3. Three clients each take as many blocks as they can (1024 asked, the
#    cap is 64) and go silent: no block uses a retry, every block completes
#    with max_retries 0.
task1d d.json 300 1 0 'sleep 0.01'
port=$(free_port)
"$BROKER" --bind "tcp://127.0.0.1:$port" --local --heartbeat 200 --liveness 2 --quiet \
  --logs logs-d d.json >d.out 2>d.err &
broker=$!
$PY - "tcp://127.0.0.1:$port" >silent.txt <<'PY'
import sys, msgpack, zmq
ctx = zmq.Context()
for n in range(3):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.IDENTITY, f"silent-{n}".encode())
    s.connect(sys.argv[1])
    s.send(msgpack.packb([2, 1, "t", f"silent-{n}", "nowhere", 1, 1024, ""]))
    s.send(msgpack.packb([2, 2, 1024]))
    got = 0
    while s.poll(500):
        m = msgpack.unpackb(s.recv())
        if m[1] == 102:
            got += len(m[3])
    print(got)
    s.close()        # silent from here on
PY
wait $broker
check "the run with silent clients exits 0" test $? -eq 0
check "every block completed" grep -q "completed ✔: 300 " d.out
check "no block failed" grep -q "failed    ✗: 0" d.out
check "the silent clients got blocks, at most 64 each" \
  $PY -c 'import sys; v=[int(x) for x in open(sys.argv[1])]; assert len(v)==3 and sum(v)>0 and max(v)<=64, v' silent.txt

# 4. A worker killed mid-block (0.3 s into it) with prefetch 16 costs
#    exactly one attempt: the block it ran is retried once, the other
#    blocks it held come back with their attempt unchanged (finished blocks whose results were still
#    held for batching run again, at no cost).
task1d e.json 60 1 1 'if [ "$DAISY_BLOCK_ID" = 5 ] && mkdir '"$tmpdir"'/killed 2>/dev/null; then sleep 0.3; kill -9 $PPID; sleep 1; fi; echo "$DAISY_BLOCK_ID $DAISY_ATTEMPT" >> '"$tmpdir"'/e.log; sleep 0.01'
"$DAISY" run --quiet --prefetch 16 --heartbeat 200 --logs logs-e e.json >e.out 2>e.err
check "the run survives the kill" test $? -eq 0
check "every block ran" test "$(cut -d' ' -f1 e.log | sort -un | wc -l)" -eq 60
check "only the killed block used a retry" test "$(grep -v ' 0$' e.log)" = "5 1"

# 5. SIGTERM (preemption) costs no retry: the worker passes it to the
#    command, gives every block back and exits; with max_retries 0 the run
#    still completes every block.
task1d f.json 40 1 0 'if [ "$DAISY_BLOCK_ID" = 7 ] && mkdir '"$tmpdir"'/termed 2>/dev/null; then kill -TERM $PPID; sleep 5; touch '"$tmpdir"'/outlived; fi; echo "$DAISY_BLOCK_ID $DAISY_ATTEMPT" >> '"$tmpdir"'/f.log'
"$DAISY" run --quiet --prefetch 4 --heartbeat 200 --logs logs-f f.json >f.out 2>f.err
check "the preempted run exits 0" test $? -eq 0
check "no attempt was used" test -z "$(grep -v ' 0$' f.log)"
check "every block ran once" test "$(sort -un f.log | wc -l)" -eq 40 -a "$(wc -l <f.log)" -eq 40
check "the command got the SIGTERM too (it did not outlive its worker)" test ! -e outlived

# 6. A block that kills its worker at once, in lockstep (its start is told
#    before it runs): it uses up its retries and fails for good, like any
#    failing block, instead of killing workers until the task is abandoned.
task1d g.json 20 1 1 'if [ "$DAISY_BLOCK_ID" = 3 ]; then kill -9 $PPID; sleep 1; fi; echo "$DAISY_BLOCK_ID" >> '"$tmpdir"'/g.log'
"$DAISY" run --quiet --restart-cap 5 --logs logs-g g.json >g.out 2>g.err
check "the poisoned run exits 1" test $? -eq 1
check "the poison block failed for good after 2 attempts" grep -q "block 3 (attempt 2)" g.out
check "the task was not abandoned" test -z "$(grep abandoned g.out)"
check "every other block ran" test "$(sort -un g.log | wc -l)" -eq 19

# 7. A run-wide budget: 4 workers wanting a GPU each, 2 GPUs: at most 2 run
#    at once, on distinct devices 0 and 1; a task that could never fit is
#    refused before anything starts.
mkdir -p run
cat > h.json <<JSON
{"tasks": [{"id": "h", "total_roi": {"offset": [0], "shape": [24]}, "read_roi": {"offset": [0], "shape": [1]},
  "write_roi": {"offset": [0], "shape": [1]}, "workers": 4, "read_write_conflict": false,
  "resources": {"gpus": 1},
  "command": $(json 'echo "$CUDA_VISIBLE_DEVICES" > run/$$; echo "$(ls run | wc -l) $CUDA_VISIBLE_DEVICES $(cat run/* | sort | uniq -d | wc -l)" >> seen.txt; sleep 0.2; rm run/$$')}]}
JSON
"$DAISY" run --quiet --resources gpu=2 --logs logs-h h.json > h.out 2> h.err
check "the budgeted run completes" test $? -eq 0
check "never more than 2 workers at once" test "$(awk '$1 > 2' seen.txt | wc -l)" -eq 0
check "only devices 0 and 1" test "$(awk '{print $2}' seen.txt | sort -u | tr '\n' ' ')" = "0 1 "
check "never the same device twice at once" test "$(awk '$3 != 0' seen.txt | wc -l)" -eq 0
"$DAISY" run --quiet --resources gpu=0 --logs never-logs h.json > /dev/null 2> never.err
check "a task that can never fit is refused as a usage error" test $? -eq 2
check "naming the budget, the task and the figures" grep -q "budget 'gpu=0': task 'h': one worker needs 1 GPUs, the run's budget has 0" never.err
check "before anything starts" test ! -e never-logs
# A budget is whole counts, each resource once: a count out of range was
# taken as the largest long (no budget at all), a second cpu= silently won.
for spec in cpu=99999999999999999999 "cpu= 4" cpu=+4 cpu=0x10 cpu=2,cpu=4 gpu=1,gpus=2; do
  "$DAISY" run --quiet --resources "$spec" --logs never-logs h.json > /dev/null 2> bad.err
  check "--resources '$spec' is a usage error" test $? -eq 2
  check "... naming the option" grep -q "^daisy run: --resources: " bad.err
done
check "... before anything starts" test ! -e never-logs

# 8. A task starts no more workers than it has blocks: the others could
#    get nothing ("workers": 2000000000 in a pipeline file started
#    processes until the machine gave out). 50 asked, 3 blocks: 3 workers.
cat > many.json <<JSON
{"tasks": [{"id": "m", "total_roi": {"offset": [0], "shape": [3]}, "read_roi": {"offset": [0], "shape": [1]},
  "write_roi": {"offset": [0], "shape": [1]}, "workers": 50, "read_write_conflict": false,
  "command": "true"}]}
JSON
timeout 120 "$DAISY" run --quiet --logs logs-many many.json > many.out 2> many.err
check "a task of 3 blocks with 50 workers completes" test $? -eq 0
check "having started 3 workers, not 50" test "$(ls logs-many/latest/m/*.err | wc -l)" -eq 3
finish
