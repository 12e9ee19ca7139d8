/* SPDX-License-Identifier: MIT */
/* db/ internals: the handle, its prepared-statement cache and the error/transaction helpers. */
#ifndef PV_DB_INT_H
#define PV_DB_INT_H

#include <sqlite3.h>

#include "db.h"

/* Distinct SQL texts a handle ever prepares; db_stmt() refuses more. */
#define DB_STMT_MAX 64

struct db_stmt_slot {
	const char *sql; /* a string literal: looked up by address */
	sqlite3_stmt *stmt;
};

struct db {
	sqlite3 *conn;
	struct db_stmt_slot cache[DB_STMT_MAX];
	size_t n_cached;
	char errmsg[512];
	db_commit_observer commit_observer;
	void *commit_observer_arg;
	uint8_t seal_key[PV_KEY_LEN]; /* PSK sealing key (db_set_seal_key), cleansed at close */
	int has_seal_key;
	int group; /* inside db_group_begin: transactions are savepoints of the group's */
};

/*
 * The cached statement for `sql` (a string literal, looked up by its
 * address), prepared on first use, reset and with no bindings.  0 or a
 * recorded PV_E*; *out is borrowed from the handle.
 */
int db_stmt(struct db *db, const char *sql, sqlite3_stmt **out);
/* Reset a statement after use and drop its bindings, ending its read. */
void db_stmt_done(sqlite3_stmt *st);

/* Record SQLite's failure `rc` (with its message) and return the PV_E* it maps to. */
int db_fail(struct db *db, int rc);
/* Record a failure of our own (bad argument, not found) and return err. */
int db_failf(struct db *db, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefix the recorded message with "what: " (what names the object) and return err. */
int db_wrap(struct db *db, int err, const char *what);

/*
 * Step st to the end, reading each row with read() into a new array of
 * elem-sized entries: *out (owned by the caller, free()) and *n.  Resets st.
 */
typedef int (*db_row_reader)(struct db *db, sqlite3_stmt *st, void *row);
int db_collect(struct db *db, sqlite3_stmt *st, size_t elem, db_row_reader read, void **out,
               size_t *n);

/*
 * Step st for at most one row and read it with read() (NULL: just test for
 * a row).  1 when a row was read, 0 when there is none, or a PV_E*.  Resets st.
 */
int db_one(struct db *db, sqlite3_stmt *st, db_row_reader read, void *row);
/* A db_row_reader for a query whose first column is an int: row is an int *. */
int db_read_int(struct db *db, sqlite3_stmt *st, void *row);

/* Bind helpers: 0 or a recorded PV_E*.  Text is bound SQLITE_STATIC: keep it alive until reset. */
int db_bind_text(struct db *db, sqlite3_stmt *st, int i, const char *s);
int db_bind_int(struct db *db, sqlite3_stmt *st, int i, int64_t v);
/* Bind n bytes (copied by SQLite: SQLITE_TRANSIENT); NULL binds SQL NULL. */
int db_bind_blob(struct db *db, sqlite3_stmt *st, int i, const void *p, size_t n);
/* Step a statement that returns no rows, then reset it. */
int db_step_done(struct db *db, sqlite3_stmt *st);
/* Copy column i (NULL reads as "") into a buffer of size len; truncation is PV_EDB. */
int db_column_text(struct db *db, sqlite3_stmt *st, int i, char *buf, size_t len);

/*
 * BEGIN IMMEDIATE (waits up to the busy timeout for the write lock), COMMIT,
 * ROLLBACK.  Inside a group (db_group_begin) they are SAVEPOINT, RELEASE and
 * ROLLBACK TO: each transaction still succeeds or fails whole, and the
 * group's one COMMIT makes them all durable.
 */
int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);

/* Apply every migration the file lacks, each in its own transaction. */
int db_migrate(struct db *db);

/* PV_EINVAL unless s is non-NULL, non-empty and at most max bytes; names `what`. */
int db_check_id(struct db *db, const char *what, const char *s, size_t max);

/* Bind a fleet entry's fields to ?1..?9 (id … ssh_user, servers.c's column order). */
int db_bind_server(struct db *db, sqlite3_stmt *st, const struct pv_server *s);
/* Add a peer's counter growth since the last pass to its user's day (usage.c). */
int db_usage_add(struct db *db, const char *server_id, const struct db_peer_stats *p);

/* Unix seconds for created_at/updated_at/checked_at/audit.at. */
int64_t db_now(void);

#endif
