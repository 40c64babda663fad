#!/usr/bin/env bash
# `daisy markers`: a run that fails part way is described by what it did
# (blocks done per task), a task's markers exported as Zarr v2 read back
# by Python zarr 2 equal to the marker bytes, daisy 2.0's markers
# (written by daisy2_markers.py from their layout) resumed by `daisy run`
# and a mismatched daisy 2.0 hash refused; bad input named and left as is.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
D2="$PY $HERE/daisy2_markers.py"
cd "$tmpdir"
if ! $PY -c 'import zarr, numpy' 2>/dev/null; then
  echo "skipped: /usr/bin/python3 has no zarr (Debian's python3-zarr)"
  exit 77
fi

# A 2D task whose blocks with id % 5 == 0 fail (no retries), and a 1D task.
cat > p.json <<JSON
{"tasks": [
  {"id": "a", "total_roi": {"offset": [0, 0], "shape": [60, 40]},
   "read_roi": {"offset": [0, 0], "shape": [10, 10]}, "write_roi": {"offset": [0, 0], "shape": [10, 10]},
   "workers": 2, "max_retries": 0,
   "command": "test \$((DAISY_BLOCK_ID % 5)) -ne 0 && echo a \$DAISY_BLOCK_ID >> $tmpdir/ok.txt"},
  {"id": "b", "total_roi": {"offset": [0], "shape": [30]},
   "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
   "workers": 2, "command": "echo b \$DAISY_BLOCK_ID >> $tmpdir/ok.txt"}
]}
JSON

# 1. A partial run, then what `daisy markers` says about it.
timeout 120 "$DAISY" run --quiet --markers m --logs logs p.json > run1.txt 2>&1
check "the partial run exits 1" test $? -eq 1
done_a=$(grep -c '^a ' ok.txt)
check "some blocks of a failed, some completed" test "$done_a" -gt 0 -a "$done_a" -lt 24
"$DAISY" markers m p.json > list.txt 2> list.err
check "markers of a fitting pipeline: exit 0" test $? -eq 0
check "a: blocks done / total as the run did" grep -Eq "^a +$done_a / 24 .*daisy-C .* fits" list.txt
check "b: all 30 done" grep -Eq "^b +30 / 30 +100.0%" list.txt
"$DAISY" markers --json m > list.json
check "--json: one object per task, the same counts" $PY - "$done_a" <<'PY'
import json, sys
rows = {r["task"]: r for r in map(json.loads, open("list.json"))}
a, b = rows["a"], rows["b"]
assert (a["done"], a["blocks"], a["shape"], a["format"]) == (int(sys.argv[1]), 24, [6, 4], "daisy-C"), a
assert (b["done"], b["blocks"], b["pipeline"]) == (30, 30, None), b
assert len(a["layout"]) == 16
PY

# 2. Export a's markers as Zarr v2; zarr 2 reads the marker bytes, and a
#    block is 1 exactly when it completed.
"$DAISY" plan --json p.json > plan.json
"$DAISY" markers --export a m a.zarr
check "export exits 0" test $? -eq 0
check "the export is Zarr v2, read by zarr 2.13 as the marker bytes and the blocks done" \
  $PY - <<'PY'
