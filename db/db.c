/* SPDX-License-Identifier: MIT */
/* Opening the state database: pragmas, statement cache, error mapping, transactions. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "db_int.h"

/* Long enough to ride out a burst of writers, short enough for an HTTP request. */
#define DB_BUSY_TIMEOUT_MS 5000

/*
 * Durability.  In WAL mode both FULL and NORMAL survive a kill -9 of the
 * controller: a commit is in the WAL file (in the OS page cache) before
 * sqlite3_step() returns.  They differ on power loss or an OS crash: NORMAL
 * fsyncs the WAL only at checkpoints, so the latest commits can vanish
 * (the file stays consistent), while FULL fsyncs the WAL at every commit.
 * A provision is acknowledged to the client only after its commit, and "an
 * acknowledged provision is never lost" must hold for power loss too, so we
 * pay FULL's fsync per commit: 3-5 ms on the test VM's shared disk against
 * ~0.3-0.5 ms for NORMAL (bench_db_lease), less than the SSH push that the
 * provision waits for anyway.  NORMAL is only for the benchmark's baseline.
 */
static const char SQL_SYNC_FULL[] = "PRAGMA synchronous=FULL";
static const char SQL_SYNC_NORMAL[] = "PRAGMA synchronous=NORMAL";

int64_t db_now(void)
{
	return (int64_t)time(NULL);
}

int db_failf(struct db *db, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(db->errmsg, sizeof(db->errmsg), fmt, ap);
	va_end(ap);
	return err;
}

/* SQLite result code -> PV_E*: UNIQUE clashes and lock timeouts are the ones callers act on. */
static int db_map(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_NOMEM:
		return PV_ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return PV_EBUSY;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return PV_EEXIST;
		return PV_EINVAL;
	default:
		return PV_EDB;
	}
}

int db_fail(struct db *db, int rc)
{
	const char *msg = db->conn ? sqlite3_errmsg(db->conn) : sqlite3_errstr(rc);
	int r = db_map(rc);

	snprintf(db->errmsg, sizeof(db->errmsg), "sqlite: %s (code %d)", msg, rc);
	return r < 0 ? r : PV_EDB;
}

int db_wrap(struct db *db, int err, const char *what)
{
	char why[sizeof(db->errmsg)];

	memcpy(why, db->errmsg, sizeof(why));
	return db_failf(db, err, "%s: %s", what, why);
}

const char *db_errmsg(struct db *db)
{
	return db ? db->errmsg : "no database handle";
}

int db_check_id(struct db *db, const char *what, const char *s, size_t max)
{
	size_t len;

	if (!s || !*s)
		return db_failf(db, PV_EINVAL, "%s is missing", what);
	len = strnlen(s, max + 1);
	if (len > max)
		return db_failf(db, PV_EINVAL, "%s is longer than %zu bytes", what, max);
	return 0;
}

int db_stmt(struct db *db, const char *sql, sqlite3_stmt **out)
{
	struct db_stmt_slot *slot;
	size_t i;
	int rc;

	*out = NULL;
	for (i = 0; i < db->n_cached; i++) {
		if (db->cache[i].sql == sql) {
			db_stmt_done(db->cache[i].stmt);
			*out = db->cache[i].stmt;
			return 0;
		}
	}
	if (db->n_cached == DB_STMT_MAX)
		return db_failf(db, PV_EDB, "statement cache full (%d); raise DB_STMT_MAX",
		                DB_STMT_MAX);
	slot = &db->cache[db->n_cached];
	rc = sqlite3_prepare_v3(db->conn, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot->stmt, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc);
	slot->sql = sql;
	db->n_cached++;
	*out = slot->stmt;
	return 0;
}

void db_stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

int db_bind_text(struct db *db, sqlite3_stmt *st, int i, const char *s)
{
	int rc = s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);

	return rc == SQLITE_OK ? 0 : db_fail(db, rc);
}

int db_bind_int(struct db *db, sqlite3_stmt *st, int i, int64_t v)
{
	int rc = sqlite3_bind_int64(st, i, v);

	return rc == SQLITE_OK ? 0 : db_fail(db, rc);
}

int db_bind_blob(struct db *db, sqlite3_stmt *st, int i, const void *p, size_t n)
{
	int rc = p ? sqlite3_bind_blob(st, i, p, (int)n, SQLITE_TRANSIENT)
	           : sqlite3_bind_null(st, i);

	return rc == SQLITE_OK ? 0 : db_fail(db, rc);
}

int db_step_done(struct db *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_DONE ? 0 : db_fail(db, rc);

	db_stmt_done(st);
	return r;
}

int db_column_text(struct db *db, sqlite3_stmt *st, int i, char *buf, size_t len)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	int n = sqlite3_column_bytes(st, i);

	if (!s) {
		buf[0] = '\0';
		return 0;
	}
	if ((size_t)n >= len)
		return db_failf(db, PV_EDB, "column %s holds %d bytes, more than %zu",
		                sqlite3_column_name(st, i), n, len - 1);
	memcpy(buf, s, (size_t)n + 1);
	return 0;
}

