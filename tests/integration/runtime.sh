#!/usr/bin/env bash
# The distributed runtime with real processes over real sockets: daisy run,
# daisy-broker, daisy-worker and daisy monitor, as users run them.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
cd "$tmpdir"

# A command that records the block it ran: task id, attempt, start and end
# times, and the ROIs; used by check_run.py.
record='s=$(date +%s%N); sleep 0.01; echo "$DAISY_TASK_ID $DAISY_BLOCK_ID $DAISY_ATTEMPT $s $(date +%s%N) $DAISY_READ_OFFSET $DAISY_READ_SHAPE $DAISY_WRITE_OFFSET $DAISY_WRITE_SHAPE" >> '

proc_state() {  # pid: its state letter (R, S, T, Z, ...), empty when it is gone
  sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1
}
wait_stopped() {  # seconds, pid: true once the process is stopped (state T)
  local _
  for _ in $(seq $(($1 * 20))); do
    [ "$(proc_state "$2")" = T ] && return 0
    sleep 0.05
  done
  return 1
}

pipeline() {  # file, records file, extra command prefix for task a
  cat >"$1" <<JSON
{"tasks": [
  {"id": "a", "total_roi": {"offset": [0, 0], "shape": [40, 40]},
   "read_roi": {"offset": [0, 0], "shape": [12, 12]}, "write_roi": {"offset": [2, 2], "shape": [8, 8]},
   "fit": "shrink", "workers": 3, "max_retries": 2,
   "command": $(printf '%s' "$3$record$2" | $PY -c 'import json,sys; print(json.dumps(sys.stdin.read()))')},
  {"id": "b", "upstream": ["a"], "total_roi": {"offset": [2, 2], "shape": [36, 36]},
   "read_roi": {"offset": [0, 0], "shape": [10, 10]}, "write_roi": {"offset": [1, 1], "shape": [8, 8]},
   "workers": 2,
   "command": $(printf '%s' "$record$2" | $PY -c 'import json,sys; print(json.dumps(sys.stdin.read()))')},
  {"id": "c", "total_roi": {"offset": [0], "shape": [20]},
   "read_roi": {"offset": [0], "shape": [2]}, "write_roi": {"offset": [0], "shape": [2]},
   "read_write_conflict": false, "workers": 2,
   "command": $(printf '%s' "$record$2" | $PY -c 'import json,sys; print(json.dumps(sys.stdin.read()))')}
]}
JSON
}

# 1. A multi-task pipeline: every block exactly once, in dependency order,
#    the same blocks as the serial runner.
pipeline p1.json "$tmpdir/run1.txt" ""
pipeline p1s.json "$tmpdir/serial1.txt" ""
"$DAISY" plan --json p1.json > plan1.jsonl
timeout 120 "$DAISY" run --quiet --logs logs1 --heartbeat 200 p1.json > out1.txt 2> err1.txt
check "daisy run exits 0" test $? -eq 0
check "summary says all processed" test "$(grep -c 'all blocks processed successfully' out1.txt)" -eq 3
"$DAISY" run --serial --quiet p1s.json > /dev/null
check "blocks once, in order, as serially" $PY "$here/check_run.py" plan1.jsonl run1.txt --serial serial1.txt
check "per-worker logs" test -f logs1/latest/a/a-0.err -a -f logs1/latest/b/b-1.out

