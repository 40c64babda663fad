# lib.sh - shared helpers for the integration tests (sourced).
# Each test runs the built programs the way a user would and exits 0 on
# success, 1 on failure, 77 when it cannot run here (reported as skipped).
set -u
fails=0
checks=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
check() {  # description, command...
  local what=$1; shift
  checks=$((checks + 1))
  "$@" || fail "$what"
}
finish() {
  echo "$checks checks, $fails failed"
  [ "$fails" -eq 0 ]
}
tmpdir=$(mktemp -d)
# What the programs leave in $TMPDIR (the socket directory of a run a test
# kills with SIGKILL) goes with the test's own directory.
export TMPDIR="$tmpdir"
lib_cleanup() {
  pg_dropdbs
  rm -rf "$tmpdir"
}
trap lib_cleanup EXIT
# A TCP port on loopback that is free now, below the kernel's ephemeral
# range (32768 and up), so that no outgoing connection of a concurrent test
# takes it between now and the bind.
free_port() {
  /usr/bin/python3 - <<'PY'
import random, socket
while True:
    port = random.randrange(20000, 32000, 2)
    try:
        for p in (port, port + 1):
            s = socket.socket(); s.bind(("127.0.0.1", p)); s.close()
    except OSError:
        continue
    print(port)
    break
PY
}

# PostgreSQL: scripts/test.sh starts a throwaway server (scripts/postgres.sh)
# and exports DAISY_TEST_POSTGRES=postgresql://daisy@127.0.0.1:PORT/postgres,
# a superuser's URL. A test makes its own databases, named by pg_newdb, and
# they are dropped at exit (by lib_cleanup; a test that sets its own EXIT
# trap calls pg_dropdbs itself).
pg_need() {  # skips (77), saying why, where there is no server to use
  if [ -z "${DAISY_TEST_POSTGRES:-}" ]; then
    echo "skipped: DAISY_TEST_POSTGRES is not set (scripts/test.sh sets it as root;" \
         "or: scripts/postgres.sh up; export DAISY_TEST_POSTGRES=\$(scripts/postgres.sh url))"
    exit 77
  fi
  if ! command -v psql >/dev/null; then
    echo "skipped: psql is not installed (Debian's postgresql-client)"
    exit 77
  fi
  if ! psql "$DAISY_TEST_POSTGRES" -qAtc 'SELECT 1' >/dev/null 2>&1; then
    echo "skipped: no PostgreSQL server answers at $DAISY_TEST_POSTGRES"
    exit 77
  fi
}
pg_newdb() {  # prefix -> a database name no other test uses; creates nothing
  local name
  name=$(printf '%s_%s_%s%s' "$1" "$$" "$RANDOM" "$RANDOM" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9_\n' _)
  echo "$name" >> "$tmpdir/.pg_dbs"   # a file: this runs in $(...)
  echo "$name"
}
pg_url() {  # database name -> its URL on the test server
  echo "${DAISY_TEST_POSTGRES%/*}/$1"
}
pg_dropdbs() {  # drops the databases pg_newdb named, those that exist
  [ -s "$tmpdir/.pg_dbs" ] || return 0
  local db
  while read -r db; do
    psql "$DAISY_TEST_POSTGRES" -qAtc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
      echo "note: could not drop the test database $db" >&2
  done < "$tmpdir/.pg_dbs"
  rm -f "$tmpdir/.pg_dbs"
}

# funlib.persistence's graphs module, for the interop tests with it
# (graphdb_funlib*.sh). funlib is not a Debian package and CI reaches no
# PyPI or GitHub: its sources are taken from $FUNLIB_PERSISTENCE_SRC and
# $FUNLIB_GEOMETRY_SRC (checkouts), else from the git mirrors the
# developers' machines keep in /work/.mirror; without either the test is
# skipped, saying so. The graphs module is loaded directly (the package's
# __init__ pulls in zarr, dask, pydantic, ... for its arrays), with networkx
# and psycopg2 from Debian. Sets pylib, the PYTHONPATH to use.
funlib_src() {  # env var value, mirror name -> a directory with the sources, or ""
  if [ -n "$1" ] && [ -d "$1" ]; then echo "$1"; return; fi
  local m=/work/.mirror/$2 d=$tmpdir/$2 git_dir
  [ -d "$m" ] || return 0
  git_dir=$(find "$m" -maxdepth 2 -name HEAD -printf '%h\n' | head -1)
  [ -n "$git_dir" ] || return 0
  mkdir -p "$d" && git --git-dir="$git_dir" archive HEAD | tar -x -C "$d" && echo "$d"
}
funlib_need() {
  local pers geom
  pers=$(funlib_src "${FUNLIB_PERSISTENCE_SRC:-}" funkelab+funlib.persistence)
  geom=$(funlib_src "${FUNLIB_GEOMETRY_SRC:-}" funkelab+funlib.geometry)
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
  pylib=$tmpdir/pylib
  mkdir -p "$pylib/funlib/persistence"
  cp -r "$geom"/src/funlib/geometry "$pylib/funlib/"
  cp -r "$pers"/src/funlib/persistence/graphs "$pers"/src/funlib/persistence/types.py \
    "$pylib/funlib/persistence/"
  : > "$pylib/funlib/persistence/__init__.py"
}