int db_collect(struct db *db, sqlite3_stmt *st, size_t elem, db_row_reader read, void **out,
               size_t *n)
{
	char *list = NULL, *grown;
	size_t count = 0, cap = 0;
	int rc, r;

	*out = NULL;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(list, cap * elem);
			if (!grown) {
				r = db_failf(db, PV_ENOMEM, "out of memory reading %zu rows",
				             count);
				goto fail;
			}
			list = grown;
		}
		if ((r = read(db, st, list + count * elem)) < 0)
			goto fail;
		count++;
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(db, rc);
		goto fail;
	}
	db_stmt_done(st);
	*out = list;
	*n = count;
	return 0;
fail:
	db_stmt_done(st);
	free(list);
	return r;
}

int db_one(struct db *db, sqlite3_stmt *st, db_row_reader read, void *row)
{
	int rc = sqlite3_step(st), r;

	if (rc == SQLITE_ROW)
		r = read ? read(db, st, row) : 0;
	else if (rc == SQLITE_DONE)
		r = 0;
	else
		r = db_fail(db, rc);
	db_stmt_done(st);
	return r < 0 ? r : rc == SQLITE_ROW;
}

int db_read_int(struct db *db, sqlite3_stmt *st, void *row)
{
	(void)db;
	*(int *)row = sqlite3_column_int(st, 0);
	return 0;
}

static int read_int64(struct db *db, sqlite3_stmt *st, void *row)
{
	(void)db;
	*(int64_t *)row = sqlite3_column_int64(st, 0);
	return 0;
}

int64_t db_changes(struct db *db)
{
	return (int64_t)sqlite3_total_changes64(db->conn);
}

int db_data_version(struct db *db, int64_t *out)
{
	static const char sql[] = "PRAGMA data_version";
	sqlite3_stmt *st;
	int r = db_stmt(db, sql, &st);

	if (r < 0)
		return r;
	r = db_one(db, st, read_int64, out);
	return r < 0 ? r : r == 1 ? 0 : db_failf(db, PV_EIO, "PRAGMA data_version: no row");
}

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_SAVEPOINT[] = "SAVEPOINT pv";
static const char SQL_RELEASE[] = "RELEASE pv";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO pv";

static int db_run(struct db *db, const char *sql)
{
	sqlite3_stmt *st;
	int r = db_stmt(db, sql, &st);

	return r < 0 ? r : db_step_done(db, st);
}

int db_begin(struct db *db)
{
	return db_run(db, db->group ? SQL_SAVEPOINT : SQL_BEGIN);
}

/* COMMIT (the fsync), timed for the observer; rolled back on failure. */
static int commit_now(struct db *db)
{
	uint64_t start = pv_now_us();
	int r = db_run(db, SQL_COMMIT);

	if (db->commit_observer)
		db->commit_observer(db->commit_observer_arg, pv_now_us() - start, r == 0);
	if (r < 0)
		db_rollback(db);
	return r;
}

int db_commit(struct db *db)
{
	int r;

	if (!db->group)
		return commit_now(db);
	if ((r = db_run(db, SQL_RELEASE)) < 0)
		db_rollback(db);
	return r;
}

void db_set_commit_observer(struct db *db, db_commit_observer fn, void *arg)
{
	db->commit_observer = fn;
	db->commit_observer_arg = arg;
}

/* Keeps the message of the failure that caused the rollback. */
void db_rollback(struct db *db)
{
	char saved[sizeof(db->errmsg)];

	if (sqlite3_get_autocommit(db->conn))
		return; /* SQLite already rolled back (e.g. after SQLITE_FULL) */
	memcpy(saved, db->errmsg, sizeof(saved));
	if (db->group) {
		/* Undo this transaction only, and end its savepoint. */
		if (db_run(db, SQL_ROLLBACK_TO) == 0)
			db_run(db, SQL_RELEASE);
	} else {
		db_run(db, SQL_ROLLBACK);
	}
	memcpy(db->errmsg, saved, sizeof(saved));
}

int db_group_begin(struct db *db)
{
	int r;

	if (db->group)
		return db_failf(db, PV_EINVAL, "a group transaction is already open");
	if ((r = db_run(db, SQL_BEGIN)) == 0)
		db->group = 1;
	return r;
}

int db_group_commit(struct db *db)
{
	if (!db->group)
		return db_failf(db, PV_EINVAL, "no group transaction is open");
	db->group = 0;
	if (sqlite3_get_autocommit(db->conn))
		return db_failf(db, PV_EIO, "the group transaction was rolled back by SQLite");
	return commit_now(db);
}

