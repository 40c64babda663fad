#!/usr/bin/env bash
# Resume from done markers: a run stopped half way (SIGINT, and separately
# SIGKILL of the broker) and run again completes with every block done and
# no completed block processed again; a changed layout is refused unless
# reset.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
cd "$tmpdir"

cat > p.json <<JSON
{"tasks": [
  {"id": "a", "total_roi": {"offset": [0], "shape": [60]},
   "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
   "workers": 3, "command": "sleep 0.1; echo a \$DAISY_BLOCK_ID >> $tmpdir/ran.txt"},
  {"id": "b", "upstream": ["a"], "total_roi": {"offset": [0], "shape": [60]},
   "read_roi": {"offset": [0], "shape": [3]}, "write_roi": {"offset": [1], "shape": [1]},
   "read_write_conflict": false,
   "workers": 2, "command": "sleep 0.05; echo b \$DAISY_BLOCK_ID >> $tmpdir/ran.txt"}
]}
JSON

# 1. SIGINT half way: blocks in flight finish, the rerun does the rest.
"$DAISY" run --quiet --markers m1 --logs logs p.json > out1.txt 2>&1 &
run=$!
for _ in $(seq 100); do [ "$(cat ran.txt 2>/dev/null | wc -l)" -ge 15 ] && break; sleep 0.1; done
kill -INT $run
wait $run
check "interrupted run exits 130" test $? -eq 130
first=$(wc -l < ran.txt)
check "the first run stopped part way" test "$first" -lt 118
timeout 120 "$DAISY" run --quiet --markers m1 --logs logs p.json > out2.txt 2>&1
check "rerun exits 0" test $? -eq 0
check "every block ran" test "$(sort -u ran.txt | wc -l)" -eq 118
check "no block ran twice after SIGINT" test "$(sort ran.txt | uniq -d | wc -l)" -eq 0
check "daisy run resumes on its private socket at once: no wait for strangers" \
  bash -c "! grep -q 'resuming from' out2.txt"
check "rerun counts the done blocks as skipped" grep -q "skipped $(grep -c '^a ' <(head -n "$first" ran.txt)))" out2.txt
timeout 60 "$DAISY" run --quiet --markers m1 --logs logs p.json > out3.txt 2>&1
check "a finished run reruns as all skipped" grep -q "completed ✔: 60 (skipped 60)" out3.txt

