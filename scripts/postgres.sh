#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests and the benchmark.
#
#   eval "$(bash scripts/postgres.sh start)"   # starts it (idempotent), prints the export line
#   bash scripts/postgres.sh url               # prints the URL of a running one
#   bash scripts/postgres.sh restart           # restarts the running server (tests of reconnection)
#   bash scripts/postgres.sh stop              # stops it and deletes its data directory
#
# The cluster lives in a temporary directory (KUBEHERO_PG_DIR, default
# /tmp/kubehero-postgres-PORT), listens on 127.0.0.1:KUBEHERO_PG_PORT (default 55432) only, and
# trusts every local connection: it holds test data and nothing else. PostgreSQL refuses to run
# as root, so as root the cluster belongs to the `postgres` user Debian's package creates.
# scripts/setup.sh installs the server (Debian's `postgresql`).
set -euo pipefail

PORT="${KUBEHERO_PG_PORT:-55432}"
DIR="${KUBEHERO_PG_DIR:-/tmp/kubehero-postgres-$PORT}"
URL="postgres://postgres@127.0.0.1:$PORT/postgres"

bindir() {
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  if [ -z "$found" ] || [ ! -x "$found/pg_ctl" ]; then
    echo "postgres.sh: no PostgreSQL server under /usr/lib/postgresql (run scripts/setup.sh, which installs Debian's postgresql)" >&2
    exit 1
  fi
  echo "$found"
}

# Runs a server binary as the cluster's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

running() {
  [ -f "$DIR/data/postmaster.pid" ] && as_owner "$(bindir)/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1
}

start() {
  local bin
  bin="$(bindir)"
  if ! running; then
    rm -rf "$DIR"
    mkdir -p "$DIR"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
    as_owner "$bin/initdb" -D "$DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 || {
      cat "$DIR/initdb.log" >&2
      echo "postgres.sh: initdb into $DIR/data failed" >&2
      exit 1
    }
    cat >>"$DIR/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 300
shared_buffers = 256MB
# Throwaway data: a crash loses nothing anyone needs, and the tests run faster without fsync.
fsync = ${KUBEHERO_PG_FSYNC:-off}
synchronous_commit = ${KUBEHERO_PG_FSYNC:-off}
full_page_writes = ${KUBEHERO_PG_FSYNC:-off}
EOF
    cat >"$DIR/data/pg_hba.conf" <<EOF
local all all trust
host all all 127.0.0.1/32 trust
EOF
    as_owner "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >/dev/null || {
      cat "$DIR/server.log" >&2
      echo "postgres.sh: the server did not start; its log is above" >&2
      exit 1
    }
  fi
  echo "export KUBEHERO_TEST_POSTGRES_URL=$URL"
}

stop() {
  if running; then
    as_owner "$(bindir)/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
  fi
  rm -rf "$DIR"
}

restart() {
  running || { echo "postgres.sh: no server running in $DIR" >&2; exit 1; }
  as_owner "$(bindir)/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -m fast -w -t 60 restart >/dev/null
}

case "${1:-}" in
  start) start ;;
  restart) restart ;;
  stop) stop ;;
  url) running && echo "$URL" ;;
  *)
    echo "usage: $0 start|restart|stop|url" >&2
    exit 2
    ;;
esac
