#!/usr/bin/env bash
# What users see: each run's logs in their own folder, abandonment that
# quotes the dying worker's stderr, an interrupted run that says what was
# not run and how to resume, progress bars (through a pseudo-terminal) and
# timestamped plain lines, numbers on the command line checked.
. "$(dirname "$0")/lib.sh"
cd "$tmpdir"
json() { printf '%s' "$1" | /usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))'; }
task() {  # id, blocks, workers, "command"|"worker", value
  printf '{"tasks": [{"id": "%s", "total_roi": {"offset": [0], "shape": [%s]}, "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]}, "workers": %s, "read_write_conflict": false, "%s": %s}]}\n' \
    "$1" "$2" "$3" "$4" "$(json "$5")"
}

# 1. Each run's worker logs in a folder of their own, `latest` pointing at
#    the newest; a second run neither mixes into nor removes the first's.
task a 8 2 command 'echo "block $DAISY_BLOCK_ID"' > a.json
"$DAISY" run --quiet --logs logs a.json > a1.txt 2>&1
first=$(readlink logs/latest)
check "a run's logs go to LOG_DIR/TIME-RUNID" bash -c "[[ '$first' =~ ^[0-9]{8}-[0-9]{6}-[0-9a-f]{16}$ ]]"
check "with the workers' logs in it" test -f "logs/$first/a/a-0.err" -a -f "logs/$first/a/a-1.out"
"$DAISY" run --quiet --logs logs a.json > a2.txt 2>&1
second=$(readlink logs/latest)
check "the next run gets its own folder, and latest moves" test -n "$second" -a "$second" != "$first"
check "the first run's logs stay as they were" test "$(cat logs/"$first"/a/*.out | grep -c '^block ')" -eq 8
check "the second's hold only its own blocks" test "$(cat logs/latest/a/*.out | grep -c '^block ')" -eq 8

# 1b. A task id that holds '/' or '..' names files under the log
#     directory, escaped as the markers' are, and nowhere else; the summary
#     sends the user to the file that is there.
mkdir -p deep/er && (
  cd deep/er &&
  task ../../x 4 1 command '[ $DAISY_BLOCK_ID != 2 ] || { echo "bad block" >&2; exit 1; }' |
    sed 's/"workers": 1,/"workers": 1, "max_retries": 0,/' > x.json &&
  "$DAISY" run --logs logs x.json > x.txt 2>&1
)
check "an id with slashes runs" grep -q "failed    ✗: 1" deep/er/x.txt
check "its logs stay in the log directory" \
  test -z "$(find "$tmpdir" -name '*x-0.*' -not -path "$tmpdir/deep/er/logs/*")"
check "under the id as a file name" test -f "deep/er/logs/latest/..%2F..%2Fx/..%2F..%2Fx-0.err"
check "which the summary names" grep -q "logs/[0-9-]*[0-9a-f]*/..%2F..%2Fx/..%2F..%2Fx-0.err / .out" deep/er/x.txt

# 2. A worker that cannot start: the abandonment quotes the last lines of
#    its stderr and names the file.
task w 4 1 worker "echo 'loading model'; echo 'Traceback (most recent call last):' >&2; echo 'ModuleNotFoundError: No module named torch' >&2; exit 3" > w.json
"$DAISY" run --quiet --logs wlogs w.json > w.txt 2>&1
check "a task whose workers keep dying ends the run with status 1" test $? -eq 1
check "the summary says why, naming the log" \
  grep -q "abandoned: workers died 3 times (restart cap 3); the last, w-2, wrote in wlogs/$(readlink wlogs/latest)/w/w-2.err:" w.txt
check "and quoting its last lines" grep -q "^      | ModuleNotFoundError: No module named torch$" w.txt
check "in order" bash -c "grep -A1 '| Traceback' w.txt | grep -q 'ModuleNotFoundError'"
check "stdout is not quoted" test "$(grep -c 'loading model' w.txt)" -eq 0

# 2a. Workers that cannot even be started (here SLURM jobs where sbatch is
#     missing): each failure is logged with its reason, and the abandonment
#     quotes the last one, since there is no log of theirs to quote.
mkdir -p nosbatch && ln -sf "$BROKER" "$WORKER" nosbatch/
#     On a port of its own: the default 5555 may be anyone's on this host.
PATH=$tmpdir/nosbatch /usr/bin/timeout 60 "$BROKER" --bind "tcp://127.0.0.1:$(free_port)" \
  --launch slurm --logs slogs2 w.json > sb.txt 2>&1
check "a task whose workers cannot be submitted ends the run with status 1" test $? -eq 1
check "each failed submission is logged with its reason" \
  grep -q "cannot start a worker of task w: sbatch .*/w-0.sbatch: cannot run sbatch (is SLURM installed?)" sb.txt
check "and the abandonment says why the last could not start" \
  grep -q "abandoned: workers died 3 times (restart cap 3); the last could not be started: sbatch .*: cannot run sbatch" sb.txt