/* journal_mode answers with the mode it ended up in; anything but "wal" is refused. */
static int db_try_wal(struct db *db, int *is_wal)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *mode;
	int rc, r = 0;

	*is_wal = 0;
	rc = sqlite3_prepare_v2(db->conn, "PRAGMA journal_mode=WAL", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_BUSY) {
		db_fail(db, rc);
		goto out; /* not yet: the caller retries */
	}
	if (rc != SQLITE_ROW) {
		r = db_fail(db, rc);
		goto out;
	}
	mode = sqlite3_column_text(st, 0);
	*is_wal = mode && strcmp((const char *)mode, "wal") == 0;
	if (!*is_wal)
		db_failf(db, PV_EDB, "journal_mode is %s, not wal (in-memory database?)",
		         mode ? (const char *)mode : "unknown");
out:
	sqlite3_finalize(st);
	return r;
}

/*
 * Switching a new file to WAL needs it to itself: while another connection
 * is opening the same new file, SQLite answers with the old mode or BUSY
 * instead of waiting on the busy handler.  So retry within the busy timeout.
 */
static int db_set_wal(struct db *db)
{
	const struct timespec pause = {0, 10000000L}; /* 10 ms */
	uint64_t deadline = pv_now_ms() + DB_BUSY_TIMEOUT_MS;
	int r, is_wal;

	while ((r = db_try_wal(db, &is_wal)) == 0 && !is_wal) {
		if (pv_now_ms() >= deadline)
			return PV_EDB;
		nanosleep(&pause, NULL);
	}
	return r;
}

/* Constant pragmas only: sqlite3_exec never sees data here. */
static int db_pragma(struct db *db, const char *sql)
{
	int rc = sqlite3_exec(db->conn, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : db_fail(db, rc);
}

static int db_configure(struct db *db, unsigned flags)
{
	int r;

	sqlite3_extended_result_codes(db->conn, 1);
	if (sqlite3_busy_timeout(db->conn, DB_BUSY_TIMEOUT_MS) != SQLITE_OK)
		return db_fail(db, sqlite3_errcode(db->conn));
	if ((r = db_set_wal(db)) < 0)
		return r;
	if ((r = db_pragma(db, flags & DB_OPEN_SYNC_NORMAL ? SQL_SYNC_NORMAL : SQL_SYNC_FULL)) < 0)
		return r;
	return db_pragma(db, "PRAGMA foreign_keys=ON");
}

/*
 * The state file holds every user's peers: 0600 from the first instant.
 * SQLite creates files 0644 (less the umask), and gives -wal and -shm the
 * main file's mode, so the main file is created (or tightened) here first;
 * -wal/-shm left by an older, looser version are tightened too.  A file
 * that cannot be opened is left to sqlite3_open_v2, whose error says why;
 * ":memory:" and "file:" URIs are SQLite's and left alone.
 */
static int db_files_private(const char *path)
{
	static const char *const suffixes[] = {"-wal", "-shm"};
	char side[4096];
	struct stat st;
	size_t i;
	int fd;

	if (path[0] == ':' || strncmp(path, "file:", 5) == 0)
		return 0;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return 0;
	if (fstat(fd, &st) < 0 || ((st.st_mode & 077) && fchmod(fd, st.st_mode & 0700) < 0)) {
		close(fd);
		return PV_EIO;
	}
	close(fd);
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		if (snprintf(side, sizeof(side), "%s%s", path, suffixes[i]) >= (int)sizeof(side))
			return PV_EINVAL;
		if (lstat(side, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) &&
		    chmod(side, st.st_mode & 0700) < 0)
			return PV_EIO;
	}
	return 0;
}

int db_open_flags(struct db **out, const char *path, unsigned flags)
{
	struct db *db;
	int rc, r;

	*out = NULL;
	if (!path || !*path || (flags & ~DB_OPEN_SYNC_NORMAL))
		return PV_EINVAL;
	db = calloc(1, sizeof(*db));
	if (!db)
		return PV_ENOMEM;
	*out = db;
	if ((r = db_files_private(path)) < 0) {
		snprintf(db->errmsg, sizeof(db->errmsg),
		         "cannot create %s with mode 0600 (or tighten it): %s", path,
		         strerror(errno));
		return r;
	}
	rc = sqlite3_open_v2(path, &db->conn,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                     NULL);
	if (rc != SQLITE_OK) {
		r = db_fail(db, rc);
		snprintf(db->errmsg, sizeof(db->errmsg), "cannot open %s: %s", path,
		         db->conn ? sqlite3_errmsg(db->conn) : sqlite3_errstr(rc));
		return r;
	}
	if ((r = db_configure(db, flags)) < 0 || (r = db_migrate(db)) < 0)
		return r;
	db->errmsg[0] = '\0';
	return 0;
}

int db_open(struct db **out, const char *path)
{
	return db_open_flags(out, path, 0);
}

void db_set_seal_key(struct db *db, const uint8_t key[PV_KEY_LEN])
{
	memcpy(db->seal_key, key, PV_KEY_LEN);
	db->has_seal_key = 1;
}

void db_close(struct db *db)
{
	size_t i;

	if (!db)
		return;
	for (i = 0; i < db->n_cached; i++)
		sqlite3_finalize(db->cache[i].stmt);
	sqlite3_close(db->conn);
	OPENSSL_clear_free(db, sizeof(*db));
}
