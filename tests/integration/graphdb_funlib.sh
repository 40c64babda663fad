#!/usr/bin/env bash
# Graphs written by daisy/graphdb.h open in funlib.persistence, and the
# other way round, checked against funlib's own code (found, or the test
# skipped saying why, by funlib_need in lib.sh). In SQLite files, or with
# a second argument `postgresql` (graphdb_funlib_pg.sh) in two databases
# of their own on the test server (pg_need in lib.sh), dropped at the end.
. "$(dirname "$0")/lib.sh"
tool=${1:?graph_tool}
if [ "${2:-sqlite}" = postgresql ]; then
  pg_need
  funlib_need
  c=$(pg_url "$(pg_newdb daisy_funlib_c)")
  f=$(pg_url "$(pg_newdb daisy_funlib_f)")
else
  funlib_need
  c=c.db f=f.db
fi
cd "$tmpdir"
"$tool" write "$c"
check "daisy writes a graph" test $? -eq 0
PYTHONPATH=$pylib /usr/bin/python3 "$(dirname "$0")/graphdb_funlib.py" read-ours "$c" > r1.txt 2>&1
check "funlib reads it, nodes, attributes, edges and ROIs as written" test $? -eq 0
cat r1.txt
PYTHONPATH=$pylib /usr/bin/python3 "$(dirname "$0")/graphdb_funlib.py" write-theirs "$f" > w.txt 2>&1
check "funlib writes a graph" test $? -eq 0
cat w.txt
compare_all() {
for r in "" "1 0 0 2 5 5" "0 2 1 5 2 3" "-3 -3 -3 4 4 4"; do
  # shellcheck disable=SC2086
  "$tool" dump "$f" $r > "dump.txt" 2> dump.err
  rc=$?
  check "daisy reads funlib's graph${r:+ in ROI $r}" test $rc -eq 0
  [ $rc -eq 0 ] || cat dump.err >&2
  # shellcheck disable=SC2086
  PYTHONPATH=$pylib /usr/bin/python3 "$(dirname "$0")/graphdb_funlib.py" compare "$f" dump.txt $r > c.txt 2>&1
  check "what daisy read is what funlib wrote${r:+, in ROI $r}" test $? -eq 0
  cat c.txt
done
}
compare_all
# Opened for writing, funlib's graph gets daisy's spatial index; what
# funlib writes after that is indexed by the triggers, and ROI reads
# through the index still agree with funlib's.
"$tool" index "$f"
check "daisy indexes funlib's graph" test $? -eq 0
PYTHONPATH=$pylib /usr/bin/python3 "$(dirname "$0")/graphdb_funlib.py" add-theirs "$f" > a.txt 2>&1
check "funlib writes into it after that" test $? -eq 0
cat a.txt
compare_all
finish