# 1b. A resumed broker interrupted before any worker came: the blocks
#     recorded done are not "not run" (it skips them only as it reaches
#     them, and had reached none): it says how many are recorded.
cat > p1b.json <<JSON
{"tasks": [{"id": "t", "total_roi": {"offset": [0], "shape": [12]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "max_retries": 0, "command": "[ \$DAISY_BLOCK_ID -lt 10 ]"}]}
JSON
timeout 60 "$DAISY" run --quiet --markers m1b --logs logs p1b.json > out1b.txt 2>&1
check "a run with 2 failing blocks of 12 exits 1" test $? -eq 1
port=$(free_port)
"$BROKER" --bind "tcp://127.0.0.1:$port" --markers m1b --quiet p1b.json > out1b2.txt 2> err1b2.txt &
broker=$!
for _ in $(seq 100); do grep -q "start workers of task t" err1b2.txt && break; sleep 0.1; done
check "the broker started" grep -q "start workers of task t" err1b2.txt
kill -INT $broker
wait $broker
check "the broker interrupted exits 130" test $? -eq 130
check "it says 2 blocks were not run, 10 are recorded (out1b2.txt)" \
  grep -q "Interrupted: 2 blocks were not run. The 10 done are recorded in m1b" out1b2.txt

# 2. SIGKILL of the broker: started again on the same markers, the workers
#    reconnect by themselves and the run completes. Blocks in flight at the
#    kill may run twice: at most one per worker.
rm -f ran.txt
port=$(free_port)
"$BROKER" --bind "tcp://127.0.0.1:$port" --markers m2 --heartbeat 200 --quiet p.json > b1.txt 2>&1 &
broker=$!
workers=()
for t in a a b; do
  "$WORKER" --connect "tcp://127.0.0.1:$port" --task $t --give-up 60 \
    --exec "$(python3 -c 'import json,sys; t=json.load(open("p.json"))["tasks"]; print({x["id"]: x["command"] for x in t}[sys.argv[1]])' $t)" \
    > "w-$t-${#workers[@]}.txt" 2>&1 &
  workers+=($!)
done
for _ in $(seq 100); do [ "$(cat ran.txt 2>/dev/null | wc -l)" -ge 20 ] && break; sleep 0.1; done
kill -9 $broker
wait $broker 2>/dev/null
sleep 0.3
"$BROKER" --bind "tcp://127.0.0.1:$port" --markers m2 --heartbeat 200 --quiet p.json > b2.txt 2>&1
check "restarted broker completes the run" test $? -eq 0
check "on a shared endpoint it waited for the killed run's workers, and said so" \
  grep -q "resuming from [0-9]* done blocks: the first blocks go out in 0.6 s" b2.txt
for w in "${workers[@]}"; do timeout 20 tail --pid=$w -f /dev/null; done
check "every block ran after the broker was killed" test "$(sort -u ran.txt | wc -l)" -eq 118
twice=$(sort ran.txt | uniq -d | wc -l)
echo "blocks run twice across the broker kill: $twice"
check "only blocks in flight ran twice" test "$twice" -le 3

# 3. A changed layout is refused; --reset-markers discards the old ones.
sed 's/"shape": \[1\]}, "write_roi"/"shape": [2]}, "write_roi"/' p.json > changed.json
sed -i 's/"offset": \[0\], "shape": \[1\]}, *$/"offset": [0], "shape": [2]},/' changed.json
"$DAISY" plan changed.json > /dev/null
check "the changed pipeline is valid" test $? -eq 0
"$DAISY" run --quiet --markers m1 --logs logs changed.json > out4.txt 2> err4.txt
check "changed layout refused, as a mistake in the command line (exit 2)" test $? -eq 2
check "refusal names the task and the fix" grep -q "task 'a'.*--reset-markers" err4.txt
"$DAISY" run --serial --quiet --markers m1 --logs logs changed.json > out4s.txt 2> err4s.txt
check "the same with --serial" test $? -eq 2
"$BROKER" --bind "tcp://127.0.0.1:$(free_port)" --quiet --markers m1 changed.json > out4b.txt 2> err4b.txt
check "and with daisy-broker" test $? -eq 2
timeout 60 "$DAISY" run --quiet --markers m1 --reset-markers --logs logs changed.json > out5.txt 2>&1
check "reset honoured" test $? -eq 0
check "after a reset nothing is skipped in the changed task" grep -q "skipped 0" out5.txt

# 3b. A crash inside --reset-markers, placed by strace: SIGKILL when the
#     new chunk is opened, after the new metadata is in place. The next
#     run, without a reset, must not skip blocks on the old marks (the
#     old chunk had the new one's size: 10 blocks, shifted by 4).
if command -v strace > /dev/null; then
  for shift in 0 4; do
    cat > "r$shift.json" <<JSON
{"tasks": [{"id": "r", "total_roi": {"offset": [$shift], "shape": [10]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "command": "echo \$DAISY_BLOCK_ID >> $tmpdir/ran.r$shift"}]}
JSON
  done
  "$DAISY" run --serial --quiet --markers "$tmpdir/m5" r0.json > /dev/null
  check "the first layout is done" test "$(wc -l < ran.r0)" -eq 10
  strace -f -qq -o /dev/null -P "$tmpdir/m5/r/c/0" -e trace=openat -e inject=openat:signal=KILL \
    "$DAISY" run --serial --quiet --markers "$tmpdir/m5" --reset-markers r4.json > /dev/null 2>&1
  check "the reset was killed before any block" test ! -e ran.r4
  timeout 60 "$DAISY" run --serial --quiet --markers "$tmpdir/m5" r4.json > out5c.txt 2> err5c.txt
  check "the run after the crashed reset exits 0" test $? -eq 0
  check "... and runs every block of the new layout" test "$(sort -u ran.r4 | wc -l)" -eq 10
fi

# 4. Completion checks run on the workers: a block the task's check finds
#    done is released as skipped and not processed.
cat > check.json <<JSON
{"tasks": [{"id": "c", "total_roi": {"offset": [0], "shape": [200]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "read_write_conflict": false, "workers": 2,
  "check": "test \$((DAISY_BLOCK_ID % 2)) -eq 0",
  "command": "echo \$DAISY_BLOCK_ID >> $tmpdir/checked.txt"}]}
JSON
timeout 120 "$DAISY" run --quiet --logs logs check.json > out6.txt 2>&1
check "checked run exits 0" test $? -eq 0
check "even blocks skipped by the check" grep -q "completed ✔: 200 (skipped 100)" out6.txt
check "only odd blocks processed" test "$(awk '$1 % 2 == 0' checked.txt | wc -l)" -eq 0 -a "$(wc -l < checked.txt)" -eq 100
check "the workers' logs end with what they did, summing to 100 + 100" $PY -c '
import glob, re, sys
p = s = 0
for f in glob.glob("logs/latest/c/*.err"):
    m = re.findall(r"(\d+) blocks processed, (\d+) found done by the check", open(f).read())
    p += int(m[-1][0]); s += int(m[-1][1])
sys.exit(0 if (p, s) == (100, 100) else f"processed {p}, skipped {s}")'
finish