# 2b. A failed block's error carries the last line its command wrote to
#     stderr (distributed and serial); a command that leaves a background
#     process holding its stderr does not hang its worker.
task e 6 2 command 'echo fine; [ $DAISY_BLOCK_ID != 3 ] || { echo "Traceback (most recent call last):" >&2; echo "ValueError: chunk 3 is corrupt" >&2; exit 2; }; (sleep 300.123 &); true' > e.json
sed -i 's/"workers": 2,/"workers": 2, "max_retries": 0,/' e.json
timeout 60 "$DAISY" run --quiet --logs elogs e.json > e.txt 2>&1
check "a failing run with a lingering background process ends" test $? -eq 1
check "the failure quotes the command's last stderr line" \
  grep -q "block 3 (attempt 1): command exited with status 2: ValueError: chunk 3 is corrupt \[worker e-" e.txt
check "the worker's log counts the attempt as the summary does" \
  bash -c "cat elogs/latest/e/*.err | grep -q 'block 3 (attempt 1) failed: command exited with status 2'"
check "which still reaches the worker's log, whole" bash -c "cat elogs/latest/e/*.err | grep -A1 '^Traceback' | grep -q '^ValueError: chunk 3 is corrupt$'"
# A last stderr line that is not UTF-8 still makes it into the summary and
# the progress feed, its stray bytes as '?' (peers refuse a str that is not
# UTF-8, and JSON cannot hold one). The block fails after 1.5 s, so that
# the monitor has long joined the feed.
task u 2 1 command "[ \$DAISY_BLOCK_ID != 1 ] || { sleep 1.5; printf 'caf\\303\\251 \\377\\376\\n' >&2; exit 1; }" |
  sed 's/"workers": 1,/"workers": 1, "max_retries": 0,/' > u.json
uport=$(free_port)
timeout 60 "$DAISY" monitor --json --timeout 30 "tcp://127.0.0.1:$uport" > u.jsonl 2>/dev/null &
umon=$!
sleep 0.5
timeout 60 "$DAISY" run --quiet --logs ulogs --publish "tcp://127.0.0.1:$uport" u.json > u.txt 2>&1
wait $umon
check "a stderr line that is not UTF-8 reaches the summary, cleaned" \
  grep -q "block 1 (attempt 1): command exited with status 1: café ?? \[worker" u.txt
check "and the feed's block_failed event" \
  grep -q '"error":"command exited with status 1: café ??".*"event":"block_failed"' u.jsonl
# A worker that joins is no longer counted as starting too: in the feed
# (and so in the bars), connected and starting workers never add up to more
# than the task's 8.
task s8 64 8 command 'sleep 0.05' > s8.json
sport=$(free_port)
timeout 60 "$DAISY" monitor --json --timeout 30 "tcp://127.0.0.1:$sport" > s8.jsonl 2>/dev/null &
smon=$!
sleep 0.3
timeout 60 "$DAISY" run --quiet --logs s8logs --publish "tcp://127.0.0.1:$sport" s8.json > /dev/null 2>&1
wait $smon
check "connected and starting workers add up to at most the task's" /usr/bin/python3 -c '
import json, sys
states = [json.loads(l) for l in open("s8.jsonl")]
most = max(d["workers"] + d["jobs_starting"] for d in states if "jobs_starting" in d)
sys.exit(0 if most <= 8 else f"workers + starting reached {most}")'
timeout 60 "$DAISY" run --serial --quiet --logs slogs e.json > se.txt 2>&1
check "the serial runner quotes it too" grep -q "command exited with status 2: ValueError: chunk 3 is corrupt" se.txt
pkill -f "sleep 300.123" || true

# 3. Ctrl-C: the summary, then how many blocks were not run and how to go
#    on: with markers the command that resumes, without them a warning.
task s 40 2 command 'sleep 0.1; echo $DAISY_BLOCK_ID >> s.txt' > s.json
interrupt() {  # output file, daisy run arguments...
  local out=$1; shift
  "$DAISY" run --quiet "$@" > "$out" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do [ "$(wc -l < s.txt 2>/dev/null || echo 0)" -ge 6 ] && break; sleep 0.1; done
  kill -INT $pid
  wait $pid
}
rm -f s.txt
interrupt i1.txt --markers mk --logs ilogs s.json
check "an interrupted run exits 130" test $? -eq 130
notrun=$(sed -n 's/^Interrupted: \([0-9]*\) blocks were not run.*/\1/p' i1.txt)
done_=$(sed -n 's/.*completed ✔: \([0-9]*\) .*/\1/p' i1.txt)
check "it says how many blocks were not run" test -n "$notrun" -a "$((notrun + done_))" -eq 40
check "and the command that resumes" grep -qx "    daisy run --quiet --markers mk --logs ilogs s.json" i1.txt
"$DAISY" run --quiet --markers mk --logs ilogs s.json > i2.txt 2>&1
check "which does" grep -q "completed ✔: 40 (skipped $done_)" i2.txt
rm -f s.txt
interrupt i3.txt --logs ilogs s.json
check "without markers it warns that a rerun starts over" grep -q "No done markers were kept (--markers DIR.*running again starts over" i3.txt

