#!/usr/bin/env bash
# Start-up of SLURM workers: seconds from `daisy-broker --launch slurm`
# start to the first block processed and to all N workers connected
# (worker_joined events on the progress feed), on the one-node cluster of
# scripts/slurm.sh (as root). The reference, measured in the same run: N
# plain `sbatch --wrap true` jobs submitted and gone from the queue (what
# SLURM itself costs). One JSON line per run.
# Usage: bench/bench_slurm.sh BUILD_DIR [N=8] [RUNS=5]
set -uo pipefail
build=$(cd "${1:?usage: bench/bench_slurm.sh BUILD_DIR [N] [RUNS]}" && pwd)
n=${2:-8} runs=${3:-5}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
cat > p.json <<JSON
{"tasks": [{"id": "s", "total_roi": {"offset": [0], "shape": [$((n * 10))]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "read_write_conflict": false, "workers": $n,
  "command": "[ -e $tmp/first ] || date +%s.%N > $tmp/first; sleep 0.2"}]}
JSON
for r in $(seq "$runs"); do
  rm -f first joined
  pub="tcp://127.0.0.1:$((24000 + r))"
  /usr/bin/python3 - "$pub" "$n" > joined <<'PY' &
import sys, time, zmq
s = zmq.Context().socket(zmq.SUB)
s.connect(sys.argv[1]); s.setsockopt(zmq.SUBSCRIBE, b"worker_joined")
seen = 0
while seen < int(sys.argv[2]) and s.poll(60000):
    s.recv_multipart(); seen += 1
print(f"{time.time():.3f}")
PY
  sub=$!
  sleep 0.3                                     # the subscriber is there first
  t0=$(date +%s.%N)
  "$build/daisy-broker" --bind "tcp://0.0.0.0:$((23000 + r))" --launch slurm --publish "$pub" \
    --quiet --logs logs p.json > out 2> err
  t1=$(date +%s.%N)
  wait $sub
  r0=$(date +%s.%N)
  for _ in $(seq "$n"); do sbatch --parsable --job-name=benchref --output=/dev/null --wrap true >/dev/null; done
  while [ "$(squeue --noheader --format=%j | grep -c '^benchref$')" -gt 0 ]; do sleep 0.05; done
  r1=$(date +%s.%N)
  awk -v r="$r" -v n="$n" -v t0="$t0" -v t1="$t1" -v f="$(cat first)" -v j="$(cat joined)" \
      -v r0="$r0" -v r1="$r1" 'BEGIN {printf "{\"run\": %d, \"workers\": %d, \"first_block_s\": %.2f, \"all_connected_s\": %.2f, \"run_s\": %.2f, \"reference_sbatch_true_s\": %.2f}\n", r, n, f - t0, j - t0, t1 - t0, r1 - r0}'
done