# 2. A worker killed with SIGKILL while it holds a block: the block runs
#    again elsewhere, the run completes, nothing is counted twice.
#    Its command (sh, and the sleep under it) dies with it, within 2 s:
#    else the block would run twice at once.
held_sleep="sleep 2$$"     # a command line only this test runs
hold='if [ "$DAISY_TASK_ID$DAISY_BLOCK_ID$DAISY_ATTEMPT" = a40 ]; then echo "$PPID $$" > '"$tmpdir"'/held; '"$held_sleep"'; echo outlived >> '"$tmpdir"'/outlived; fi; '
pipeline p2.json "$tmpdir/run2.txt" "$hold"
timeout 120 "$DAISY" run --quiet --logs logs2 --heartbeat 200 p2.json > out2.txt 2> err2.txt &
run=$!
for _ in $(seq 100); do [ -s held ] && pgrep -f "^$held_sleep\$" > /dev/null && break; sleep 0.1; done
check "the block to kill was held" test -s held
read -r worker_pid sh_pid < held
kill -9 "$worker_pid"
for _ in $(seq 20); do pgrep -f "^$held_sleep\$" > /dev/null || break; sleep 0.1; done
check "the killed worker's command is gone within 2 s" test -z "$(pgrep -f "^$held_sleep\$")"
check "and its shell too" test ! -e "/proc/$sh_pid/cmdline" -o -z "$(tr -d '\0' < /proc/$sh_pid/cmdline 2>/dev/null)"
wait $run
check "run survives a killed worker" test $? -eq 0
check "the killed command never went on" test ! -e outlived
for p in $(pgrep -f "^$held_sleep\$"); do kill "$p"; done
"$DAISY" plan --json p2.json > plan2.jsonl
check "every block once after the kill" $PY "$here/check_run.py" plan2.jsonl run2.txt
check "block 4 of a ran again as attempt 1" grep -q "^a 4 1 " run2.txt
check "nothing counted twice" grep -q "completed ✔: 16 (skipped 0)" out2.txt

# 2b. A worker whose broker died before it could ask to die with it (it
#     was handed to init already): it ends at once, saying so.
sh -c 'exit 0' & gone=$!
wait $gone
DAISY_BROKER_PID=$gone timeout 20 "$WORKER" --connect tcp://127.0.0.1:9 --task a --exec true \
  > /dev/null 2> err2b.txt
check "a worker whose broker is gone exits 1 at once" test $? -eq 1
check "... saying so" grep -q "the broker that started this worker (pid $gone) is gone" err2b.txt

# 2c. A worker stopped (SIGSTOP) past the broker's patience while its
#     block runs: the broker gives the block to another worker; the
#     stopped one, continued, learns from the WELCOME that the broker holds
#     nothing of its own and kills its command at once, which never runs
#     on beside the new attempt and its neighbours.
held_sleep="sleep 3$$"
# Its second attempt waits (20 s at most) for the first to be gone, so
# that the run goes on until the stopped worker is back.
hold='if [ "$DAISY_TASK_ID$DAISY_BLOCK_ID$DAISY_ATTEMPT" = a40 ]; then echo "$PPID $$" > '"$tmpdir"'/held2c; '"$held_sleep"'; echo outlived >> '"$tmpdir"'/outlived2c; fi; '
hold+='if [ "$DAISY_TASK_ID$DAISY_BLOCK_ID$DAISY_ATTEMPT" = a41 ]; then for i in $(seq 200); do pgrep -f "^'"$held_sleep"'$" > /dev/null || break; sleep 0.1; done; fi; '
pipeline p2c.json "$tmpdir/run2c.txt" "$hold"
timeout 120 "$DAISY" run --quiet --logs logs2c --heartbeat 200 p2c.json > out2c.txt 2> err2c.txt &
run=$!
for _ in $(seq 100); do [ -s held2c ] && pgrep -f "^$held_sleep\$" > /dev/null && break; sleep 0.1; done
check "the block to stop was held" test -s held2c
read -r worker_pid _ < held2c
kill -STOP "$worker_pid"
sleep 1.5   # past liveness x heartbeat (3 x 200 ms): lost, block 4 given again
kill -CONT "$worker_pid"
for _ in $(seq 50); do pgrep -f "^$held_sleep\$" > /dev/null || break; sleep 0.1; done
check "the stopped worker's command is gone within 5 s of its return" test -z "$(pgrep -f "^$held_sleep\$")"
wait $run
check "the run completes" test $? -eq 0
check "block 4 ran again elsewhere" grep -q "^a 4 1 " run2c.txt
check "the stale command never went on" test ! -e outlived2c
check "the worker said why" grep -rq "the broker gave the running block to another worker .*its command is killed" logs2c/latest/a
for p in $(pgrep -f "^$held_sleep\$"); do kill "$p"; done