# 4. Progress: bars on a terminal (a pseudo-terminal here) with the state
#    counts and elapsed<ETA; plain lines with a timestamp elsewhere.
task p 20 2 command 'sleep 0.05' > p.json
LANG=C.UTF-8 script -qec "'$DAISY' run --logs plogs p.json" /dev/null > tty.txt 2>&1
check "bars on a terminal" grep -aq 'p \[##############################\] 20/20 100% [0-9]*:[0-9][0-9]<0:00 [0-9.]* blocks/s ⧗ 0 ▶ 0 ✔ 20 ✗ 0 ∅ 0 | ' tty.txt
LANG=C script -qec "env LC_ALL=C '$DAISY' run --logs plogs p.json" /dev/null > tty2.txt 2>&1
check "words where the locale is not UTF-8" grep -aq 'ready 0 run 0 done 20 failed 0 orphaned 0 |' tty2.txt
"$DAISY" run --logs plogs --progress-interval 0.2 p.json > plain.txt 2> plain.err
check "plain lines with a timestamp" grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2} p: 20/20 blocks \(100%\), elapsed [0-9:]+, ETA 0:00, [0-9.]+ blocks/s, ready 0, processing 0, completed 20, failed 0, orphaned 0; ' plain.err

# 5. Run statistics: after the summary, in a JSON file in the run's log
#    folder, and on the feed for monitors.
# The blocks wait until the monitor has heard the feed, so it cannot miss
# the end however slowly it starts.
task c 12 3 command "while [ ! -s $tmpdir/c.jsonl ]; do sleep 0.05; done; i=0; while [ \$i -lt 20000 ]; do i=\$((i+1)); done" > c.json
sport=$(free_port)
"$DAISY" run --quiet --logs clogs --publish "tcp://127.0.0.1:$sport" c.json > c.txt 2>&1 &
run=$!
timeout 60 "$DAISY" monitor --json --timeout 30 "tcp://127.0.0.1:$sport" > c.jsonl 2> /dev/null
wait $run
check "the statistics follow the summary" grep -q "^Run Statistics$" c.txt
check "with a row per task" grep -Eq "^  c +12 " c.txt
check "and the file they are in" grep -q "(all of it in clogs/$(readlink clogs/latest)/stats.json)" c.txt
check "stats.json: block times, workers' blocks, CPU time and memory" /usr/bin/python3 - clogs/latest/stats.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
t, = s["tasks"]
assert t["task"] == "c" and t["blocks"] == 12, t
assert 0 < t["p50_s"] <= t["p95_s"] <= t["max_s"] * 1.001, t
assert 1 <= t["peak_concurrency"] <= 3 and len(t["trend_s"]) == 10, t
w = s["workers"]
assert len(w) == 3 and sum(x["blocks"] for x in w) == 12, w
assert all(x["cpu_s"] > 0 and x["peak_rss_kb"] > 0 for x in w), w
h, = s["hosts"]
assert h["workers"] == 3 and h["blocks"] == 12, h
PY
check "monitors get them too, before the end" /usr/bin/python3 - c.jsonl <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
names = [e["event"] for e in events]
assert names[-2:] == ["run_stats", "run_finished"], names[-3:]
assert sum(w["blocks"] for w in events[-2]["workers"]) == 12, events[-2]
PY

# A stats.json that cannot be written (a file size limit of 0 fails it as
# a full disk would; stderr through a pipe, which the limit spares) is
# said as every line of the program is, with the file and the reason.
task f 4 1 command true > f.json
bash -c "set -o pipefail; (trap '' XFSZ; ulimit -f 0; exec '$DAISY' run --quiet --logs flogs f.json) \
  2>&1 >/dev/null | cat > f.err"
check "a run whose stats.json cannot be written still exits 0" test $? -eq 0
check "... saying so as daisy run, naming the file and the reason" \
  grep -q "^daisy run: cannot write the run statistics to 'flogs/.*/stats.json': File too large$" f.err

# 6. Numbers on the command line are checked whole.
"$DAISY" run --heartbeat 1s p.json > /dev/null 2> n1.err
check "a mistyped number is a usage error" test $? -eq 2
check "naming the option and the value" grep -q "^daisy run: --heartbeat: '1s' is not an integer" n1.err
"$BROKER" --worker-give-up soon p.json > /dev/null 2> n2.err
check "daisy-broker too" test $? -eq 2
check "naming them" grep -q "^daisy-broker: --worker-give-up: 'soon' is not a number of seconds" n2.err
finish
