#!/usr/bin/env bash
# Done markers on a disk that fills up (a tmpfs of one page, in a mount
# namespace of the test's own): the run stops handing out blocks at the
# first completion it cannot record, says which file and why, and exits 4
# (never SIGBUS, 135); with space, the same command resumes and finishes.
# A read-only directory is refused at the start, also with exit 4.
# Needs root (mount namespaces); skipped, saying why, without.
. "$(dirname "$0")/lib.sh"
cd "$tmpdir"
if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
  echo "skipped: needs root and mount namespaces (unshare -m) for a small tmpfs"
  exit 77
fi
cat > p.json <<JSON
{"tasks": [
  {"id": "a", "total_roi": {"offset": [0], "shape": [40]},
   "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
   "workers": 2, "command": "echo \$DAISY_BLOCK_ID >> $tmpdir/ran.txt"}
]}
JSON
mkdir m
DAISY="$DAISY" unshare -m bash -c '
  mount --make-rprivate / &&
  mount -t tmpfs -o size=4k tmpfs m || exit 99
  "$DAISY" run --quiet --markers m --logs logs p.json > out1.txt 2> err1.txt
  echo $? > rc1
  wc -l < ran.txt > n1
  mount -o remount,size=1m m
  "$DAISY" run --quiet --markers m --logs logs p.json > out2.txt 2> err2.txt
  echo $? > rc2
  ls -l m/a/c > ls.txt 2>&1
  mkdir -p ro && mount -t tmpfs -o size=1m,ro tmpfs ro
  "$DAISY" run --quiet --markers ro --logs logs p.json > out3.txt 2> err3.txt
  echo $? > rc3
'
check "the small tmpfs was mounted" test -s rc1
check "a full disk under the markers exits 4 (not 135, SIGBUS)" test "$(cat rc1)" -eq 4
cat err1.txt
check "the error names the markers file and the reason" \
  grep -q "markers '.*m/a/c/0': No space left on device" err1.txt
check "it stopped handing out blocks ($(cat n1) of 40 ran)" test "$(cat n1)" -lt 40
check "the summary says which completed blocks the markers miss" \
  grep -q "of the completed blocks are not in the done markers (they could not be written): a resumed run does them again" out1.txt
check "with space the same command resumes and exits 0" test "$(cat rc2)" -eq 0
check "every block ran" test "$(sort -u ran.txt | wc -l)" -eq 40
check "the rerun completed all 40" grep -q "completed ✔: 40" out2.txt
check "a read-only markers directory exits 4" test "$(cat rc3)" -eq 4
check "naming the directory and the reason" grep -q "ro/a': Read-only file system" err3.txt
# A zarr.json that cannot be written (a file size limit of 0 fails the
# write as a full disk does): exit 4, and no zarr.json.tmp left behind.
bash -c "set -o pipefail; (trap '' XFSZ; ulimit -f 0; exec '$DAISY' run --quiet --markers m4 \
  --logs logs p.json) 2>&1 >/dev/null | cat > err4.txt"
check "markers whose zarr.json cannot be written: exit 4" test $? -eq 4
check "... naming it and the reason" grep -q "m4/a/zarr.json': File too large" err4.txt
check "... leaving no zarr.json.tmp" test ! -e m4/a/zarr.json.tmp
finish
