#!/usr/bin/env bash
# The graph example as a user runs it (examples/graph_blocks.c,
# examples/pipelines/graph.json): a volume, the graph created, the two
# tasks (local maxima as nodes, then edges between close nodes) under
# `daisy run`; then the stored graph against a brute-force computation over
# the whole volume in Python (graph_example.py: Debian's numpy and zarr,
# sqlite3 or psycopg2). SQLite always; PostgreSQL as well when
# DAISY_TEST_POSTGRES is a server's URL (postgresql://USER@HOST:PORT/DB):
# a database of its own is created for the test with psql and dropped after.
. "$(dirname "$0")/lib.sh"
tool=${1:?graph_blocks}
if ! /usr/bin/python3 -c 'import numpy, zarr' 2>/dev/null; then
  echo "skipped: python3-numpy and python3-zarr (Debian) are not installed"
  exit 77
fi
checker=$(cd "$(dirname "$0")" && pwd)/graph_example.py
cd "$tmpdir"
example=$EXAMPLES/pipelines/graph.json
# The parameters the pipeline's commands pass, so the check computes the same.
threshold=$(grep -o -- '--threshold [0-9.]*' "$example" | head -1 | cut -d' ' -f2)
distance=$(grep -o -- '--distance [0-9.]*' "$example" | head -1 | cut -d' ' -f2)
check "the pipeline names a threshold and a distance" test -n "$threshold" -a -n "$distance"

