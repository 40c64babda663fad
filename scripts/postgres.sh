#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback, for the tests of the graph
# database's postgresql:// back end (and funlib.persistence's interop with
# it): `scripts/postgres.sh up` makes a fresh cluster in $DAISY_PG_DIR
# (/tmp/daisy-pg), started as the `postgres` system user (initdb refuses
# root), listening on 127.0.0.1:$DAISY_PG_PORT (54329, away from the usual
# 5432 of a server the host may run) and on a unix socket in that directory,
# trusting every local connection, with a superuser role `daisy`; it waits
# until psql connects and prints the URL the tests take
# (postgresql://daisy@127.0.0.1:PORT/postgres, `scripts/postgres.sh url`
# prints it alone). `scripts/postgres.sh down` stops the server and removes
# the directory; `up` does that first, for a server an aborted run left.
# Needs root and Debian's postgresql (scripts/deps.sh installs it; the
# newest /usr/lib/postgresql/*/bin is taken). Durability is off (fsync,
# synchronous_commit, full_page_writes): the data lives as long as a test.
set -uo pipefail

dir=${DAISY_PG_DIR:-/tmp/daisy-pg}
port=${DAISY_PG_PORT:-54329}
url="postgresql://daisy@127.0.0.1:$port/postgres"
bin=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' \
        -printf '%h\n' 2>/dev/null | sort -V | tail -1)

as_postgres() {  # command... run as the postgres user, from a directory it can read
  (cd / && runuser -u postgres -- "$@")
}

stop() {  # the server of $dir, if one runs; then the directory
  if [ -f "$dir/data/postmaster.pid" ]; then
    if [ -n "$bin" ]; then
      as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 20 stop >/dev/null 2>&1
    fi
    local pid
    pid=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null)
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ]; then
      kill -QUIT "$pid" 2>/dev/null   # immediate shutdown
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  rm -rf "$dir"
}

up() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "postgres: not started: needs root (to run the server as the postgres user)" >&2
    return 1
  fi
  if [ -z "$bin" ] || [ ! -x "$bin/pg_ctl" ]; then
    echo "postgres: not started: no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)" >&2
    return 1
  fi
  if ! id postgres >/dev/null 2>&1; then
    echo "postgres: not started: there is no postgres user (Debian's postgresql-common makes it)" >&2
    return 1
  fi
  stop
  if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1; then
    echo "postgres: not started: another server answers on 127.0.0.1:$port (set DAISY_PG_PORT)" >&2
    return 1
  fi
  mkdir -p "$dir" && chown postgres: "$dir" && chmod 755 "$dir" || return 1
  if ! as_postgres "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
         --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
    echo "postgres: initdb failed:" >&2
    tail -n 20 "$dir/initdb.log" >&2
    return 1
  fi
  cat >> "$dir/data/postgresql.conf" <<CONF
# scripts/postgres.sh: a test server on loopback
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  cat > "$dir/data/pg_hba.conf" <<CONF
local all all trust
host all all 127.0.0.1/32 trust
CONF
  if ! as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >/dev/null; then
    echo "postgres: the server did not start:" >&2
    tail -n 20 "$dir/server.log" >&2
    return 1
  fi
  as_postgres "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -qAt \
    -c "CREATE ROLE daisy LOGIN SUPERUSER" >/dev/null || return 1
  for _ in $(seq 100); do
    if "$bin/psql" "$url" -qAt -c 'SELECT 1' >/dev/null 2>&1; then
      echo "postgres: $("$bin/postgres" --version | awk '{print $3}') up at $url"
      return 0
    fi
    sleep 0.1
  done
  echo "postgres: the server does not answer at $url" >&2
  tail -n 20 "$dir/server.log" >&2
  return 1
}

case "${1:-}" in
  up) up ;;
  down) stop ;;
  url) echo "$url" ;;
  *) echo "usage: scripts/postgres.sh up|down|url" >&2; exit 2 ;;
esac