# 2d. A worker with blocks queued (--prefetch 4) stopped past the broker's
#     patience: the broker gives its blocks to others. Continued, it says
#     hello again and starts none of them until the WELCOME tells it they
#     are gone; before, it started the next one within milliseconds, beside
#     (or after) the worker that now had it: the same attempt ran twice.
#     The block it was running may have been stopped before its start was
#     told (a block with others queued behind it is told after 20 ms: rule
#     4 of PROTOCOL.md section 6), and then goes to another worker as the
#     same attempt; its first copy, stopped with its worker, never ends.
cat > p2d.json <<JSON
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [12]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "read_write_conflict": false, "workers": 3,
  "command": "echo \$DAISY_BLOCK_ID \$DAISY_ATTEMPT \$PPID start >> $tmpdir/run2d.txt; sleep 0.3; echo \$DAISY_BLOCK_ID \$DAISY_ATTEMPT \$PPID end >> $tmpdir/run2d.txt"}]}
JSON
timeout 120 "$DAISY" run --quiet --logs logs2d --heartbeat 200 --prefetch 4 p2d.json \
  > out2d.txt 2> err2d.txt &
run=$!
for _ in $(seq 100); do [ -s run2d.txt ] && break; sleep 0.02; done
read -r first _ worker_pid _ < run2d.txt
kill -STOP "$worker_pid"    # 3 more blocks are queued behind the one it runs
sleep 1.5                   # past liveness x heartbeat (3 x 200 ms)
kill -CONT "$worker_pid"
wait $run
check "a run with a worker stopped while holding blocks completes" test $? -eq 0
check "no queued block and attempt started twice (run2d.txt)" \
  test -z "$(grep ' start$' run2d.txt | cut -d' ' -f1,2 | sort | uniq -d | grep -vx "$first 0")"
check "no block and attempt ran to its end twice (run2d.txt)" \
  test -z "$(grep ' end$' run2d.txt | cut -d' ' -f1,2 | sort | uniq -d)"

# 2e. A worker stopped alone (SIGSTOP) while its block's command runs:
#     the command's guard stops the command too, so that it does not run
#     on beside the attempt the broker gives to another worker; continued,
#     the worker learns the block is another's and kills the command, which
#     never went on. Before, it ran on (and ran beside the retry).
cat > p2e.json <<JSON
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [2]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "read_write_conflict": false, "workers": 2, "max_retries": 2,
  "command": "if [ \$DAISY_BLOCK_ID\$DAISY_ATTEMPT = 00 ]; then echo \$\$ > $tmpdir/c2e; echo \$PPID > $tmpdir/w2e; while :; do echo x >> $tmpdir/ticks2e; sleep 0.02; done; fi; echo \$DAISY_BLOCK_ID \$DAISY_ATTEMPT >> $tmpdir/run2e.txt"}]}
JSON
#     On a machine loaded enough for the worker to miss its heartbeats for
#     liveness x 200 ms before it is stopped, the broker loses it first;
#     the worker then kills its command itself (the block is another's),
#     and there is nothing left to stop. Such a try says nothing of the
#     guard, so it is made again, up to three times; a command still
#     running is the guard's failure, and is not tried again.
start_2e() {  # sets run, worker_pid, command_pid
  rm -rf c2e w2e ticks2e run2e.txt logs2e
  timeout 120 "$DAISY" run --quiet --logs logs2e --heartbeat 200 p2e.json > out2e.txt 2> err2e.txt &
  run=$!
  for _ in $(seq 100); do [ -s ticks2e ] && [ -s w2e ] && break; sleep 0.05; done
  read -r worker_pid < w2e
  read -r command_pid < c2e
}
for try in 1 2 3; do
  start_2e
  kill -STOP "$worker_pid"
  wait_stopped 5 "$command_pid" && break
  case "$(proc_state "$command_pid")" in Z|'') ;; *) break ;; esac
  echo "2e, try $try: the worker lost its block before it was stopped (a loaded machine)" >&2
  kill -CONT "$worker_pid"
  wait $run