# The example pipeline with this build's program, this directory's files
# and the graph database $1.
pipeline() {
  local spec=${1//&/\\&}
  sed -e "s|{pipeline_dir}/../../build/examples/graph_blocks|$tool|g" \
      -e "s|graph_run.zarr|$tmpdir/graph_run.zarr|g" \
      -e "s|sqlite:graph_run.db|$spec|g" "$example"
}

# The program's command line.
"$tool" --help > help.txt
check "--help exits 0 and shows the subcommands" grep -q "graph_blocks maxima VOLUME GRAPH" help.txt
"$tool" frobnicate > /dev/null 2> bad.txt
check "an unknown subcommand exits 2" test $? -eq 2
check "... naming it" grep -q "unknown subcommand 'frobnicate'" bad.txt
"$tool" edges v.zarr sqlite:g.db --distance -3 2> bad.txt
check "a bad option value exits 2" test $? -eq 2
check "... naming the option and the value" grep -q -- "--distance '-3'" bad.txt

"$tool" volume graph_run.zarr/raw > volume.txt
check "graph_blocks volume writes the volume" test $? -eq 0
"$tool" init graph_run.zarr/raw sqlite:graph_run.db > init.txt
check "graph_blocks init creates the graph" test $? -eq 0
# A block outside daisy, by hand: too little context is refused, naming the ROIs.
DAISY_READ_OFFSET=0,0,0 DAISY_READ_SHAPE=32,32,32 DAISY_WRITE_OFFSET=0,0,0 \
  DAISY_WRITE_SHAPE=32,32,32 "$tool" maxima graph_run.zarr/raw sqlite:graph_run.db 2> ctx.txt
check "a block without its context fails with status 1" test $? -eq 1
check "... saying which ROI it needs" grep -q "does not hold \[0:33, 0:33, 0:33\] (33, 33, 33), the write ROI \[0:32, 0:32, 0:32\]" ctx.txt
DAISY_READ_OFFSET=0,0 DAISY_READ_SHAPE=32,32,32 DAISY_WRITE_OFFSET=0,0,0 \
  DAISY_WRITE_SHAPE=32,32,32 "$tool" maxima graph_run.zarr/raw sqlite:graph_run.db 2> env.txt
check "a malformed block ROI fails with status 1" test $? -eq 1
check "... naming the variable and its value" grep -q "DAISY_READ_OFFSET='0,0'" env.txt
DAISY_READ_OFFSET=-1,-1,-1 DAISY_READ_SHAPE=34,34,34 DAISY_WRITE_OFFSET=0,0,0 \
  DAISY_WRITE_SHAPE=32,32,32 "$tool" maxima graph_run.zarr/raw sqlite:nothing.db 2> db.txt
check "a block on a graph not created fails with status 1" test $? -eq 1
check "... asking whether it was created" grep -q "graph_blocks init VOLUME sqlite:nothing.db" db.txt

# The SQLite run, then the same pipeline again (a block that runs twice,
# as a retried one does, must change nothing).
pipeline sqlite:graph_run.db > graph.json
timeout 120 "$DAISY" run --quiet --logs logs graph.json > run.txt 2>&1
rc=$?
check "the pipeline runs (SQLite)" test $rc -eq 0
[ $rc -eq 0 ] || head -n 30 run.txt
check "... both tasks complete" test "$(grep -c 'all blocks processed successfully' run.txt)" -eq 2
check "... in 27 blocks each" test "$(grep -c 'num blocks : 27' run.txt)" -eq 2
"$tool" count sqlite:graph_run.db > count.txt
check "graph_blocks count exits 0" test $? -eq 0
check "graph_blocks count reads the graph" grep -qE '^[0-9]+ nodes, [0-9]+ edges$' count.txt
cat count.txt
/usr/bin/python3 "$checker" graph_run.zarr/raw "$threshold" "$distance" graph_run.db > cmp.txt 2>&1
check "the stored graph is the brute-force graph (SQLite)" test $? -eq 0
cat cmp.txt
check "there are some hundred nodes and some edges to compare" /usr/bin/python3 -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n, = db.execute("SELECT count(*) FROM nodes").fetchone()
e, = db.execute("SELECT count(*) FROM edges").fetchone()
sys.exit(0 if n >= 100 and e >= 50 else 1)' graph_run.db
timeout 120 "$DAISY" run --quiet --logs logs graph.json > run2.txt 2>&1
check "the pipeline runs again on the same graph" test $? -eq 0
/usr/bin/python3 "$checker" graph_run.zarr/raw "$threshold" "$distance" graph_run.db > cmp2.txt 2>&1
rc=$?
check "... which stays the brute-force graph" test $rc -eq 0
[ $rc -eq 0 ] || cat cmp2.txt

# PostgreSQL, in a database of the test's own (lib.sh's pg_newdb: dropped
# at exit). Without a server the SQLite run above is the test.
postgres() {
  if [ -z "${DAISY_TEST_POSTGRES:-}" ]; then
    echo "DAISY_TEST_POSTGRES is not set: the PostgreSQL run is not made"
    return
  fi
  if ! command -v psql > /dev/null || ! /usr/bin/python3 -c 'import psycopg2' 2>/dev/null; then
    echo "psql or python3-psycopg2 (Debian) is not installed: the PostgreSQL run is not made"
    return
  fi
  if ! psql "$DAISY_TEST_POSTGRES" -qAtc 'SELECT 1' > /dev/null 2>&1; then
    echo "no PostgreSQL server answers at $DAISY_TEST_POSTGRES: the PostgreSQL run is not made"
    return
  fi
  local db url rc
  db=$(pg_newdb graph_example)
  url=$(pg_url "$db")
  psql "$DAISY_TEST_POSTGRES" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$db\"" > psql.txt 2>&1
  rc=$?
  check "a database for the test is created ($db)" test $rc -eq 0
  [ $rc -eq 0 ] || { cat psql.txt; return; }
  "$tool" init graph_run.zarr/raw "$url" > pg_init.txt 2>&1
  rc=$?
  if [ $rc -ne 0 ] && grep -q "postgresql:// is not supported yet" pg_init.txt; then
    echo "this libdaisy has no PostgreSQL back end: the PostgreSQL run is not made"
    return
  fi
  check "graph_blocks init creates the graph (PostgreSQL)" test $rc -eq 0
  [ $rc -eq 0 ] || { cat pg_init.txt; return; }
  pipeline "$url" > graph_pg.json
  timeout 120 "$DAISY" run --quiet --logs logs_pg graph_pg.json > run_pg.txt 2>&1
  rc=$?
  check "the pipeline runs (PostgreSQL)" test $rc -eq 0
  [ $rc -eq 0 ] || { head -n 30 run_pg.txt; return; }
  check "... both tasks complete" test "$(grep -c 'all blocks processed successfully' run_pg.txt)" -eq 2
  "$tool" count "$url" > count_pg.txt
  check "graph_blocks count reads the graph (PostgreSQL)" cmp -s count.txt count_pg.txt
  /usr/bin/python3 "$checker" graph_run.zarr/raw "$threshold" "$distance" "$url" > cmp_pg.txt 2>&1
  check "the stored graph is the brute-force graph (PostgreSQL)" test $? -eq 0
  cat cmp_pg.txt
}
postgres
finish