import json, numpy as np, zarr
z = zarr.open("a.zarr", mode="r")
assert json.load(open("a.zarr/.zarray"))["zarr_format"] == 2
assert (z.shape, z.dtype) == ((6, 4), np.uint8), (z.shape, z.dtype)
raw = np.fromfile("m/a/c/0/0", dtype=np.uint8).reshape(6, 4)
assert (z[:] == raw).all()
ok = {int(l.split()[1]) for l in open("ok.txt") if l.startswith("a ")}
want = np.zeros((6, 4), np.uint8)
for b in map(json.loads, open("plan.json")):
    if b["task"] == "a" and b["block_id"] in ok:
        o = b["write_roi"]["offset"]
        want[o[0] // 10, o[1] // 10] = 1
assert (z[:] == want).all(), (z[:], want)
PY
"$DAISY" markers --export a m a.zarr 2> exists.err
check "an existing OUT is refused (exit 1)" test $? -eq 1
check "... naming it" grep -q "'a.zarr' exists" exists.err
"$DAISY" markers --export nope m n.zarr 2> unknown.err
check "an unknown task: exit 1" test $? -eq 1
check "... naming the task and the tasks there" grep -q "no markers of task 'nope' in 'm'; tasks there: a b" unknown.err
check "... and nothing written" test ! -e n.zarr
# An export that cannot be written (a full disk; here a file size limit
# of 0, without root): exit 4, and no half-made OUT.zarr left to refuse
# the next attempt as existing. (stderr through a pipe: the limit covers
# regular files only.)
bash -c "set -o pipefail; (trap '' XFSZ; ulimit -f 0; exec '$DAISY' markers --export a m f.zarr) \
  2>&1 >/dev/null | cat > full.err"
check "an export that cannot be written: exit 4" test $? -eq 4
check "... saying why" grep -q "File too large" full.err
check "... leaving no f.zarr" test ! -e f.zarr
"$DAISY" markers --export a m f.zarr
check "... so the same command, run again, writes it" test $? -eq 0 -a -e f.zarr/.zarray

# 3. Resume: the fixed command runs only what failed.
sed -i 's/test \$((DAISY_BLOCK_ID % 5)) -ne 0 \&\& //' p.json
timeout 120 "$DAISY" run --quiet --markers m --logs logs p.json > run2.txt 2>&1
check "the resumed run exits 0" test $? -eq 0
check "it skipped the blocks done before" grep -q "completed ✔: 24 (skipped $done_a)" run2.txt
check "markers then say 24 / 24" grep -Eq "^a +24 / 24" <("$DAISY" markers m p.json)

# 4. daisy 2.0's markers, resumed here. Task c has a context larger than a
#    write ROI, so daisy 2.0's grid (ceil(total / write) = 10 x 8) is not
#    ours (7 x 6) and a block's element is its grid position + 1.
cat > q.json <<JSON
{"tasks": [
  {"id": "c", "total_roi": {"offset": [100, 0], "shape": [100, 80]},
   "read_roi": {"offset": [0, 0], "shape": [40, 30]}, "write_roi": {"offset": [15, 10], "shape": [10, 10]},
   "read_write_conflict": false, "workers": 2,
   "command": "echo \$DAISY_BLOCK_ID >> $tmpdir/ran_c.txt"}
]}
JSON
$D2 q.json d2 c 1,1 1,2 3,4 7,6 2,1
check "the daisy 2.0 fixture's hash is the one daisy computes" \
  grep -Eq "^c +5 / 80 .*daisy 2.0 +$($D2 --hash q.json c | cut -c1-16) +fits" <("$DAISY" markers d2 q.json)
theirs=$(md5sum < d2/c/c/0/0)
timeout 120 "$DAISY" run --quiet --markers d2 --logs logs q.json > run3.txt 2>&1
check "the run from daisy 2.0's markers exits 0" test $? -eq 0
check "it skipped the 5 blocks daisy 2.0 did" grep -q "completed ✔: 42 (skipped 5)" run3.txt
"$DAISY" plan --json q.json > qplan.json
check "blocks daisy 2.0 marked did not run, all others did" $PY - <<'PY'
import json
ran = [int(l) for l in open("ran_c.txt")]
marked = {(1, 1), (1, 2), (3, 4), (7, 6), (2, 1)}
want = set()
for b in map(json.loads, open("qplan.json")):
    o = b["write_roi"]["offset"]
    if ((o[0] - 100) // 10, o[1] // 10) not in marked:
        want.add(b["block_id"])
assert sorted(ran) == sorted(want), (sorted(ran), sorted(want))
PY
check "theirs kept, unchanged, as c~daisy2" test "$(md5sum < d2/c~daisy2/c/0/0)" = "$theirs"
check "ours in its place: 42 / 42, fits" grep -Eq "^c +42 / 42 .*daisy-C .* fits" <("$DAISY" markers d2 q.json)

# 5. daisy 2.0's markers of another layout are refused, naming the task
#    and the directory; nothing changes.
sed 's/"shape": \[10, 10\]/"shape": [20, 10]/' q.json > q2.json
$D2 q2.json d3 c 0,0
before=$(cd d3 && find . -type f | sort | xargs md5sum)
"$DAISY" run --quiet --markers d3 --logs logs q.json > run4.txt 2> run4.err
check "a mismatched daisy 2.0 hash: exit 2 (the markers given do not fit)" test $? -eq 2
check "... naming task, directory and daisy_task_hash" \
  grep -q "task 'c': daisy 2.0 done markers in 'd3/c' were recorded for another block layout (daisy_task_hash" run4.err
check "... and nothing changed" test "$(cd d3 && find . -type f | sort | xargs md5sum)" = "$before"
"$DAISY" markers d3 q.json > list3.txt
check "daisy markers: another layout, exit 1" test $? -eq 1
check "... shown as such" grep -Eq "^c .*daisy 2.0 .*another layout" list3.txt
# A matching hash over a grid of another shape (damaged): refused, named.
$D2 q.json d4 c 0,0
$PY -c 'import json; p="d4/c/zarr.json"; m=json.load(open(p)); m["shape"]=[9, 8]; json.dump(m, open(p, "w"))'
before=$(cd d4 && find . -type f | sort | xargs md5sum)
"$DAISY" run --quiet --markers d4 --logs logs q.json > run5.txt 2> run5.err
check "daisy 2.0 markers of the wrong shape: exit 2" test $? -eq 2
check "... naming the file and the field" grep -q "'d4/c/zarr.json': field \"shape\"" run5.err
check "... and nothing changed" test "$(cd d4 && find . -type f | sort | xargs md5sum)" = "$before"

# 6. Bad input to `daisy markers`: named, exit 1, nothing changed.
"$DAISY" markers missing 2> e1.txt
check "DIR missing: exit 1" test $? -eq 1
check "... naming it" grep -q "cannot read markers directory 'missing'" e1.txt
cp -r m bad
echo '{"zarr_format": 3, "shape": [' > bad/a/zarr.json
before=$(cd bad && find . -type f | sort | xargs md5sum)
"$DAISY" markers bad p.json > e2.out 2> e2.txt
check "a damaged zarr.json: exit 1" test $? -eq 1
check "... naming the file" grep -q "'bad/a/zarr.json' is damaged" e2.txt
check "... the other tasks still listed" grep -Eq "^b +30 / 30" e2.out
check "... nothing changed" test "$(cd bad && find . -type f | sort | xargs md5sum)" = "$before"
rm -rf bad && cp -r m bad
$PY -c 'import json; p="bad/a/zarr.json"; m=json.load(open(p)); m["shape"]=[6, 5]; m["attributes"]["daisy"]["blocks"]=30; json.dump(m, open(p, "w"))'
"$DAISY" markers bad > /dev/null 2> e3.txt
check "a shape that is not the chunk's: exit 1" test $? -eq 1
check "... naming the chunk file and the field" grep -q "'bad/a/c/0/0' holds 24 bytes, but field \"shape\" of 'bad/a/zarr.json'" e3.txt
"$DAISY" markers --export a bad x.zarr 2> e4.txt
check "exporting damaged markers: exit 1, nothing written" test $? -eq 1 -a ! -e x.zarr
sed 's/"shape": \[10, 10\]}, "write_roi"/"shape": [20, 10]}, "write_roi"/; s/"offset": \[0, 0\], "shape": \[10, 10\]}, *$/"offset": [0, 0], "shape": [20, 10]},/' p.json > p2.json
"$DAISY" markers m p2.json > e5.txt
check "markers of another layout than PIPELINE's: exit 1" test $? -eq 1
check "... shown as such" grep -Eq "^a .*another layout" e5.txt
"$DAISY" markers > /dev/null 2>&1
check "no DIR: exit 2" test $? -eq 2
"$DAISY" markers --export a m > /dev/null 2>&1
check "--export without OUT: exit 2" test $? -eq 2
"$DAISY" markers m nonexistent.json > /dev/null 2>&1
check "a missing pipeline file: exit 3" test $? -eq 3
"$DAISY" markers --help | grep -q "^Usage: daisy markers"
check "--help on stdout, exit 0" test "${PIPESTATUS[0]}" -eq 0
finish
