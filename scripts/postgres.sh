#!/usr/bin/env bash
# A local PostgreSQL server for development, the tests and the local cluster, from Debian's `postgresql`
# package. It listens on 127.0.0.1:${EVENTO_PG_PORT:-55432}; its data lives in $EVENTO_PG_DIR (default: a
# folder under /var/tmp named after this checkout, so that the server's own user can reach it whatever the
# permissions of the checkout's parents). A server already answering on the port as user evento is used as is.
#
#   scripts/postgres.sh start   # initdb on first use, then start (idempotent); prints the store URL
#   scripts/postgres.sh stop
#   scripts/postgres.sh url     # postgres://evento@127.0.0.1:55432/evento
#
# initdb refuses to run as root, so as root the server runs as the `postgres` user the package creates.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${EVENTO_PG_PORT:-55432}"
DIR="${EVENTO_PG_DIR:-/var/tmp/evento-postgres-$(printf %s "$PWD" | md5sum | cut -c1-8)}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -z "$BIN" ]; then echo "postgres.sh: PostgreSQL is not installed (scripts/setup.sh installs it)" >&2; exit 1; fi
URL="postgres://evento@127.0.0.1:$PORT/evento"

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}

case "${1:-start}" in
  start)
    if "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U evento -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
      # Already up (started earlier, maybe by another checkout): make sure the database exists.
      "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U evento -d postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = 'evento'" | grep -q 1 \
        || "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U evento evento
      echo "$URL"
      exit 0
    fi
    mkdir -p "$DIR"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$DIR"; chmod 700 "$DIR"; fi
    # The parent folders must be traversable by the server's user.
    if [ ! -f "$DIR/PG_VERSION" ]; then
      as_owner "'$BIN/initdb' -D '$DIR' -A trust -U evento -E UTF8 --locale=C.UTF-8 >'/tmp/evento-initdb.log' 2>&1" \
        || { cat /tmp/evento-initdb.log >&2; exit 1; }
      cat >>"$DIR/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 300
shared_buffers = 256MB
fsync = on
synchronous_commit = on
CONF
    fi
    if ! as_owner "'$BIN/pg_ctl' -D '$DIR' status" >/dev/null 2>&1; then
      as_owner "'$BIN/pg_ctl' -D '$DIR' -l '$DIR/server.log' -w -t 60 start" >/dev/null
    fi
    for _ in $(seq 1 50); do
      if as_owner "'$BIN/psql' -h 127.0.0.1 -p $PORT -U evento -d postgres -Atqc 'SELECT 1'" >/dev/null 2>&1; then break; fi
      sleep 0.2
    done
    if ! as_owner "'$BIN/psql' -h 127.0.0.1 -p $PORT -U evento -d postgres -Atqc \"SELECT 1 FROM pg_database WHERE datname = 'evento'\"" | grep -q 1; then
      as_owner "'$BIN/createdb' -h 127.0.0.1 -p $PORT -U evento evento"
    fi
    echo "$URL"
    ;;
  stop)
    if [ -f "$DIR/PG_VERSION" ]; then as_owner "'$BIN/pg_ctl' -D '$DIR' -m fast stop" >/dev/null 2>&1 || true; fi
    ;;
  url) echo "$URL" ;;
  *) echo "usage: scripts/postgres.sh start|stop|url" >&2; exit 2 ;;
esac