done
check "the stopped worker's command was stopped too" test "$(proc_state "$command_pid")" = T
ticks_stopped=$(stat -c %s ticks2e)
for _ in $(seq 100); do grep -q "^0 1$" run2e.txt 2>/dev/null && break; sleep 0.05; done
check "block 0 ran again elsewhere while its first worker was stopped" grep -q "^0 1$" run2e.txt
sleep 0.5
ticks_later=$(stat -c %s ticks2e)
kill -CONT "$worker_pid"
wait $run
check "the run with a worker stopped alone completes" test $? -eq 0
check "the stopped worker's command was stopped with it ($ticks_stopped, then $ticks_later bytes)" \
  test "$ticks_stopped" = "$ticks_later"
check "the command never went on after its worker's return" \
  test "$(stat -c %s ticks2e)" = "$ticks_stopped"

# 2f. daisy run killed with SIGKILL while a block's command runs, one that
#     takes its time over SIGTERM: its worker dies at once, and with it the
#     command (its guard kills it). Before, the worker took the death of
#     its run for a SIGTERM and waited for the command, which ran on beside
#     the block's attempt in a run resumed at once.
cat > p2f.json <<JSON
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [1]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "command": "trap '' TERM; for i in \$(seq 100); do echo x >> $tmpdir/ticks2f; sleep 0.05; done"}]}
JSON
"$DAISY" run --quiet --logs logs2f p2f.json > out2f.txt 2>&1 &
run=$!
for _ in $(seq 100); do [ -s ticks2f ] && break; sleep 0.05; done
kill -9 $run
wait $run 2>/dev/null
sleep 1
ticks_after=$(stat -c %s ticks2f)
sleep 0.5
check "the command went with its killed run ($ticks_after, then $(stat -c %s ticks2f) bytes)" \
  test "$(stat -c %s ticks2f)" = "$ticks_after"
pkill -f "ticks2f" 2>/dev/null || true

# 3. A failing block: retried max_retries times, then failed; its
#    downstream orphaned; the summary says so; exit status non-zero.
fail='[ "$DAISY_TASK_ID$DAISY_BLOCK_ID" = a4 ] && { echo "bad block" >&2; exit 3; }; '
pipeline p3.json "$tmpdir/run3.txt" "$fail"
timeout 120 "$DAISY" run --quiet --logs logs3 --heartbeat 200 p3.json > out3.txt 2> err3.txt
check "failing run exits 1" test $? -eq 1
check "failure counted" grep -q "failed    ✗: 1" out3.txt
check "downstream orphaned" grep -q "orphaned  ∅: [1-9]" out3.txt
check "failed block named with its attempts" grep -q "block 4 (attempt 3): command exited with status 3" out3.txt
check "failed block's log named" grep -q "logs3/[0-9]\{8\}-[0-9]\{6\}-[0-9a-f]\{16\}/a/a-.*.err / .out" out3.txt
check "independent task c still completes" test "$(grep -c '^c ' run3.txt)" -eq 10

# 4. Workers that die at start-up: the task is abandoned after the restart
#    cap, no endless respawning, other tasks still finish.
cat > p4.json <<JSON
{"tasks": [
  {"id": "broken", "total_roi": {"offset": [0], "shape": [10]},
   "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
   "workers": 2, "worker": "echo dying >&2; exit 3"},
  {"id": "after", "upstream": ["broken"], "total_roi": {"offset": [0], "shape": [10]},
   "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
   "command": "true"},
  {"id": "fine", "total_roi": {"offset": [0], "shape": [10]},
   "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
   "command": "true"}
]}
JSON
timeout 60 "$DAISY" run --quiet --logs logs4 --restart-cap 4 p4.json > out4.txt 2> err4.txt
check "abandoned run exits 1" test $? -eq 1
check "abandonment explained" grep -q "abandoned: workers died 4 times" out4.txt
check "no endless respawning" test "$(ls logs4/latest/broken/*.err | wc -l)" -le 5
check "downstream of the broken task orphaned" bash -c "grep -A6 'Task after' out4.txt | grep -q 'orphaned  ∅: 10'"
check "independent task finished" bash -c "grep -A4 'Task fine' out4.txt | grep -q 'completed ✔: 10'"

