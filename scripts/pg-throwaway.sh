#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the tests, on loopback, in a temporary directory.
#
#   scripts/pg-throwaway.sh start DIR   # prints: export CONFIDANT_TEST_PG_URL=postgres://…
#   scripts/pg-throwaway.sh stop DIR
#
# Installs PostgreSQL from apt when no server binaries are found. Runs the server as the
# `postgres` system user when started as root (initdb refuses root). Durability is switched off
# (fsync=off): the data is thrown away anyway.
set -euo pipefail

cmd="${1:?start|stop}"
dir="${2:?directory}"

find_bindir() {
  local d
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"
    return
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ]; then
      echo "$d"
      return
    fi
  done
}

run_as_db_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
start)
  bindir="$(find_bindir)"
  if [ -z "$bindir" ]; then
    echo "PostgreSQL server missing: installing it from apt" >&2
    as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >&2
    # Debian's package starts a cluster of its own; the tests do not use it.
    as_root service postgresql stop >/dev/null 2>&1 || true
    bindir="$(find_bindir)"
    [ -n "$bindir" ] || { echo "no initdb after installing postgresql" >&2; exit 1; }
  fi
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    chown postgres "$dir"
    chmod 700 "$dir"
  fi
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  run_as_db_user "$bindir/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  run_as_db_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
    start >&2 || { cat "$dir/server.log" >&2; exit 1; }
  echo "export CONFIDANT_TEST_PG_URL=postgres://postgres@127.0.0.1:$port/postgres"
  ;;
stop)
  bindir="$(find_bindir)"
  if [ -n "$bindir" ] && [ -d "$dir/data" ]; then
    run_as_db_user "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2
  exit 2
  ;;
esac
