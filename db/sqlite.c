/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend of db/ (the default, one controller): the driver
 * functions under db.c's helpers, and opening the file with WAL, the
 * durability pragma, foreign keys and a busy timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* The driver's statement is SQLite's own. */
static sqlite3_stmt *lite(struct db_st *st)
{
	return (sqlite3_stmt *)st;
}

/* SQLite result code -> PV_E*: UNIQUE clashes and lock timeouts are the ones callers act on. */
static int lite_map(int rc)
{
	switch (rc & 0xff) {
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

/* Record SQLite's failure rc (with its message) and return the PV_E* it maps to. */
static int lite_fail(struct db *db, int rc)
{
	const char *msg = db->conn ? sqlite3_errmsg(db->conn) : sqlite3_errstr(rc);

	return db_failf(db, lite_map(rc), "sqlite: %s (code %d)", msg, rc);
}

static int lite_check(struct db *db, int rc)
{
	return rc == SQLITE_OK ? 0 : lite_fail(db, rc);
}

static int lite_prepare(struct db *db, const char *sql, struct db_st **out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v3(db->conn, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);

	*out = (struct db_st *)st;
	return lite_check(db, rc);
}

static void lite_finalize(struct db_st *st)
{
	sqlite3_finalize(lite(st));
}

static void lite_reset(struct db_st *st)
{
	sqlite3_reset(lite(st));
	sqlite3_clear_bindings(lite(st));
}

static int lite_bind_text(struct db *db, struct db_st *st, int i, const char *s)
{
	return lite_check(db, s ? sqlite3_bind_text(lite(st), i, s, -1, SQLITE_STATIC)
	                        : sqlite3_bind_null(lite(st), i));
}

static int lite_bind_int(struct db *db, struct db_st *st, int i, int64_t v)
{
	return lite_check(db, sqlite3_bind_int64(lite(st), i, v));
}

static int lite_bind_blob(struct db *db, struct db_st *st, int i, const void *p, size_t n)
{
	return lite_check(db, p ? sqlite3_bind_blob(lite(st), i, p, (int)n, SQLITE_TRANSIENT)
	                        : sqlite3_bind_null(lite(st), i));
}

static int lite_step(struct db *db, struct db_st *st)
{
	int rc = sqlite3_step(lite(st));

	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : lite_fail(db, rc);
}

static int64_t lite_col_int(struct db_st *st, int i)
{
	return sqlite3_column_int64(lite(st), i);
}

static const char *lite_col_text(struct db_st *st, int i, size_t *len)
{
	const unsigned char *s = sqlite3_column_text(lite(st), i);

	*len = (size_t)sqlite3_column_bytes(lite(st), i);
	return (const char *)s;
}

static const void *lite_col_blob(struct db_st *st, int i, size_t *len)
{
	const void *p = sqlite3_column_blob(lite(st), i);

	*len = (size_t)sqlite3_column_bytes(lite(st), i);
	return p;
}

static const char *lite_col_name(struct db_st *st, int i)
{
	return sqlite3_column_name(lite(st), i);
}

static int64_t lite_changes(struct db *db)
{
	return sqlite3_changes64(db->conn);
}

static int64_t lite_total_changes(struct db *db)
{
	return sqlite3_total_changes64(db->conn);
}

/* Constant SQL only: sqlite3_exec never sees data here. */
static int lite_exec(struct db *db, const char *sql)
{
	return lite_check(db, sqlite3_exec(db->conn, sql, NULL, NULL, NULL));
}

static int lite_in_txn(struct db *db)
{
	return !sqlite3_get_autocommit(db->conn);
}

/* BEGIN IMMEDIATE took the file's one write lock: allocations are already serialised. */
static int lite_lock_server(struct db *db, const char *server_id)
{
	(void)db;
	(void)server_id;
	return 0;
}

static int lite_migrate_lock(struct db *db, int lock)
{
	(void)db;
	(void)lock;
	return 0;
}

static void lite_close(struct db *db)
{
	sqlite3_close(db->conn);
	db->conn = NULL;
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
		return lite_fail(db, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_BUSY) {
		lite_fail(db, rc);
		goto out; /* not yet: the caller retries */
	}
	if (rc != SQLITE_ROW) {
		r = lite_fail(db, rc);
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

static int db_configure(struct db *db, unsigned flags)
{
	int r;

	sqlite3_extended_result_codes(db->conn, 1);
	if (sqlite3_busy_timeout(db->conn, DB_BUSY_TIMEOUT_MS) != SQLITE_OK)
		return lite_fail(db, sqlite3_errcode(db->conn));
	if ((r = db_set_wal(db)) < 0)
		return r;
	if ((r = lite_exec(db, flags & DB_OPEN_SYNC_NORMAL ? SQL_SYNC_NORMAL : SQL_SYNC_FULL)) < 0)
		return r;
	return lite_exec(db, "PRAGMA foreign_keys=ON");
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

static int lite_open(struct db *db, const char *path, unsigned flags)
{
	sqlite3 *conn = NULL;
	int rc, r;

	if ((r = db_files_private(path)) < 0)
		return db_failf(db, r, "cannot create %s with mode 0600 (or tighten it): %s", path,
		                strerror(errno));
	rc = sqlite3_open_v2(path, &conn,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                     NULL);
	db->conn = conn;
	if (rc != SQLITE_OK)
		return db_failf(db, lite_map(rc), "cannot open %s: %s", path,
		                conn ? sqlite3_errmsg(conn) : sqlite3_errstr(rc));
	return db_configure(db, flags);
}

const struct db_driver db_sqlite_driver = {
        .dialect = DB_SQLITE,
        .begin_sql = "BEGIN IMMEDIATE",
        .group_commit = 1,
        .open = lite_open,
        .prepare = lite_prepare,
        .finalize = lite_finalize,
        .reset = lite_reset,
        .bind_text = lite_bind_text,
        .bind_int = lite_bind_int,
        .bind_blob = lite_bind_blob,
        .step = lite_step,
        .col_int = lite_col_int,
        .col_text = lite_col_text,
        .col_blob = lite_col_blob,
        .col_name = lite_col_name,
        .changes = lite_changes,
        .total_changes = lite_total_changes,
        .exec = lite_exec,
        .in_txn = lite_in_txn,
        .data_version_sql = "PRAGMA data_version",
        .lock_server = lite_lock_server,
        .migrate_lock = lite_migrate_lock,
        .close = lite_close,
};