# 5. Garbage on the ROUTER socket and a worker that lies: each refused and
#    counted; a well-behaved worker still finishes the run afterwards.
port=$(free_port)
cat > p5.json <<'JSON'
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [20]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "command": "true"}]}
JSON
"$BROKER" --bind "tcp://127.0.0.1:$port" --quiet p5.json > out5.txt 2> err5.txt &
broker=$!
sleep 0.5
check "every bad frame refused as expected" $PY "$here/garbage.py" "tcp://127.0.0.1:$port" t
check "broker still alive" kill -0 $broker
timeout 60 "$WORKER" --connect "tcp://127.0.0.1:$port" --task t --exec true > w5.txt 2>&1
check "a good worker finishes after the garbage" test $? -eq 0
wait $broker
check "broker exits 0" test $? -eq 0
check "refusals counted" grep -q "refused 1[0-9] of" err5.txt
check "all blocks done" grep -q "completed ✔: 20" out5.txt

# 5b. A block failing on a worker started by hand: the summary names the
#     failure but no log file, since the worker wrote to its own terminal.
port=$(free_port)
sed 's/"command": "true"/"max_retries": 0, "command": "true"/' p5.json > p5b.json
"$BROKER" --bind "tcp://127.0.0.1:$port" --quiet --logs logs5b p5b.json > out5b.txt 2>&1 &
broker=$!
timeout 60 "$WORKER" --connect "tcp://127.0.0.1:$port" --task nosuch --worker-id stray-1 \
  --give-up 30 --exec true > w5s.txt 2>&1
check "a worker of a task the run does not have is refused" test $? -eq 1
timeout 60 "$WORKER" --connect "tcp://127.0.0.1:$port" --task t \
  --exec '[ $DAISY_BLOCK_ID != 4 ]' > w5b.txt 2>&1
wait $broker
check "a failed block of a hand-started worker ends the run with 1" test $? -eq 1
check "the summary names the failed block" grep -q "block 4 (attempt 1): command exited with status 1" out5b.txt
check "the broker's log names the worker it refused, and its host" \
  grep -q "worker stray-1 (host $(hostname), pid [0-9]*) asked for unknown task 'nosuch'" out5b.txt
check "and sends nobody to a log the worker never wrote" bash -c "! grep -q 'See worker logs\|\.err' out5b.txt"

# 6. The broker restarted under a running worker: the worker reconnects
#    and carries on.
port=$(free_port)
cat > p6.json <<'JSON'
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [30]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "command": "sleep 0.1"}]}
JSON
"$BROKER" --bind "tcp://127.0.0.1:$port" --heartbeat 200 --quiet p6.json > out6a.txt 2>&1 &
broker=$!
"$WORKER" --connect "tcp://127.0.0.1:$port" --task t --exec "sleep 0.1" > w6.txt 2>&1 &
worker=$!
sleep 1
kill -9 $broker
wait $broker 2>/dev/null
sleep 0.5
"$BROKER" --bind "tcp://127.0.0.1:$port" --heartbeat 200 --quiet p6.json > out6.txt 2>&1 &
broker=$!
timeout 60 tail --pid=$broker -f /dev/null
check "restarted broker completes with the reconnected worker" grep -q "completed ✔: 30" out6.txt
timeout 10 tail --pid=$worker -f /dev/null
check "the worker exits after the second broker's shutdown" bash -c "! kill -0 $worker 2>/dev/null"

