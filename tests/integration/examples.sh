#!/usr/bin/env bash
# The examples as a user runs them: the plugin pipeline through daisy run,
# the C worker program against daisy-broker, the multi-task pipeline file.
. "$(dirname "$0")/lib.sh"
cd "$tmpdir"
build=$(dirname "$DAISY")

sed "s|build/|$build/|g" "$EXAMPLES/pipelines/plugin.json" > plugin.json
timeout 60 "$DAISY" run --quiet --logs logs plugin.json > out.txt 2>&1
check "plugin pipeline completes" grep -q "all blocks processed successfully" out.txt
check "plugin ran every block" test "$(cat logs/checksum/*.out | grep -c '^block ')" -eq 64
check "plugin fini ran" grep -q "plugin: " logs/checksum/checksum-0.err

port=$((20000 + RANDOM % 20000))
"$BROKER" --bind "tcp://127.0.0.1:$port" --quiet "$EXAMPLES/pipelines/two_tasks.json" > broker.txt 2>&1 &
broker=$!
timeout 60 "$build/examples/remote_worker" "tcp://127.0.0.1:$port" extract > w1.txt 2>&1 &
w1=$!
timeout 60 "$build/examples/remote_worker" "tcp://127.0.0.1:$port" relabel > w2.txt 2>&1
wait $w1
wait $broker
check "broker with C workers exits 0" test $? -eq 0
check "C worker processed blocks" grep -q "processed 16 blocks" w1.txt
check "C worker prints ROIs" grep -q "write \[" w2.txt

timeout 120 "$DAISY" run --quiet --logs logs3 "$EXAMPLES/pipelines/multi_task.json" > multi.txt 2>&1
check "multi-task example completes" test "$(grep -c 'all blocks processed successfully' multi.txt)" -eq 3
finish
