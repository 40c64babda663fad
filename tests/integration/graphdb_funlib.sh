#!/usr/bin/env bash
# Graphs written by daisy/graphdb.h open in funlib.persistence, and the
# other way round (SQLite), checked against funlib's own code. funlib is
# not a Debian package and CI reaches no PyPI or GitHub: its sources are
# taken from $FUNLIB_PERSISTENCE_SRC and $FUNLIB_GEOMETRY_SRC (checkouts),
# else from the git mirrors the developers' machines keep in /work/.mirror;
# without either the test is skipped, saying so. Its graphs module is
# loaded directly (the package's __init__ pulls in zarr, dask, pydantic,
# ... for its arrays), with networkx and psycopg2 from Debian.
. "$(dirname "$0")/lib.sh"
tool=${1:?graph_tool}
src() {  # env var value, mirror name -> a directory with the sources, or ""
  if [ -n "$1" ] && [ -d "$1" ]; then echo "$1"; return; fi
  local m=/work/.mirror/$2 d=$tmpdir/$2
  [ -d "$m" ] || return 0
  git_dir=$(find "$m" -maxdepth 2 -name HEAD -printf '%h\n' | head -1)
  [ -n "$git_dir" ] || return 0
  mkdir -p "$d" && git --git-dir="$git_dir" archive HEAD | tar -x -C "$d" && echo "$d"
}
pers=$(src "${FUNLIB_PERSISTENCE_SRC:-}" funkelab+funlib.persistence)
geom=$(src "${FUNLIB_GEOMETRY_SRC:-}" funkelab+funlib.geometry)
if [ -z "$pers" ] || [ -z "$geom" ]; then
  echo "skipped: funlib.persistence and funlib.geometry sources not found (set" \
       "FUNLIB_PERSISTENCE_SRC and FUNLIB_GEOMETRY_SRC to checkouts of" \
       "github.com/funkelab/funlib.persistence and funlib.geometry)"
  exit 77
fi
if ! /usr/bin/python3 -c 'import networkx, psycopg2' 2>/dev/null; then
  echo "skipped: python3-networkx and python3-psycopg2 (Debian) are not installed"
  exit 77
fi
# funlib.persistence without its arrays: the package a stub, its graphs
# and types modules as they are.
lib=$tmpdir/pylib
mkdir -p "$lib/funlib/persistence"
cp -r "$geom"/src/funlib/geometry "$lib/funlib/"
cp -r "$pers"/src/funlib/persistence/graphs "$pers"/src/funlib/persistence/types.py \
  "$lib/funlib/persistence/"
: > "$lib/funlib/persistence/__init__.py"
cd "$tmpdir"
"$tool" write c.db
check "daisy writes a graph" test $? -eq 0
PYTHONPATH=$lib /usr/bin/python3 "$(dirname "$0")/graphdb_funlib.py" read-ours c.db > r1.txt 2>&1
check "funlib reads it, nodes, attributes, edges and ROIs as written" test $? -eq 0
cat r1.txt
PYTHONPATH=$lib /usr/bin/python3 "$(dirname "$0")/graphdb_funlib.py" write-theirs f.db > w.txt 2>&1
check "funlib writes a graph" test $? -eq 0
cat w.txt
compare_all() {
for r in "" "1 0 0 2 5 5" "0 2 1 5 2 3" "-3 -3 -3 4 4 4"; do
  # shellcheck disable=SC2086
  "$tool" dump f.db $r > "dump.txt" 2> dump.err
  check "daisy reads funlib's graph${r:+ in ROI $r}" test $? -eq 0
  # shellcheck disable=SC2086
  PYTHONPATH=$lib /usr/bin/python3 "$(dirname "$0")/graphdb_funlib.py" compare f.db dump.txt $r > c.txt 2>&1
  check "what daisy read is what funlib wrote${r:+, in ROI $r}" test $? -eq 0
  cat c.txt
done
}
compare_all
# Opened for writing, funlib's graph gets daisy's spatial index; what
# funlib writes after that is indexed by the triggers, and ROI reads
# through the index still agree with funlib's.
"$tool" index f.db
check "daisy indexes funlib's graph" test $? -eq 0
PYTHONPATH=$lib /usr/bin/python3 "$(dirname "$0")/graphdb_funlib.py" add-theirs f.db > a.txt 2>&1
check "funlib writes into it after that" test $? -eq 0
cat a.txt
compare_all
finish