# 7. A subscriber that joins mid-run sees the current state and the final
#    summary.
port=$(free_port); pport=$((port + 1))
cat > p7.json <<'JSON'
{"tasks": [{"id": "slow", "total_roi": {"offset": [0], "shape": [40]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "workers": 2, "command": "sleep 0.1"}]}
JSON
"$BROKER" --bind "tcp://127.0.0.1:$port" --publish "tcp://127.0.0.1:$pport" --local --logs logs7 --quiet p7.json > out7.txt 2>&1 &
broker=$!
sleep 1.2
timeout 60 "$DAISY" monitor --json --timeout 20 "tcp://127.0.0.1:$pport" > mon7.jsonl
check "monitor exits 0 on success" test $? -eq 0
wait $broker
check "late monitor saw progress under way" $PY -c '
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
states = [e for e in events if e["event"] == "task_state"]
assert states and states[0]["completed"] > 0, states[:1]
final = [e for e in events if e["event"] == "run_finished"]
assert final and final[0]["success"] and final[0]["tasks"][0]["completed"] == 40, final
' mon7.jsonl

# 8. A block held past its task's timeout goes back through the retry
#    path; the run still completes, and the late result changes nothing.
cat > p8.json <<JSON
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [6]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "timeout": 1, "workers": 2, "max_retries": 2,
  "command": "[ \"\$DAISY_BLOCK_ID\$DAISY_ATTEMPT\" = 20 ] && sleep 3; echo \$DAISY_BLOCK_ID \$DAISY_ATTEMPT >> $tmpdir/timeout.txt"}]}
JSON
timeout 60 "$DAISY" run --logs logs8 p8.json > out8.txt 2> err8.txt
check "run with a timed-out block exits 0" test $? -eq 0
check "the overrun block ran again as attempt 1" grep -q "^2 1$" timeout.txt
check "every block counted once" grep -q "completed ✔: 6 (skipped 0)" out8.txt

# 8c. Blocks queued behind one that overran stay with its worker, which
#     stops the overrun command and goes on with them: none runs twice
#     (taking them back had them run on two workers at once), and the
#     worker's own report of the timeout is not logged as a refusal.
cat > p8c.json <<JSON
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [200]},
  "read_roi": {"offset": [0], "shape": [10]}, "write_roi": {"offset": [0], "shape": [10]},
  "read_write_conflict": false, "timeout": 2, "max_retries": 1, "workers": 2,
  "command": "echo \$DAISY_BLOCK_ID \$DAISY_ATTEMPT >> $tmpdir/queued.txt; if [ \$DAISY_BLOCK_ID = 1 ]; then sleep 30; fi; sleep 0.5"}]}
JSON
timeout 60 "$DAISY" run --prefetch 4 --logs logs8c p8c.json > out8c.txt 2> err8c.txt
check "a run with a block past its timeout and a queue behind it exits 1" test $? -eq 1
check "only the overrun block ran twice (queued.txt)" \
  test "$(cut -d' ' -f1 queued.txt | sort -n | uniq -d | tr '\n' ' ')" = "1 "
check "the other 19 blocks completed" grep -q "completed ✔: 19" out8c.txt
check "no refusal logged (err8c.txt)" bash -c "! grep -q refused err8c.txt out8c.txt"

# 8b. A block that never ends: its command is stopped at the task's
#    timeout (SIGTERM to its group), so the worker is free for the retry,
#    and once the retries are used up the run ends with the block failed
#    for a timeout. Without that, both workers stayed in the sleep for good.
hang="sleep 1$$"      # a command line only this test runs
cat > p8b.json <<JSON
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [80]},
  "read_roi": {"offset": [0], "shape": [10]}, "write_roi": {"offset": [0], "shape": [10]},
  "workers": 2, "max_retries": 2, "timeout": 3,
  "command": "if [ \$DAISY_BLOCK_ID = 5 ]; then $hang; fi"}]}
JSON
start=$(date +%s)
timeout 60 "$DAISY" run --progress-interval 2 --logs logs8b p8b.json > out8b.txt 2> err8b.txt
check "a run with a block that never ends exits 1" test $? -eq 1
check "within 30 s" test $(($(date +%s) - start)) -le 30
check "the block failed for a timeout after 3 attempts" \
  grep -q "block 5 (attempt 3): timeout: still running after 3 s" out8b.txt
