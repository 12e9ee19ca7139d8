/* SPDX-License-Identifier: MIT */
/* db/ internals: the handle, its prepared-statement cache and the error/transaction helpers. */
#ifndef PV_DB_INT_H
#define PV_DB_INT_H

#include "db.h"

/* Distinct SQL texts a handle ever prepares; db_stmt() refuses more. */
#define DB_STMT_MAX 64

/*
 * A driver's prepared statement: sqlite3_stmt for SQLite (db/sqlite.c), a
 * libpq statement with its bound parameters and last result for
 * PostgreSQL (db/pg.c).  Opaque outside its driver.
 */
struct db_st;

enum db_dialect { DB_SQLITE, DB_PG };

/*
 * What a backend provides under db/'s helpers.  Every function that can
 * fail records the message in db->errmsg and returns a PV_E*.  SQL is
 * written once with ?N placeholders and, where the dialects differ, picked
 * with DB_SQL().
 */
struct db_driver {
	enum db_dialect dialect;
	const char *begin_sql; /* a write transaction: BEGIN IMMEDIATE / BEGIN */
	/*
	 * 1: db_group_begin opens one transaction for the group (SQLite: one
	 * fsync for many writes).  0: each step commits alone (PostgreSQL:
	 * controllers' groups would hold row and lease locks of many servers
	 * at once and deadlock each other; the server batches the WAL flushes
	 * of concurrent commits itself).
	 */
	int group_commit;
	/* Connect db->conn to target (a file path / a URL); flags as db_open_flags. */
	int (*open)(struct db *db, const char *target, unsigned flags);
	int (*prepare)(struct db *db, const char *sql, struct db_st **out);
	void (*finalize)(struct db_st *st);
	/* Reset after use and drop the bindings. */
	void (*reset)(struct db_st *st);
	/* Text is borrowed until the statement's next reset; NULL binds SQL NULL. */
	int (*bind_text)(struct db *db, struct db_st *st, int i, const char *s);
	int (*bind_int)(struct db *db, struct db_st *st, int i, int64_t v);
	/* n bytes, copied; NULL binds SQL NULL. */
	int (*bind_blob)(struct db *db, struct db_st *st, int i, const void *p, size_t n);
	/* 1: a row is there to read; 0: done; or a PV_E*. */
	int (*step)(struct db *db, struct db_st *st);
	int64_t (*col_int)(struct db_st *st, int i);
	/* NULL for SQL NULL; borrowed until the next step or reset; *len its bytes. */
	const char *(*col_text)(struct db_st *st, int i, size_t *len);
	const void *(*col_blob)(struct db_st *st, int i, size_t *len);
	const char *(*col_name)(struct db_st *st, int i);
	/* Rows changed by the last statement; since the handle opened. */
	int64_t (*changes)(struct db *db);
	int64_t (*total_changes)(struct db *db);
	/* Run constant SQL (DDL, several statements, no data). */
	int (*exec)(struct db *db, const char *sql);
	/* 1 while a transaction is open. */
	int (*in_txn)(struct db *db);
	/* One integer that moves when another connection committed (db_data_version). */
	const char *data_version_sql;
	/*
	 * Inside a write transaction: hold the server's lease allocation until
	 * the transaction ends (SQLite: BEGIN IMMEDIATE already does).
	 */
	int (*lock_server)(struct db *db, const char *server_id);
	/* Around migrations: one process at a time (SQLite: each step's BEGIN IMMEDIATE). */
	int (*migrate_lock)(struct db *db, int lock);
	void (*close)(struct db *db);
};

extern const struct db_driver db_sqlite_driver;
extern const struct db_driver db_pg_driver;

/* The text for this handle's dialect, where SQLite and PostgreSQL differ. */
#define DB_SQL(db, sqlite_sql, pg_sql) ((db)->drv->dialect == DB_PG ? (pg_sql) : (sqlite_sql))

struct db_stmt_slot {
	const char *sql; /* a string literal: looked up by address */
	struct db_st *stmt;
};

struct db {
	const struct db_driver *drv;
	void *conn; /* sqlite3 * or the PostgreSQL driver's connection */
	struct db_stmt_slot cache[DB_STMT_MAX];
	size_t n_cached;
	char errmsg[512];
	db_commit_observer commit_observer;
	void *commit_observer_arg;
	uint8_t seal_key[PV_KEY_LEN]; /* PSK sealing key (db_set_seal_key), cleansed at close */
	int has_seal_key;
	int in_group; /* between db_group_begin and db_group_commit */
};

