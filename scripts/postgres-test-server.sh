#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for the EchordPostgres test suites.
#
#   scripts/postgres-test-server.sh start        # prints ECHORD_POSTGRES_TEST_URL=... and ECHORD_POSTGRES_TEST_DATA=...
#   scripts/postgres-test-server.sh stop DIR     # stops the server of data directory DIR and deletes DIR
#   scripts/postgres-test-server.sh halt DIR     # stops the server of DIR, keeping its data (an outage)
#   scripts/postgres-test-server.sh resume DIR   # starts the halted server of DIR again, on its port
#
#   eval "$(scripts/postgres-test-server.sh start)"
#   export ECHORD_POSTGRES_TEST_URL
#   swift test --filter EchordPostgresTests
#   scripts/postgres-test-server.sh stop "$ECHORD_POSTGRES_TEST_DATA"
#
# Installs postgresql-15 from Debian's packages when it is missing (as root). The server gets its own
# data directory under ${TMPDIR:-/tmp}, a free port on 127.0.0.1 and runs as a non-root user (the
# `postgres` user when started as root). It accepts the user `echord` with a random password
# (scram-sha-256) that is part of the printed URL: a test server only.
set -euo pipefail

bindir=/usr/lib/postgresql/15/bin

as_server_user() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

install_if_missing() {
  if [ -x "$bindir/pg_ctl" ]; then return; fi
  if [ "$(id -u)" != 0 ]; then
    echo "postgresql-15 is not installed: sudo apt-get install postgresql-15" >&2
    exit 1
  fi
  echo "installing postgresql-15" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >&2
  # The package starts its own cluster on 5432; ours does not need it.
  if command -v pg_ctlcluster >/dev/null 2>&1; then pg_ctlcluster 15 main stop >/dev/null 2>&1 || true; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  install_if_missing
  local dir port password
  dir=$(mktemp -d "${TMPDIR:-/tmp}/echord-pg.XXXXXX")
  chmod 0755 "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; fi
  password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  printf '%s\n' "$password" > "$dir/pwfile"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir/pwfile"; fi
  chmod 0600 "$dir/pwfile"
  as_server_user "$bindir/initdb" -D "$dir/data" -U echord --pwfile="$dir/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2; exit 1; }
  rm -f "$dir/pwfile"
  # A free port can be taken between the probe and the bind: try a few.
  local attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    if as_server_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" start >/dev/null 2>&1; then
      as_server_user "$bindir/psql" -h "$dir" -p "$port" -U echord -d postgres -q -c "CREATE DATABASE echord_test" >/dev/null
      printf '%s\n' "$port" > "$dir/port"
      echo "ECHORD_POSTGRES_TEST_URL=postgres://echord:$password@127.0.0.1:$port/echord_test?sslmode=disable"
      echo "ECHORD_POSTGRES_TEST_DATA=$dir"
      return 0
    fi
  done
  echo "could not start PostgreSQL; its log:" >&2
  cat "$dir/server.log" >&2 || true
  exit 1
}

stop() {
  local dir=${1:?usage: postgres-test-server.sh stop DIR}
  if [ -d "$dir/data" ]; then
    as_server_user "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  case "$dir" in
    */echord-pg.*) rm -rf "$dir" ;;
    *) echo "not removing $dir (not made by this script)" >&2 ;;
  esac
}

# halt DIR: the server of DIR stops (fast shutdown: its clients' connections end), its data kept.
halt() {
  local dir=${1:?usage: postgres-test-server.sh halt DIR}
  as_server_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
}

# resume DIR: the halted server of DIR starts again, on the port it had.
resume() {
  local dir=${1:?usage: postgres-test-server.sh resume DIR}
  local port
  port=$(cat "$dir/port")
  as_server_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" start >/dev/null
}

case "${1:-}" in
  start) start ;;
  stop) shift; stop "$@" ;;
  halt) shift; halt "$@" ;;
  resume) shift; resume "$@" ;;
  *) echo "usage: $0 start | stop DIR | halt DIR | resume DIR" >&2; exit 2 ;;
esac
