#!/usr/bin/env bash
# `daisy plan` as a user meets it: help, usage errors, every malformed
# pipeline file (a clear message naming the file, exit 3, never a crash),
# and the JSON plan of a good file.
. "$(dirname "$0")/lib.sh"

expect_exit() {  # code, command...
  local want=$1; shift
  "$@" >"$tmpdir/out" 2>"$tmpdir/err"
  local got=$?
  [ "$got" -eq "$want" ] || { echo "exit $got, expected $want: $*" >&2; cat "$tmpdir/err" >&2; return 1; }
}

check "daisy --help" expect_exit 0 "$DAISY" --help
check "help names plan" grep -q "plan" "$tmpdir/out"
check "daisy plan --help" expect_exit 0 "$DAISY" plan --help
check "daisy without command" expect_exit 2 "$DAISY"
check "unknown command" expect_exit 2 "$DAISY" frobnicate
check "plan without file" expect_exit 2 "$DAISY" plan
check "plan with unknown option" expect_exit 2 "$DAISY" plan --bogus "$DATA/good/design_example.json"
check "plan of a missing file" expect_exit 3 "$DAISY" plan "$tmpdir/nope.json"
check "missing file is named" grep -q "nope.json" "$tmpdir/err"

for f in "$DATA"/bad/*.json; do
  check "bad input $(basename "$f") exits 3" expect_exit 3 "$DAISY" plan --json "$f"
  check "bad input $(basename "$f") names the file" grep -q "^daisy plan: $f" "$tmpdir/err"
  check "bad input $(basename "$f") prints no plan" test ! -s "$tmpdir/out"
  check "bad input $(basename "$f") message is one line" test "$(wc -l <"$tmpdir/err")" -eq 1
done

for f in "$DATA"/good/*.json; do
  check "good input $(basename "$f")" expect_exit 0 "$DAISY" plan --json "$f"
  n=$("$DAISY" plan "$f" | awk '/^task /{s += $3} END {print s}')
  check "good input $(basename "$f") prints one line per block" test "$(wc -l <"$tmpdir/out")" -eq "$n"
  check "good input $(basename "$f") is JSON" python3 -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert set(o) == {"task", "block_id", "level", "read_roi", "write_roi", "upstream"}, o
' "$tmpdir/out"
done

# A task whose total ROI is smaller than its context: planned with 0 blocks
# (as daisy 1.x does), with one warning naming the task and the sizes.
check "empty total write ROI plans" expect_exit 0 "$DAISY" plan "$DATA/good/total_write_empty.json"
check "empty total write ROI warns" grep -q "^daisy plan: warning: .*total_write_empty.json: task 'a': total write ROI is empty.*leaves shape (-2, 90)" "$tmpdir/err"
check "empty total write ROI has 0 blocks" grep -q "^task a: 0 blocks" "$tmpdir/out"

# One block is "1 block", in "1 level".
cat > "$tmpdir/one.json" <<'JSON'
{"tasks": [{"id": "one", "total_roi": {"offset": [0], "shape": [4]}, "read_roi": {"offset": [0], "shape": [4]},
  "write_roi": {"offset": [0], "shape": [4]}, "command": "true"}]}
JSON
check "a one-block task plans" expect_exit 0 "$DAISY" plan "$tmpdir/one.json"
check "and says 1 block in 1 level" grep -qx "task one: 1 block in 1 level" "$tmpdir/out"
check "level 0: 1 block" grep -qx "  level 0: 1 block" "$tmpdir/out"
finish
