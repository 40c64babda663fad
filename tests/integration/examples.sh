#!/usr/bin/env bash
# The examples as a user runs them: the plugin pipeline through daisy run,
# the C worker program against daisy-broker, the multi-task pipeline file.
. "$(dirname "$0")/lib.sh"
cd "$tmpdir"
build=$(dirname "$DAISY")

# The example files name programs of the build in build/ beside them
# ({pipeline_dir}/../../build/...); for another build directory the copies
# here point at this one. As they are, they run from any directory.
here=$(cd "$EXAMPLES/.." && pwd)/build
sed "s|{pipeline_dir}/../../build/|$build/|g" "$EXAMPLES/pipelines/plugin.json" > plugin.json
timeout 60 "$DAISY" run --quiet --logs logs plugin.json > out.txt 2>&1
check "plugin pipeline completes" grep -q "all blocks processed successfully" out.txt
check "plugin ran every block" test "$(cat logs/latest/checksum/*.out | grep -c '^block ')" -eq 64
check "plugin fini ran" grep -q "plugin: " logs/latest/checksum/checksum-*.err
if [ "$(cd "$build" && pwd)" = "$here" ]; then
  timeout 60 "$DAISY" run --quiet --logs logs0 "$EXAMPLES/pipelines/plugin.json" > out0.txt 2>&1
  check "the example file runs as it is from another directory" grep -q "all blocks processed successfully" out0.txt
else
  echo "build directory is not $here: the example files as they are not run"
fi

port=$(free_port)
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
# The quickstart as a pipeline file: per-block commands on Zarr arrays.
sed "s|{pipeline_dir}/../../build/|$build/|g; s|quickstart_run.zarr|$tmpdir/qs.zarr|g" "$EXAMPLES/pipelines/quickstart.json" > qs.json
# Under the sanitizers, LeakSanitizer's scan at exit costs each block's
# process about 0.4 s of CPU: the 250 "square" blocks alone took 100 s of
# the 2 cores. Their leaks go unchecked; those of the "create" and
# "reduce" blocks (the same program), of daisy run and its workers, and of
# the C quickstart below still are.
if [ -n "${ASAN_OPTIONS:-}" ]; then
  quiet_leaks="ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0"
  sed -i "s|\"command\": \"\([^\"]*quickstart_block square\)|\"command\": \"$quiet_leaks \1|" qs.json
  check "the square blocks run without the leak scan" grep -q "$quiet_leaks .*quickstart_block square" qs.json
fi
timeout 120 "$DAISY" run --quiet --logs logs4 qs.json > qs.txt 2>&1
check "quickstart pipeline completes" test "$(grep -c 'all blocks processed successfully' qs.txt)" -eq 3
check "quickstart pipeline result matches the closed form" "$build/examples/quickstart_block" check qs.zarr

# The C quickstart leaves Zarr arrays that Python's zarr reads as they are.
timeout 120 "$build/examples/quickstart" qs2.zarr > qs2.txt 2>&1
check "C quickstart succeeds" grep -q "match the closed form" qs2.txt
if /usr/bin/python3 -c 'import zarr' 2>/dev/null; then
  check "Python reads the quickstart's arrays" /usr/bin/python3 -c '
import sys, zarr
root = zarr.open(sys.argv[1], "r")
a, b, c = root["a"][:], root["b"][:], root["c"][:]
assert (b == a * a).all()
assert [int(x) for x in c] == [int(b[k * 256000:(k + 1) * 256000].sum()) for k in range(16)]
' qs2.zarr
else
  echo "python3-zarr absent: Python check of the quickstart arrays not run"
fi
finish
