#!/usr/bin/env bash
# The slurm launcher on a real one-node cluster (scripts/slurm.sh up starts
# one; scripts/test.sh does so before the suites). Skipped, saying so, where
# no SLURM answers.
. "$(dirname "$0")/lib.sh"
if ! command -v sbatch >/dev/null || ! timeout 20 srun -N1 -n1 true >/dev/null 2>&1; then
  echo "no SLURM cluster answers here (srun -N1 -n1 true failed; run scripts/slurm.sh up as root): skipped"
  exit 77
fi
cd "$tmpdir"
json() { printf '%s' "$1" | /usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))'; }
ours() { squeue --noheader --format=%j 2>/dev/null | grep -c "^daisy-$1" ; }
gone_within() {  # seconds, job name prefix
  local i
  for i in $(seq $(( $1 * 10 ))); do [ "$(ours "$2")" -eq 0 ] && return 0; sleep 0.1; done
  return 1
}

# 1. A two-task pipeline through the slurm launcher completes every block,
#    and no job of it is left in the queue.
cat > p.json <<JSON
{"tasks": [
 {"id": "sa", "total_roi": {"offset": [0], "shape": [40]}, "read_roi": {"offset": [0], "shape": [1]},
  "write_roi": {"offset": [0], "shape": [1]}, "workers": 3, "read_write_conflict": false,
  "command": $(json "echo sa \$DAISY_BLOCK_ID >> $tmpdir/ran.txt")},
 {"id": "sb", "upstream": ["sa"], "total_roi": {"offset": [0], "shape": [40]}, "read_roi": {"offset": [0], "shape": [3]},
  "write_roi": {"offset": [1], "shape": [1]}, "workers": 2,
  "command": $(json "echo sb \$DAISY_BLOCK_ID >> $tmpdir/ran.txt")}
]}
JSON
port=$(free_port)
timeout 120 "$BROKER" --bind "tcp://0.0.0.0:$port" --launch slurm --heartbeat 300 --quiet \
  --logs logs p.json > p.out 2> p.err
check "a pipeline of SLURM jobs completes" test $? -eq 0
check "every block ran once" test "$(sort -u ran.txt | wc -l)" -eq 78 -a "$(wc -l < ran.txt)" -eq 78
check "the queue is empty of its jobs within 5 s" gone_within 5 s
check "job scripts beside the logs" grep -q "^#SBATCH --job-name=daisy-sa-0$" logs/latest/sa/sa-0.sbatch
check "readable worker command lines" grep -q "^exec .*daisy-worker --connect tcp://.*:$port --task sa --worker-id sa-0 --run-id " logs/latest/sa/sa-0.sbatch
"$BROKER" --bind "tcp://0.0.0.0:$port" --launch slurm --sbatch-options "--time=5 --comment=x" \
  --print-job-script sb p.json > script.txt 2>/dev/null
check "--print-job-script prints the script" grep -q "^#SBATCH --job-name=daisy-sb-0$" script.txt
check "with the extra options, a line each" test "$(grep -c '^#SBATCH --time=5$\|^#SBATCH --comment=x$' script.txt)" -eq 2
"$BROKER" --bind "tcp://0.0.0.0:$port" --launch slurm --print-job-script a \
  "$DATA/good/resources.json" > res.txt 2>/dev/null
check "a task's resources become its jobs' sbatch options" test "$(grep -c \
  -e '^#SBATCH --cpus-per-task=4$' -e '^#SBATCH --gpus=1$' -e '^#SBATCH --mem=16G$' \
  -e '^#SBATCH --time=2:00:00$' -e '^#SBATCH --partition=gpu$' -e '^#SBATCH --qos=high$' \
  -e '^#SBATCH --account=lab$' res.txt)" -eq 7