/*
 * A group transaction is open: each transaction is a savepoint of it.  Only
 * on a backend that commits groups as one (SQLite); on PostgreSQL a group's
 * steps commit one by one.
 */
static inline int db_grouped(const struct db *db)
{
	return db->in_group && db->drv->group_commit;
}

/*
 * The cached statement for `sql` (a string literal, looked up by its
 * address), prepared on first use, reset and with no bindings.  0 or a
 * recorded PV_E*; *out is borrowed from the handle.
 */
int db_stmt(struct db *db, const char *sql, struct db_st **out);
/* Reset a statement after use and drop its bindings, ending its read. */
void db_stmt_done(struct db *db, struct db_st *st);

/* Record a failure of our own (bad argument, not found) and return err. */
int db_failf(struct db *db, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefix the recorded message with "what: " (what names the object) and return err. */
int db_wrap(struct db *db, int err, const char *what);

/*
 * Step st to the end, reading each row with read() into a new array of
 * elem-sized entries: *out (owned by the caller, free()) and *n.  Resets st.
 */
typedef int (*db_row_reader)(struct db *db, struct db_st *st, void *row);
int db_collect(struct db *db, struct db_st *st, size_t elem, db_row_reader read, void **out,
               size_t *n);

/*
 * Step st for at most one row and read it with read() (NULL: just test for
 * a row).  1 when a row was read, 0 when there is none, or a PV_E*.  Resets st.
 */
int db_one(struct db *db, struct db_st *st, db_row_reader read, void *row);
/* A db_row_reader for a query whose first column is an int: row is an int *. */
int db_read_int(struct db *db, struct db_st *st, void *row);

/* Bind helpers: 0 or a recorded PV_E*.  Text is borrowed: keep it alive until reset. */
int db_bind_text(struct db *db, struct db_st *st, int i, const char *s);
int db_bind_int(struct db *db, struct db_st *st, int i, int64_t v);
/* Bind n bytes (copied); NULL binds SQL NULL. */
int db_bind_blob(struct db *db, struct db_st *st, int i, const void *p, size_t n);
/* Step a statement that returns no rows, then reset it. */
int db_step_done(struct db *db, struct db_st *st);
/* Copy column i (NULL reads as "") into a buffer of size len; truncation is PV_EDB. */
int db_column_text(struct db *db, struct db_st *st, int i, char *buf, size_t len);
/* Column i of the current row as an integer (NULL reads as 0). */
int64_t db_col_int(struct db *db, struct db_st *st, int i);
/* Column i as bytes (NULL: SQL NULL), borrowed until the next step; *len its size. */
const void *db_col_blob(struct db *db, struct db_st *st, int i, size_t *len);
/* Rows the last INSERT/UPDATE/DELETE changed. */
int64_t db_row_changes(struct db *db);

/*
 * BEGIN IMMEDIATE on SQLite (waits up to the busy timeout for the write
 * lock), BEGIN on PostgreSQL, COMMIT,
 * ROLLBACK.  Inside a group (db_group_begin) they are SAVEPOINT, RELEASE and
 * ROLLBACK TO: each transaction still succeeds or fails whole, and the
 * group's one COMMIT makes them all durable.
 */
int db_begin(struct db *db);
/* Run one constant statement (no parameters, no rows). */
int db_run(struct db *db, const char *sql);
int db_commit(struct db *db);
void db_rollback(struct db *db);

/* Apply every migration the file lacks, each in its own transaction. */
int db_migrate(struct db *db);

/* PV_EINVAL unless s is non-NULL, non-empty and at most max bytes; names `what`. */
int db_check_id(struct db *db, const char *what, const char *s, size_t max);

/* Bind a fleet entry's fields to ?1..?9 (id … ssh_user, servers.c's column order). */
int db_bind_server(struct db *db, struct db_st *st, const struct pv_server *s);
/* Add a peer's counter growth since the last pass to its user's day (usage.c). */
int db_usage_add(struct db *db, const char *server_id, const struct db_peer_stats *p);

/* Unix seconds for created_at/updated_at/checked_at/audit.at. */
int64_t db_now(void);

#endif
