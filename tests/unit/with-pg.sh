#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/unit/with-pg.sh TEST_BINARY: run a db/ unit test against a real
# PostgreSQL 15 started here in a temp directory (tests/pg-lib.sh) instead
# of SQLite files: the fixture (test_db_fixture.h) reads PV_TEST_PG.
set -euo pipefail
. "$(dirname "$0")/../pg-lib.sh"

dir=$(mktemp -d "${TMPDIR:-/tmp}/pv-pg-XXXXXX")
cleanup() {
	pg_stop
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
pg_start "$dir"
PV_TEST_PG=$dir "$@"
