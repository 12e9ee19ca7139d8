# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# tests/pg-lib.sh: a throwaway PostgreSQL 15 server for tests (sourced, bash).
#
#   pg_start DIR   # initdb + start in DIR, unix socket only (no TCP port);
#                  # exports PGHOST=DIR PGUSER=postgres PV_PG_URL (database pv)
#   pg_stop        # stops it (by its postmaster pid); DIR is the caller's
#
# The cluster runs as the Debian `postgres` user (initdb refuses root), with
# trust authentication on a socket inside DIR (mode 0700: only root and
# postgres reach it).  A missing PostgreSQL fails the caller; it never skips.
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DIR=""

pg_run() { runuser -u postgres -- "$@"; }

pg_start() {
	PG_DIR=$1
	[[ -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl ]] ||
		{ echo "pg-lib: no PostgreSQL 15 under $PG_BIN (scripts/install-deps.sh installs postgresql-15)" >&2; return 1; }
	id postgres >/dev/null 2>&1 || { echo "pg-lib: no 'postgres' user" >&2; return 1; }
	mkdir -p "$PG_DIR"
	chown postgres: "$PG_DIR"
	chmod 0700 "$PG_DIR"
	pg_run "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres --locale=C -E UTF8 \
		>"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
	# More connections than the default 100: two controllers' handles and a test's clients.
	pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
		-o "-k $PG_DIR -c listen_addresses='' -c max_connections=200" start >/dev/null ||
		{ cat "$PG_DIR/server.log" >&2; return 1; }
	export PGHOST=$PG_DIR PGUSER=postgres
	pg_run "$PG_BIN/psql" -h "$PG_DIR" -qAtc "CREATE DATABASE pv" postgres >/dev/null
	export PV_PG_URL="postgresql:///pv?host=$PG_DIR&user=postgres"
}

pg_stop() {
	[[ -n $PG_DIR && -f $PG_DIR/data/postmaster.pid ]] || return 0
	pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || {
		local pid
		pid=$(head -1 "$PG_DIR/data/postmaster.pid")
		kill -9 "$pid" 2>/dev/null
	}
}

# psql on the test database, tuples only, unaligned, '|' between columns (like sqlite3).
pg_sql() { psql -h "$PGHOST" -U postgres -qAt -v ON_ERROR_STOP=1 -c "$1" pv; }
