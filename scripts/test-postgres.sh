#!/usr/bin/env bash
# Starts (once) a throwaway PostgreSQL server for the tests on 127.0.0.1 and prints its URL.
# Data lives in $SHOPME_PG_DIR (default /tmp/shopme-pgtest); the server keeps running for the
# next test run; `scripts/test-postgres.sh stop` stops it.
set -euo pipefail

port="${SHOPME_PG_PORT:-54329}"
dir="${SHOPME_PG_DIR:-/tmp/shopme-pgtest}"
bin="$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n 1)")"

# PostgreSQL refuses to run as root: run it as the postgres system user then.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ "${1:-}" = "stop" ]; then
  as_pg "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
  exit 0
fi

if [ ! -f "$dir/PG_VERSION" ]; then
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
  as_pg "$bin/initdb" -D "$dir" -A trust -U postgres >/dev/null
fi
if ! as_pg "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
  as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
    -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
fi

psql_pg() { as_pg psql -h 127.0.0.1 -p "$port" -U postgres -tAq "$@"; }
[ "$(psql_pg -c "select 1 from pg_roles where rolname='shopme'")" = "1" ] ||
  psql_pg -c "create role shopme login password 'shopme'"
[ "$(psql_pg -c "select 1 from pg_database where datname='shopme_test'")" = "1" ] ||
  psql_pg -c "create database shopme_test owner shopme"

echo "postgresql+asyncpg://shopme:shopme@127.0.0.1:$port/shopme_test"
