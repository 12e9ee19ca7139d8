/* SPDX-License-Identifier: MIT */
/*
 * Shared fixture of the db/ unit tests: a fresh directory per run for real
 * SQLite files (removed at the end), a small in-memory fleet, distinct
 * WireGuard public keys, and raw queries to look behind db/'s back.
 *
 * With PV_TEST_PG set (tests/unit/with-pg.sh: the socket directory of a
 * PostgreSQL started for the run) each "file" name is a fresh database of
 * that server instead, and raw queries go through libpq.
 */
#ifndef PV_TEST_DB_FIXTURE_H
#define PV_TEST_DB_FIXTURE_H

#include <ctype.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "pv.h"
#include "test.h"

static char fixture_dir[64];

static inline int fixture_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* At exit, failed assertions included: remove the run's directory and its files. */
static inline void fixture_cleanup(void)
{
	if (nftw(fixture_dir, fixture_rm, 8, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "cannot remove %s\n", fixture_dir);
}

/* Make the run's directory (mkdtemp), removed at exit; every test file calls this first. */
static inline void fixture_setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(fixture_dir, sizeof(fixture_dir), "%s/pv-db-test-XXXXXX",
	         tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(fixture_dir))
		TEST_FAIL("mkdtemp %s failed", fixture_dir);
	if (atexit(fixture_cleanup) != 0)
		TEST_FAIL("atexit: %s", "failed");
}

/* Path of a file in the run's directory, in a static buffer. */
static inline const char *fixture_path(const char *name)
{
	static char path[128];

	snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
	return path;
}

/* The PostgreSQL socket directory of this run, or NULL on SQLite. */
static inline const char *fixture_pg(void)
{
	const char *dir = getenv("PV_TEST_PG");

	return dir && *dir ? dir : NULL;
}

/* The test database standing for file `name`: "group.db" -> pv_group_db. */
static inline const char *fixture_pg_dbname(const char *name)
{
	static _Thread_local char db[64];
	size_t i;

	snprintf(db, sizeof(db), "pv_%s", name);
	for (i = 0; db[i]; i++)
		if (!isalnum((unsigned char)db[i]))
			db[i] = '_';
	return db;
}

/* What db_open takes for `name`: its file, or its PostgreSQL URL (a static buffer per thread). */
static inline const char *fixture_target(const char *name)
{
	static _Thread_local char url[256];

	if (!fixture_pg())
		return fixture_path(name);
	snprintf(url, sizeof(url), "postgresql:///%s?host=%s&user=postgres",
	         fixture_pg_dbname(name), fixture_pg());
	return url;
}

/* A raw libpq session on database dbname of the run's server. */
static inline PGconn *fixture_pg_connect(const char *dbname)
{
	char url[256];
	PGconn *c;

	snprintf(url, sizeof(url), "postgresql:///%s?host=%s&user=postgres", dbname, fixture_pg());
	c = PQconnectdb(url);
	if (PQstatus(c) != CONNECTION_OK)
		TEST_FAIL("connect %s: %s", dbname, PQerrorMessage(c));
	return c;
}