check "no command of it is left" test -z "$(pgrep -f "^$hang\$")"

# 9. daisy-broker starting its workers through a launch template (as with
#    'ssh {host} {cmd}' or 'srun -N1 -n1 {cmd}'), hosts taken in turn.
cat > p9.json <<JSON
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [12]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "workers": 2, "command": "echo \$DAISY_BLOCK_ID >> $tmpdir/launched.txt"}]}
JSON
timeout 60 "$BROKER" --bind "tcp://127.0.0.1:*" --quiet --logs logs9 \
  --worker-program "$WORKER" --launch "echo on {host} >> $tmpdir/hosts.txt; sh -c '{cmd}'" \
  --hosts node1,node2 p9.json > out9.txt 2>&1
check "template-launched workers finish the run" grep -q "completed ✔: 12" out9.txt
check "every host of the list was used" test "$(sort -u hosts.txt | tr '\n' ' ')" = "on node1 on node2 "
timeout 60 "$BROKER" --bind "tcp://127.0.0.1:*" --quiet --logs logs9b \
  --worker-program "$WORKER" --launch "env {cmd}" p9.json > out9b.txt 2>&1
check "a launcher that execs {cmd} directly (like srun) works too" grep -q "completed ✔: 12" out9b.txt
timeout 60 "$BROKER" --bind "tcp://127.0.0.1:*" --quiet --logs logs9c \
  --worker-program "$WORKER" --launch "echo on {host} >> $tmpdir/hosts9c.txt; sh -c '{cmd}'" \
  p9.json > out9c.txt 2>&1
check "without --hosts, {host} is localhost (as the README says)" \
  test "$(sort -u hosts9c.txt)" = "on localhost"
# The default endpoint is a Unix socket in a private directory under
# $TMPDIR (mode 0700 while the run lasts), gone when the run ends.
mkdir -p tmpd
cat > sock.json <<JSON
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [3]}, "read_roi": {"offset": [0], "shape": [1]},
  "write_roi": {"offset": [0], "shape": [1]},
  "command": "stat -c %a \$(dirname \$(ls -d $tmpdir/tmpd/daisy-run-*/broker)) >> $tmpdir/mode.txt"}]}
JSON
TMPDIR="$tmpdir/tmpd" timeout 60 "$DAISY" run --quiet --logs logs10 sock.json > out10.txt 2>&1
check "a run on the private socket completes" grep -q "completed ✔: 3" out10.txt
check "its directory is private (0700) while the run lasts" test "$(sort -u mode.txt)" = 700
check "and gone after it" test -z "$(ls -A tmpd)"

# 11. A broker stopped past its workers' patience (SIGSTOP, a paused host),
#     then continued: the worker gave up on it and said hello again; the
#     blocks the broker sent to its old connection come again, the time
#     the broker was stopped is not the worker's silence, and every block
#     runs once.
port=$(free_port)
cmd11="echo start \$DAISY_BLOCK_ID >> $tmpdir/ev11; sleep 0.05"
cat > p11.json <<JSON
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [30]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "command": "true"}]}
JSON
"$BROKER" --bind "tcp://127.0.0.1:$port" --heartbeat 200 --run-id run-11 --quiet p11.json \
  > out11.txt 2>&1 &
broker=$!
"$WORKER" --connect "tcp://127.0.0.1:$port" --task t --run-id run-11 --prefetch 2 \
  --exec "$cmd11" > w11.txt 2>&1 &
worker=$!
for _ in $(seq 100); do [ -s ev11 ] && break; sleep 0.05; done
kill -STOP $broker
sleep 1.5       # past liveness x heartbeat (600 ms): the worker reconnects
kill -CONT $broker
timeout 60 tail --pid=$broker -f /dev/null
check "a broker stopped and continued completes its run" grep -q "completed ✔: 30" out11.txt
check "every block ran once" test "$(sort ev11 | uniq -d | wc -l)" = 0
check "no worker was lost" bash -c "! grep -q 'heartbeat timeout' out11.txt"
kill $worker 2>/dev/null || true

