#!/usr/bin/env bash
# `daisy run --serial` on pipeline files with per-block commands: success,
# a failing block with retries and orphans, log files, exit statuses, a
# task's timeout, SIGINT and resume.
. "$(dirname "$0")/lib.sh"

"$DAISY" run --serial --quiet "$EXAMPLES/pipelines/two_tasks.json" >"$tmpdir/out" 2>"$tmpdir/err"
check "two_tasks exits 0" test $? -eq 0
check "two_tasks summary" grep -q "all blocks processed successfully" "$tmpdir/out"
check "every extract block ran" test "$(grep -c '^extract block' "$tmpdir/out")" -eq 16

cat >"$tmpdir/fail.json" <<JSON
{"tasks": [
  {"id": "a", "total_roi": {"offset": [0], "shape": [10]},
   "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
   "max_retries": 2,
   "command": "echo attempt \$DAISY_ATTEMPT >> $tmpdir/attempts.\$DAISY_BLOCK_ID; test \$DAISY_BLOCK_ID -ne 4"},
  {"id": "b", "upstream": ["a"], "total_roi": {"offset": [0], "shape": [10]},
   "read_roi": {"offset": [0], "shape": [3]}, "write_roi": {"offset": [1], "shape": [1]},
   "command": "true"}
]}
JSON
"$DAISY" run --serial --logs "$tmpdir/logs" "$tmpdir/fail.json" >"$tmpdir/out" 2>"$tmpdir/err"
check "failing run exits 1" test $? -eq 1
check "block 4 ran three times" test "$(wc -l <"$tmpdir/attempts.4")" -eq 3
check "block 3 ran once" test "$(wc -l <"$tmpdir/attempts.3")" -eq 1
check "summary counts the failure" grep -q "failed    ✗: 1" "$tmpdir/out"
check "summary counts the orphans" grep -q "orphaned  ∅: 3" "$tmpdir/out"
check "summary names the block" grep -q "block 4 (attempt 3)" "$tmpdir/out"
check "summary points at the log" grep -q "logs/a.err / .out" "$tmpdir/out"
check "log files exist" test -f "$tmpdir/logs/a.err" -a -f "$tmpdir/logs/b.out"
check "progress lines on stderr, timestamped" grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8} a: [0-9]+/[0-9]+ blocks.*; serial, in this process$" "$tmpdir/err"

# A task with no block (total ROI smaller than its context) runs nothing,
# warns, and leaves the other tasks to run, serial and distributed alike.
cat >"$tmpdir/empty.json" <<JSON
{"tasks": [
  {"id": "a", "total_roi": {"offset": [0], "shape": [10]},
   "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
   "command": "touch $tmpdir/ran.a.\$DAISY_BLOCK_ID"},
  {"id": "e", "upstream": ["a"], "total_roi": {"offset": [0], "shape": [3]},
   "read_roi": {"offset": [0], "shape": [5]}, "write_roi": {"offset": [2], "shape": [1]},
   "command": "touch $tmpdir/ran.e.\$DAISY_BLOCK_ID"}
]}
JSON
for mode in --serial --prefetch=1; do
  rm -f "$tmpdir"/ran.*
  "$DAISY" run $mode --quiet "$tmpdir/empty.json" >"$tmpdir/out" 2>"$tmpdir/err"
  check "empty task run ($mode) exits 0" test $? -eq 0
  check "empty task run ($mode) warns" grep -q "^daisy run: warning: .*task 'e': total write ROI is empty" "$tmpdir/err"
  check "empty task run ($mode) ran a" test "$(ls "$tmpdir"/ran.a.* | wc -l)" -eq 10
  check "empty task run ($mode) ran no e block" test -z "$(ls "$tmpdir"/ran.e.* 2>/dev/null)"
done

