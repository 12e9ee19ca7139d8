/* SPDX-License-Identifier: MIT */
/*
 * Opening the state database (SQLite file or PostgreSQL URL), the statement
 * cache, the bind/step/column helpers over the backend's driver, and
 * transactions with group commit.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "db_int.h"

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

int db_stmt(struct db *db, const char *sql, struct db_st **out)
{
	struct db_stmt_slot *slot;
	size_t i;
	int r;

	*out = NULL;
	for (i = 0; i < db->n_cached; i++) {
		if (db->cache[i].sql == sql) {
			db_stmt_done(db, db->cache[i].stmt);
			*out = db->cache[i].stmt;
			return 0;
		}
	}
	if (db->n_cached == DB_STMT_MAX)
		return db_failf(db, PV_EDB, "statement cache full (%d); raise DB_STMT_MAX",
		                DB_STMT_MAX);
	slot = &db->cache[db->n_cached];
	if ((r = db->drv->prepare(db, sql, &slot->stmt)) < 0)
		return r;
	slot->sql = sql;
	db->n_cached++;
	*out = slot->stmt;
	return 0;
}

void db_stmt_done(struct db *db, struct db_st *st)
{
	db->drv->reset(st);
}

int db_bind_text(struct db *db, struct db_st *st, int i, const char *s)
{
	return db->drv->bind_text(db, st, i, s);
}

int db_bind_int(struct db *db, struct db_st *st, int i, int64_t v)
{
	return db->drv->bind_int(db, st, i, v);
}

int db_bind_blob(struct db *db, struct db_st *st, int i, const void *p, size_t n)
{
	return db->drv->bind_blob(db, st, i, p, n);
}

int db_step_done(struct db *db, struct db_st *st)
{
	int r = db->drv->step(db, st);

	db_stmt_done(db, st);
	if (r > 0)
		return db_failf(db, PV_EDB, "a statement without rows returned one");
	return r;
}

int64_t db_col_int(struct db *db, struct db_st *st, int i)
{
	return db->drv->col_int(st, i);
}

const void *db_col_blob(struct db *db, struct db_st *st, int i, size_t *len)
{
	return db->drv->col_blob(st, i, len);
}

int64_t db_row_changes(struct db *db)
{
	return db->drv->changes(db);
}

int db_column_text(struct db *db, struct db_st *st, int i, char *buf, size_t len)
{
	size_t n;
	const char *s = db->drv->col_text(st, i, &n);

	if (!s) {
		buf[0] = '\0';
		return 0;
	}
	if (n >= len)
		return db_failf(db, PV_EDB, "column %s holds %zu bytes, more than %zu",
		                db->drv->col_name(st, i), n, len - 1);
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

int db_collect(struct db *db, struct db_st *st, size_t elem, db_row_reader read, void **out,
               size_t *n)
{
	char *list = NULL, *grown;
	size_t count = 0, cap = 0;
	int r;

	*out = NULL;
	*n = 0;
	while ((r = db->drv->step(db, st)) > 0) {
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
	if (r < 0)
		goto fail;
	db_stmt_done(db, st);
	*out = list;
	*n = count;
	return 0;
fail:
	db_stmt_done(db, st);
	free(list);
	return r;
}

int db_one(struct db *db, struct db_st *st, db_row_reader read, void *row)
{
	int found = db->drv->step(db, st), r = found;

	if (found > 0)
		r = read ? read(db, st, row) : 0;
	db_stmt_done(db, st);
	return r < 0 ? r : found;
}

int db_read_int(struct db *db, struct db_st *st, void *row)
{
	*(int *)row = (int)db_col_int(db, st, 0);
	return 0;
}

int64_t db_changes(struct db *db)
{
	return db->drv->total_changes(db);
}

static int read_int64(struct db *db, struct db_st *st, void *row)
{
	*(int64_t *)row = db_col_int(db, st, 0);
	return 0;
}

int db_data_version(struct db *db, int64_t *out)
{
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, db->drv->data_version_sql, &st)) < 0)
		return r;
	if ((r = db_one(db, st, read_int64, out)) < 0)
		return r;
	return r == 1 ? 0 : db_failf(db, PV_EIO, "%s: no row", db->drv->data_version_sql);
}

static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_SAVEPOINT[] = "SAVEPOINT pv";
static const char SQL_RELEASE[] = "RELEASE pv";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO pv";

int db_run(struct db *db, const char *sql)
{
	struct db_st *st;
	int r = db_stmt(db, sql, &st);

	return r < 0 ? r : db_step_done(db, st);
}

int db_begin(struct db *db)
{
	return db_run(db, db_grouped(db) ? SQL_SAVEPOINT : db->drv->begin_sql);
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
	int r = db_grouped(db) ? db_run(db, SQL_RELEASE) : commit_now(db);

	if (r < 0 && db_grouped(db))
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

	if (!db->drv->in_txn(db))
		return; /* the backend already rolled back (e.g. SQLite after SQLITE_FULL) */
	memcpy(saved, db->errmsg, sizeof(saved));
	if (db_grouped(db)) {
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

	if (db->in_group)
		return db_failf(db, PV_EINVAL, "a group transaction is already open");
	if (db->drv->group_commit && (r = db_run(db, db->drv->begin_sql)) < 0)
		return r;
	db->in_group = 1;
	return 0;
}

int db_group_commit(struct db *db)
{
	if (!db->in_group)
		return db_failf(db, PV_EINVAL, "no group transaction is open");
	if (!db_grouped(db)) {
		db->in_group = 0;
		return 0; /* PostgreSQL: each step committed on its own */
	}
	db->in_group = 0;
	if (!db->drv->in_txn(db))
		return db_failf(db, PV_EIO, "the group transaction was rolled back by the backend");
	return commit_now(db);
}

/* "postgresql://…" or "postgres://…" (libpq's URI forms) select PostgreSQL. */
static int is_pg_url(const char *target)
{
	return strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0;
}

int db_open_flags(struct db **out, const char *target, unsigned flags)
{
	struct db *db;
	int r;

	*out = NULL;
	if (!target || !*target || (flags & ~DB_OPEN_SYNC_NORMAL))
		return PV_EINVAL;
	db = calloc(1, sizeof(*db));
	if (!db)
		return PV_ENOMEM;
	*out = db;
	db->drv = is_pg_url(target) ? &db_pg_driver : &db_sqlite_driver;
	if ((r = db->drv->open(db, target, flags)) < 0)
		return r;
	if ((r = db_migrate(db)) < 0)
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
		db->drv->finalize(db->cache[i].stmt);
	if (db->conn)
		db->drv->close(db);
	OPENSSL_clear_free(db, sizeof(*db));
}