# 2. scancel of a worker's job mid-run: its blocks come back without a
#    retry (max_retries 0), a replacement job is submitted, the run completes.
cat > c.json <<JSON
{"tasks": [{"id": "sc", "total_roi": {"offset": [0], "shape": [40]}, "read_roi": {"offset": [0], "shape": [1]},
  "write_roi": {"offset": [0], "shape": [1]}, "workers": 2, "max_retries": 0, "read_write_conflict": false,
  "command": $(json "sleep 0.2; echo \$DAISY_BLOCK_ID >> $tmpdir/c.txt")}]}
JSON
port=$(free_port)
timeout 120 "$BROKER" --bind "tcp://0.0.0.0:$port" --launch slurm --heartbeat 300 --quiet \
  --logs clogs c.json > c.out 2> c.err &
broker=$!
for _ in $(seq 200); do [ "$(wc -l 2>/dev/null < c.txt || echo 0)" -ge 4 ] && break; sleep 0.1; done
scancel --name=daisy-sc-0
wait $broker
rc=$?
check "the run survives a cancelled job" test $rc -eq 0
[ $rc -eq 0 ] || { tail -n 20 c.out c.err; tail -n 5 clogs/latest/sc/*.err; } >&2
check "no retry spent, nothing failed" grep -q "failed    ✗: 0" c.out
check "every block ran" test "$(sort -un c.txt | wc -l)" -eq 40
check "a replacement job was submitted" test -f clogs/latest/sc/sc-2.sbatch

# 3. Broker SIGKILL: every job ends within the workers' give-up time.
port=$(free_port)
"$BROKER" --bind "tcp://0.0.0.0:$port" --launch slurm --heartbeat 300 --worker-give-up 3 \
  --quiet --logs klogs c.json > k.out 2> k.err &
broker=$!
for _ in $(seq 200); do [ "$(ours sc)" -ge 2 ] && break; sleep 0.1; done
sleep 1
kill -9 $broker
wait $broker 2>/dev/null
check "jobs of a killed broker end within the give-up time" gone_within 12 sc

# 4. What users could not see: a job waiting in the queue (reported after
#    10 s with SLURM's reason), a job whose worker never connects (reported
#    after --connect-timeout, with its log); stopping the broker (SIGTERM)
#    cancels them.
waits_for() {  # file, pattern, seconds
  local i
  for i in $(seq $(( $3 * 10 ))); do grep -q "$2" "$1" && return 0; sleep 0.1; done
  return 1
}
port=$(free_port)
pport=$(free_port)
"$BROKER" --bind "tcp://0.0.0.0:$port" --launch slurm --sbatch-options "--begin=now+600" \
  --publish "tcp://127.0.0.1:$pport" --progress-interval 1 --logs wlogs c.json > w.out 2> w.err &
broker=$!
timeout 5 "$DAISY" monitor --json --timeout 4 "tcp://127.0.0.1:$pport" > w.json 2>&1 || true
check "the feed carries the pending jobs" grep -q '"task":"sc".*"workers":0,"jobs_pending":2,"jobs_starting":0' w.json
check "the progress lines show them" waits_for w.err "sc: 0/40 blocks.*; 0 workers, 2 jobs pending$" 5
check "a pending job is reported with its reason" waits_for w.err "has waited 1[0-9] s in the queue: BeginTime" 20
kill -TERM $broker; wait $broker
check "stopping the broker cancels pending jobs" gone_within 10 sc
port=$(free_port)
"$BROKER" --bind "tcp://0.0.0.0:$port" --advertise tcp://127.0.0.1:9 --launch slurm \
  --connect-timeout 2 --worker-give-up 30 --progress-interval 1 --logs nlogs c.json > n.out 2> n.err &
broker=$!
check "running jobs whose workers have not connected show as starting" \
  waits_for n.err "sc: 0/40 blocks.*; 0 workers, 2 starting$" 20
check "a worker that never connects is reported, with its log" \
  waits_for n.err "never connected to tcp://127.0.0.1:9: see $tmpdir/nlogs/[0-9-]*-[0-9a-f]*/sc/sc-[01].err" 20
kill -TERM $broker; wait $broker
check "stopping the broker cancels running jobs" gone_within 10 sc
finish