# A task that says nothing about what runs its blocks is refused before
# anything starts, naming the task (serial and distributed alike).
cat >"$tmpdir/nothing.json" <<JSON
{"tasks": [{"id": "idle", "total_roi": {"offset": [0], "shape": [4]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]}}]}
JSON
for mode in --serial --quiet; do
  "$DAISY" run $mode "$tmpdir/nothing.json" >/dev/null 2>"$tmpdir/err"
  check "a task without command or worker ($mode) exits 3" test $? -eq 3
  check "and names it" grep -q "task 'idle': neither \"command\"" "$tmpdir/err"
done
"$BROKER" --local "$tmpdir/nothing.json" >/dev/null 2>"$tmpdir/err"
check "daisy-broker --local refuses it too" test $? -eq 3

# A task's timeout stops the block's command, with what it started.
cat >"$tmpdir/slow.json" <<JSON
{"tasks": [{"id": "slow", "total_roi": {"offset": [0], "shape": [1]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "timeout": 0.5, "max_retries": 1, "command": "sleep 1301.$$ & wait"}]}
JSON
timeout 60 "$DAISY" run --serial --quiet "$tmpdir/slow.json" >"$tmpdir/out" 2>"$tmpdir/err"
check "a block past its timeout fails the run (exit 1)" test $? -eq 1
check "the summary says the timeout" grep -q "timeout: still running after 0.5 s, stopped with SIGTERM" "$tmpdir/out"
check "it was retried, then failed" grep -q "block 0 (attempt 2)" "$tmpdir/out"
check "the command's child is gone" bash -c "! pgrep -f '^sleep 1301.$$\$'"

# The check and the command share the block's timeout, as the broker counts
# it: 0.6 s of check and 0.6 s of command overrun 1 s together.
cat >"$tmpdir/checked.json" <<JSON
{"tasks": [{"id": "c", "total_roi": {"offset": [0], "shape": [1]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "timeout": 1, "max_retries": 0, "check": "sleep 0.6; exit 1", "command": "sleep 0.6"}]}
JSON
timeout 60 "$DAISY" run --serial --quiet "$tmpdir/checked.json" >"$tmpdir/out" 2>"$tmpdir/err"
check "check and command past the timeout together fail" test $? -eq 1
check "the summary counts from the check" \
  grep -q "timeout: still running 1 s after the block's check began" "$tmpdir/out"

# SIGINT: the block's command gets it and is given back (not failed), the
# run stops with 130 and says how to resume; the rerun does the rest, and
# no block runs twice.
cat >"$tmpdir/int.json" <<JSON
{"tasks": [{"id": "i", "total_roi": {"offset": [0], "shape": [20]},
  "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
  "command": "sleep 0.2 && echo \$DAISY_BLOCK_ID >> $tmpdir/ran.int"}]}
JSON
"$DAISY" run --serial --quiet --markers "$tmpdir/m-int" "$tmpdir/int.json" >"$tmpdir/out" 2>"$tmpdir/err" &
run=$!
for _ in $(seq 100); do [ "$(cat "$tmpdir/ran.int" 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.05; done
sleep 0.1   # inside the next block's command
kill -INT $run
wait $run
check "an interrupted serial run exits 130" test $? -eq 130
first=$(wc -l <"$tmpdir/ran.int")
check "it stopped part way" test "$first" -lt 20
check "the interrupted block is not a failure" grep -q "failed    ✗: 0" "$tmpdir/out"
check "it says how to resume" grep -q "^Interrupted: $((20 - first)) blocks were not run. The $first done are recorded in $tmpdir/m-int" "$tmpdir/out"
timeout 60 "$DAISY" run --serial --quiet --markers "$tmpdir/m-int" "$tmpdir/int.json" >"$tmpdir/out" 2>"$tmpdir/err"
check "the rerun exits 0" test $? -eq 0
check "every block ran once" test "$(sort -u "$tmpdir/ran.int" | wc -l)" -eq 20 -a "$(wc -l <"$tmpdir/ran.int")" -eq 20

"$DAISY" run --serial --bogus "$tmpdir/fail.json" >/dev/null 2>&1
check "unknown option is a usage error" test $? -eq 2
"$DAISY" run --serial "$tmpdir/missing.json" >/dev/null 2>"$tmpdir/err"
check "missing pipeline exits 3" test $? -eq 3
finish