/* Run constant SQL on a raw session; a failure ends the test. */
static inline void fixture_pg_exec(PGconn *c, const char *sql)
{
	PGresult *res = PQexec(c, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		TEST_FAIL("\"%s\": %s", sql, PQresultErrorMessage(res));
	PQclear(res);
}

/*
 * A fresh, empty database for `name` the first time this process asks
 * (PostgreSQL only; a new file needs nothing).  Later calls keep it, like
 * reopening a file.
 */
static inline void fixture_fresh(const char *name)
{
	static char made[32][64];
	static size_t n_made;
	char sql[128];
	size_t i;
	PGconn *c;

	if (!fixture_pg())
		return;
	for (i = 0; i < n_made; i++)
		if (strcmp(made[i], name) == 0)
			return;
	if (n_made == sizeof(made) / sizeof(made[0]))
		TEST_FAIL("more than %zu test databases", n_made);
	snprintf(made[n_made++], sizeof(made[0]), "%s", name);
	c = fixture_pg_connect("postgres");
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", fixture_pg_dbname(name));
	fixture_pg_exec(c, sql);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", fixture_pg_dbname(name));
	fixture_pg_exec(c, sql);
	PQfinish(c);
}

/* A fleet of n servers "srv-1".."srv-n"; the first is Basic, the others Pro. */
static inline struct pv_fleet *fixture_fleet(size_t n)
{
	struct pv_fleet *f = calloc(1, sizeof(*f));
	size_t i;

	ASSERT_TRUE(f != NULL);
	f->servers = calloc(n, sizeof(*f->servers));
	ASSERT_TRUE(f->servers != NULL);
	f->n = n;
	for (i = 0; i < n; i++) {
		struct pv_server *s = &f->servers[i];

		snprintf(s->id, sizeof(s->id), "srv-%zu", i + 1);
		snprintf(s->location, sizeof(s->location), "City %zu", i + 1);
		snprintf(s->region, sizeof(s->region), "Region");
		s->tier = i == 0 ? PV_TIER_BASIC : PV_TIER_PRO;
		snprintf(s->wg_host, sizeof(s->wg_host), "203.0.113.%zu", 11 + i);
		s->n_ifaces = 1;
		s->ifaces[0].port = 51820;
		snprintf(s->ssh_host, sizeof(s->ssh_host), "203.0.113.%zu", 11 + i);
		s->ssh_port = 22;
		snprintf(s->ssh_user, sizeof(s->ssh_user), "root");
	}
	return f;
}

/* Open `name` in the run's directory with n servers synced and the user "alice" (Pro). */
static inline struct db *fixture_open(const char *name, size_t n_servers)
{
	struct pv_fleet *f = fixture_fleet(n_servers);
	struct db *db = NULL;
	int r;

	fixture_fresh(name);
	if ((r = db_open(&db, fixture_target(name))) != 0)
		TEST_FAIL("db_open: %s: %s", pv_strerror(r), db_errmsg(db));
	if (db_servers_sync(db, f) != 0 || db_user_upsert(db, "alice", PV_TIER_PRO, 1) != 0)
		TEST_FAIL("fixture: %s", db_errmsg(db));
	pv_fleet_free(f);
	return db;
}

/* The n-th distinct, valid WireGuard public key (base64), in a per-thread buffer. */
static inline const char *fixture_key(unsigned n)
{
	static _Thread_local char b64[PV_KEY_B64_LEN + 1]; /* threads call it too */
	uint8_t key[PV_KEY_LEN];

	memset(key, 0x5a, sizeof(key));
	memcpy(key, &n, sizeof(n));
	pv_key_to_base64(b64, key);
	return b64;
}

/* Reserve a peer for alice's "laptop" on server with key n, asserting success. */
static inline struct db_peer fixture_reserve(struct db *db, const char *server, unsigned n)
{
	struct db_peer p;
	int r = db_peer_reserve(db, "alice", "laptop", server, fixture_key(n), NULL, &p);

	if (r != 0)
		TEST_FAIL("reserve on %s: %s: %s", server, pv_strerror(r), db_errmsg(db));
	return p;
}

/* The same on PostgreSQL: a boolean reads as 1 or 0. */
static inline long long fixture_pg_query_int(const char *name, const char *sql)
{
	PGconn *c = fixture_pg_connect(fixture_pg_dbname(name));
	PGresult *res = PQexec(c, sql);
	const char *v;
	long long n;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
		TEST_FAIL("query \"%s\": %s", sql, PQresultErrorMessage(res));
	v = PQgetvalue(res, 0, 0);
	n = strcmp(v, "t") == 0 ? 1 : strtoll(v, NULL, 10);
	PQclear(res);
	PQfinish(c);
	return n;
}

/* fixture_exec_refused on PostgreSQL. */
static inline int fixture_pg_refused(const char *name, const char *sql)
{
	PGconn *c = fixture_pg_connect(fixture_pg_dbname(name));
	PGresult *res = PQexec(c, sql);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	int refused = state && strncmp(state, "23", 2) == 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK && !refused)
		TEST_FAIL("\"%s\": %s", sql, PQresultErrorMessage(res));
	PQclear(res);
	PQfinish(c);
	return refused;
}

/*
 * Run one statement on the file (or database) with a separate raw
 * connection: 0 when it succeeded, 1 when a constraint refused it (SQLite's
 * SQLITE_CONSTRAINT, PostgreSQL's SQLSTATE class 23); anything else fails.
 */
static inline int fixture_exec_refused(const char *name, const char *sql)
{
	sqlite3 *raw = NULL;
	int rc;

	if (fixture_pg())
		return fixture_pg_refused(name, sql);
	if (sqlite3_open(fixture_path(name), &raw) != SQLITE_OK)
		TEST_FAIL("open %s: %s", name, sqlite3_errmsg(raw));
	rc = sqlite3_exec(raw, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_CONSTRAINT)
		TEST_FAIL("\"%s\": %s", sql, sqlite3_errmsg(raw));
	sqlite3_close(raw);
	return rc == SQLITE_CONSTRAINT;
}

/* Run a one-integer query on the file (or database) with a separate raw connection. */
static inline long long fixture_query_int(const char *name, const char *sql)
{
	sqlite3 *conn = NULL;
	sqlite3_stmt *st = NULL;
	long long v;

	if (fixture_pg())
		return fixture_pg_query_int(name, sql);
	if (sqlite3_open_v2(fixture_path(name), &conn, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(conn, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		TEST_FAIL("query \"%s\": %s", sql, sqlite3_errmsg(conn));
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(conn);
	return v;
}

#endif