# 11b. A broker stopped (SIGSTOP) while a block's command runs, as a
#      partition would look to the worker: hearing nothing for liveness -
#      1.5 heartbeats, the worker pauses the command (the broker may be
#      about to give the block away) and asks again; the broker, continued,
#      says the block is still the worker's, and the command goes on:
#      attempt 0 only, no retry, no block run twice.
port=$(free_port)
cmd11b="echo \$\$ > $tmpdir/c11b; for i in \$(seq 60); do echo \$DAISY_ATTEMPT >> $tmpdir/ticks11b; sleep 0.05; done"
cat > p11b.json <<JSON
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [1]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "command": "true"}]}
JSON
"$BROKER" --bind "tcp://127.0.0.1:$port" --heartbeat 200 --run-id run-11b --quiet p11b.json \
  > out11b.txt 2>&1 &
broker=$!
"$WORKER" --connect "tcp://127.0.0.1:$port" --task t --run-id run-11b --exec "$cmd11b" \
  > w11b.txt 2>&1 &
worker=$!
for _ in $(seq 100); do [ -s ticks11b ] && break; sleep 0.05; done
kill -STOP $broker
read -r command_pid < c11b
check "the command was paused while its broker was silent" wait_stopped 5 "$command_pid"
ticks_silent=$(wc -l < ticks11b)
sleep 1
ticks_later=$(wc -l < ticks11b)
kill -CONT $broker
timeout 60 tail --pid=$broker -f /dev/null
check "the command paused while its broker was silent ($ticks_silent, then $ticks_later ticks)" \
  test "$ticks_silent" = "$ticks_later"
check "the block completed after the broker's return" grep -q "completed ✔: 1" out11b.txt
ticks=$(sort ticks11b | uniq -c | tr -s ' \n' ' ')
check "the command went on to its end, attempt 0 only (ticks by attempt:$ticks)" \
  test "$(grep -c '^0$' ticks11b) $(wc -l < ticks11b)" = "60 60"
[ "$(wc -l < ticks11b)" = 60 ] || sed 's/^/    /' out11b.txt w11b.txt >&2
check "the worker said why it paused" grep -q "the block's command is paused" w11b.txt
check "no worker was lost" bash -c "! grep -q 'heartbeat timeout' out11b.txt"
kill $worker 2>/dev/null || true

# 12. Ctrl-Z on daisy run stops the run as a whole (the broker, its workers
#     in their own groups, and the blocks' commands), and fg continues it:
#     no block runs while it is stopped, none twice after.
cat > p12.json <<JSON
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [8]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "workers": 2, "command": "echo start \$DAISY_BLOCK_ID >> $tmpdir/ev12; sleep 0.3; echo end \$DAISY_BLOCK_ID >> $tmpdir/ev12"}]}
JSON
$PY "$here/job_control.py" ev12 2 -- "$DAISY" run --quiet --heartbeat 200 --logs logs12 p12.json \
  > jc12.txt 2>&1
jc=$?
check "Ctrl-Z and fg of daisy run (see jc12.txt)" test $jc -eq 0
[ $jc -eq 0 ] || sed 's/^/    /' jc12.txt >&2     # which of its checks, in the test's log
check "the run completes after fg" grep -qx 0 jc12.txt
check "every block ran" test "$(grep -c '^end' ev12)" = 8
sed 's/"workers": 2, //' p12.json | sed "s|ev12|ev13|g" > p13.json
$PY "$here/job_control.py" ev13 2 -- "$DAISY" run --serial --quiet p13.json > jc13.txt 2>&1
jc=$?
check "Ctrl-Z and fg of daisy run --serial (see jc13.txt)" test $jc -eq 0
[ $jc -eq 0 ] || sed 's/^/    /' jc13.txt >&2     # which of its checks, in the test's log
check "the serial run completes after fg" grep -qx 0 jc13.txt
finish
