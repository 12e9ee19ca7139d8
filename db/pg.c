/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL backend of db/ (several controllers on one database,
 * docs/ha.md), through libpq: each SQL text becomes a server-side prepared
 * statement on first use, its ?N placeholders rewritten to $N here and only
 * here, with the parameter types of its first binding.  Results are read in
 * text form.  A broken connection is reset before the next statement (its
 * prepared statements are made again), so a restarted or failed-over server
 * costs the requests in flight, not the controller.
 */
#include <ctype.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "db_int.h"

/* More ?N than any db/ statement uses. */
#define PG_MAX_PARAMS 16

/* Type OIDs of the parameters we bind (pg_type.h; stable since PostgreSQL 7). */
#define PG_OID_BYTEA 17
#define PG_OID_INT8  20
#define PG_OID_TEXT  25

/*
 * Advisory lock ids, in decimal for the SQL text.  Leases take the two-key
 * form (this class, hashtext(server id)); the session locks one bigint key
 * (the two key spaces do not overlap).
 */
#define PG_LOCK_LEASE   "1886781441"          /* 0x70760001 */
#define PG_LOCK_MIGRATE "8103497018326597633" /* 0x7076000000000001 */
#define PG_LOCK_LEADER  "8103497018326597634" /* 0x7076000000000002 */

/* Seconds a statement waits for a lock (rows, a server's lease lock) before PV_EBUSY. */
static const char SQL_SESSION[] = "SET lock_timeout = '5s'";

struct pg_conn {
	PGconn *pq;
	int64_t changes, total;
	unsigned epoch;        /* bumped by a reset: statements prepared before are gone */
	unsigned n_named;      /* statement names handed out */
	unsigned leader_epoch; /* epoch + 1 of the session holding the leader lock, 0 = none */
};

struct db_st {
	char *sql; /* with $N placeholders */
	char name[16];
	unsigned epoch; /* of the connection it was prepared on; 0 = not yet */
	int n_params;   /* the highest N of ?N */
	Oid types[PG_MAX_PARAMS];
	const char *values[PG_MAX_PARAMS];
	int lengths[PG_MAX_PARAMS], formats[PG_MAX_PARAMS];
	char ints[PG_MAX_PARAMS][24]; /* integers bound, as text */
	void *blobs[PG_MAX_PARAMS];   /* copies of the bytes bound */
	PGresult *res;
	int row;             /* current row of res; -1 before the first step */
	unsigned char *blob; /* the last column read as bytea, unescaped */
};

static struct pg_conn *pg(struct db *db)
{
	return db->conn;
}

/* SQLSTATE -> PV_E*: the same cases as SQLite's codes (UNIQUE clash, lock wait, constraint). */
static int pg_map(const char *state)
{
	if (!state)
		return PV_EDB; /* the connection failed, no server answer */
	if (strcmp(state, "23505") == 0)
		return PV_EEXIST;
	if (strncmp(state, "23", 2) == 0)
		return PV_EINVAL;
	if (strcmp(state, "55P03") == 0 || strcmp(state, "40001") == 0 ||
	    strcmp(state, "40P01") == 0)
		return PV_EBUSY;
	if (strncmp(state, "53", 2) == 0)
		return PV_ENOMEM;
	return PV_EDB;
}

/* Record the failure of res (or of the connection when res is NULL). */
static int pg_fail(struct db *db, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(pg(db)->pq);
	size_t len = strcspn(msg, "\n");

	return db_failf(db, pg_map(state), "postgresql: %.*s (SQLSTATE %s)", (int)len, msg,
	                state ? state : "none: connection failed");
}

/* Run constant SQL; PGRES_COMMAND_OK or TUPLES_OK is success. */
static int pg_exec(struct db *db, const char *sql)
{
	PGresult *res = PQexec(pg(db)->pq, sql);
	ExecStatusType s = PQresultStatus(res);
	int r = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? 0 : pg_fail(db, res);

	PQclear(res);
	return r;
}

/* A broken connection is reset (same parameters) before the next statement. */
static int pg_alive(struct db *db)
{
	struct pg_conn *c = pg(db);

	if (PQstatus(c->pq) == CONNECTION_OK)
		return 0;
	PQreset(c->pq);
	if (PQstatus(c->pq) != CONNECTION_OK)
		return pg_fail(db, NULL);
	c->epoch++;
	return pg_exec(db, SQL_SESSION);
}

/* ?N -> $N outside quoted text; *n_params the highest N.  NULL when out of memory. */
static char *rewrite_placeholders(const char *sql, int *n_params)
{
	char *out = strdup(sql), *p;
	int quoted = 0, n;

	*n_params = 0;
	for (p = out; p && *p; p++) {
		if (*p == '\'')
			quoted = !quoted;
		if (quoted || *p != '?' || !isdigit((unsigned char)p[1]))
			continue;
		*p = '$';
		n = (int)strtol(p + 1, NULL, 10);
		if (n > *n_params)
			*n_params = n;
	}
	return out;
}

static void pg_reset(struct db_st *st)
{
	int i;

	PQclear(st->res);
	st->res = NULL;
	st->row = -1;
	PQfreemem(st->blob);
	st->blob = NULL;
	for (i = 0; i < PG_MAX_PARAMS; i++) {
		free(st->blobs[i]);
		st->blobs[i] = NULL;
		st->values[i] = NULL;
		st->lengths[i] = 0;
		st->formats[i] = 0;
	}
}

static void pg_finalize(struct db_st *st)
{
	if (!st)
		return;
	pg_reset(st);
	free(st->sql);
	free(st);
}

static int pg_prepare(struct db *db, const char *sql, struct db_st **out)
{
	struct db_st *st = calloc(1, sizeof(*st));
	int r = 0;

	*out = NULL;
	if (!st || !(st->sql = rewrite_placeholders(sql, &st->n_params))) {
		r = db_failf(db, PV_ENOMEM, "out of memory preparing a statement");
		goto out;
	}
	if (st->n_params > PG_MAX_PARAMS) {
		r = db_failf(db, PV_EDB, "statement has %d parameters, more than %d", st->n_params,
		             PG_MAX_PARAMS);
		goto out;
	}
	st->row = -1;
	snprintf(st->name, sizeof(st->name), "pv%u", ++pg(db)->n_named);
	*out = st;
	st = NULL;
out:
	pg_finalize(st);
	return r;
}

/* Parameter i (1-based) in range; its type is set on every bind, kept for the prepare. */
static int pg_param(struct db *db, struct db_st *st, int i, Oid type)
{
	if (i < 1 || i > st->n_params)
		return db_failf(db, PV_EDB, "parameter %d out of range 1..%d", i, st->n_params);
	st->types[i - 1] = type;
	return 0;
}

static int pg_bind_text(struct db *db, struct db_st *st, int i, const char *s)
{
	int r;

	if ((r = pg_param(db, st, i, PG_OID_TEXT)) < 0)
		return r;
	st->values[i - 1] = s;
	return 0;
}

static int pg_bind_int(struct db *db, struct db_st *st, int i, int64_t v)
{
	int r;

	if ((r = pg_param(db, st, i, PG_OID_INT8)) < 0)
		return r;
	snprintf(st->ints[i - 1], sizeof(st->ints[i - 1]), "%lld", (long long)v);
	st->values[i - 1] = st->ints[i - 1];
	return 0;
}

static int pg_bind_blob(struct db *db, struct db_st *st, int i, const void *p, size_t n)
{
	int r;

	if ((r = pg_param(db, st, i, PG_OID_BYTEA)) < 0)
		return r;
	free(st->blobs[i - 1]);
	st->blobs[i - 1] = NULL;
	st->values[i - 1] = NULL;
	if (!p)
		return 0;
	if (!(st->blobs[i - 1] = malloc(n ? n : 1)))
		return db_failf(db, PV_ENOMEM, "out of memory binding %zu bytes", n);
	memcpy(st->blobs[i - 1], p, n);
	st->values[i - 1] = st->blobs[i - 1];
	st->lengths[i - 1] = (int)n;
	st->formats[i - 1] = 1; /* binary: the bytes as they are */
	return 0;
}

/* Make the server-side statement on this connection, typed by the bindings of its first use. */
static int pg_ensure_prepared(struct db *db, struct db_st *st)
{
	struct pg_conn *c = pg(db);
	PGresult *res;
	int r = 0;

	if (st->epoch == c->epoch + 1)
		return 0;
	res = PQprepare(c->pq, st->name, st->sql, st->n_params, st->types);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		r = pg_fail(db, res);
	else
		st->epoch = c->epoch + 1;
	PQclear(res);
	return r;
}

/* 1 for the command tag of an INSERT, UPDATE or DELETE ("INSERT 0 1"). */
static int is_write(const char *tag)
{
	return strncmp(tag, "INSERT ", 7) == 0 || strncmp(tag, "UPDATE ", 7) == 0 ||
	       strncmp(tag, "DELETE ", 7) == 0;
}

/* Execute st; its rows (if any) are then read one step at a time. */
static int pg_run(struct db *db, struct db_st *st)
{
	struct pg_conn *c = pg(db);
	ExecStatusType s;
	int r;

	if ((r = pg_alive(db)) < 0)
		return r;
	if ((r = pg_ensure_prepared(db, st)) < 0)
		return r;
	st->res = PQexecPrepared(c->pq, st->name, st->n_params, st->values, st->lengths,
	                         st->formats, 0);
	s = PQresultStatus(st->res);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
		return pg_fail(db, st->res);
	/* PQcmdTuples counts a SELECT's rows too: only writes are changes. */
	c->changes = is_write(PQcmdStatus(st->res)) ? strtoll(PQcmdTuples(st->res), NULL, 10) : 0;
	c->total += c->changes;
	return 0;
}

static int pg_step(struct db *db, struct db_st *st)
{
	int r;

	if (!st->res && (r = pg_run(db, st)) < 0)
		return r;
	PQfreemem(st->blob);
	st->blob = NULL;
	if (st->row + 1 >= PQntuples(st->res))
		return 0;
	st->row++;
	return 1;
}

static int64_t pg_col_int(struct db_st *st, int i)
{
	return strtoll(PQgetvalue(st->res, st->row, i), NULL, 10);
}

static const char *pg_col_text(struct db_st *st, int i, size_t *len)
{
	*len = 0;
	if (PQgetisnull(st->res, st->row, i))
		return NULL;
	*len = (size_t)PQgetlength(st->res, st->row, i);
	return PQgetvalue(st->res, st->row, i);
}

/* bytea comes as text ("\x…" hex): unescaped into st->blob; other columns as their text. */
static const void *pg_col_blob(struct db_st *st, int i, size_t *len)
{
	const char *text = pg_col_text(st, i, len);

	if (!text || PQftype(st->res, i) != PG_OID_BYTEA)
		return text;
	PQfreemem(st->blob);
	st->blob = PQunescapeBytea((const unsigned char *)text, len);
	if (!st->blob)
		*len = 0;
	return st->blob;
}

static const char *pg_col_name(struct db_st *st, int i)
{
	return PQfname(st->res, i);
}

static int64_t pg_changes(struct db *db)
{
	return pg(db)->changes;
}

static int64_t pg_total_changes(struct db *db)
{
	return pg(db)->total;
}

static int pg_in_txn(struct db *db)
{
	return PQtransactionStatus(pg(db)->pq) != PQTRANS_IDLE;
}

/*
 * Controllers allocating on the same server take turns: the lock is the
 * transaction's, released by its COMMIT or ROLLBACK.  Waits at most
 * lock_timeout (PV_EBUSY).  UNIQUE (server_id, ip) stays the backstop.
 */
static int pg_lock_server(struct db *db, const char *server_id)
{
	static const char sql[] = "SELECT pg_advisory_xact_lock(" PG_LOCK_LEASE ", hashtext(?1))";
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, sql, &st)) < 0)
		return r;
	if ((r = db_bind_text(db, st, 1, server_id)) < 0)
		return r;
	r = db_one(db, st, NULL, NULL);
	return r < 0 ? r : 0;
}

/* A session lock around the migrations: the second controller waits for the first. */
static int pg_migrate_lock(struct db *db, int lock)
{
	return pg_exec(db, lock ? "SELECT pg_advisory_lock(" PG_LOCK_MIGRATE ")"
	                        : "SELECT pg_advisory_unlock(" PG_LOCK_MIGRATE ")");
}

/* 1 if this session took the leader lock now, 0 if another session holds it, or PV_E*. */
static int pg_try_leader(struct db *db)
{
	PGresult *res = PQexec(pg(db)->pq, "SELECT pg_try_advisory_lock(" PG_LOCK_LEADER ")");
	int r;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		r = pg_fail(db, res);
	else
		r = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return r;
}

int db_leader_poll(struct db *db, int *leader)
{
	struct pg_conn *c;
	int r;

	*leader = 1;
	if (db->drv != &db_pg_driver)
		return 0; /* one controller on its SQLite file: always the leader */
	c = pg(db);
	*leader = 0;
	if (c->leader_epoch && c->leader_epoch == c->epoch + 1) {
		/* Still held unless the session died: a round trip proves it lives. */
		if ((r = pg_exec(db, "SELECT 1")) == 0) {
			*leader = 1;
			return 0;
		}
		c->leader_epoch = 0;
		return r;
	}
	if ((r = pg_alive(db)) < 0)
		return r;
	if ((r = pg_try_leader(db)) <= 0)
		return r;
	c->leader_epoch = c->epoch + 1;
	*leader = 1;
	return 0;
}

static void pg_close(struct db *db)
{
	struct pg_conn *c = pg(db);

	PQfinish(c->pq);
	free(c);
	db->conn = NULL;
}

int db_describe(const char *target, char *out, size_t len)
{
	PQconninfoOption *opts, *o;
	const char *host = "", *port = "", *user = "", *dbname = "";

	if (strncmp(target, "postgresql://", 13) != 0 && strncmp(target, "postgres://", 11) != 0) {
		snprintf(out, len, "%s", target);
		return 0;
	}
	if (!(opts = PQconninfoParse(target, NULL))) {
		snprintf(out, len, "postgresql://(unparsable URL)");
		return PV_EINVAL;
	}
	for (o = opts; o->keyword; o++) {
		if (!o->val)
			continue;
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "user") == 0)
			user = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			dbname = o->val;
	}
	snprintf(out, len, "postgresql://%s%s%s%s%s/%s", user, *user ? "@" : "", host,
	         *port ? ":" : "", port, dbname);
	PQconninfoFree(opts);
	return 0;
}

/* db/ never prints: the server's notices ("already exists, skipping") are dropped. */
static void pg_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int pg_open(struct db *db, const char *url, unsigned flags)
{
	struct pg_conn *c = calloc(1, sizeof(*c));
	char where[256];

	(void)flags; /* durability is the server's synchronous_commit */
	if (!c)
		return db_failf(db, PV_ENOMEM, "out of memory");
	db->conn = c;
	c->pq = PQconnectdb(url);
	if (!c->pq)
		return db_failf(db, PV_ENOMEM, "out of memory connecting to PostgreSQL");
	PQsetNoticeProcessor(c->pq, pg_quiet, NULL);
	if (PQstatus(c->pq) != CONNECTION_OK) {
		db_describe(url, where, sizeof(where));
		pg_fail(db, NULL);
		return db_wrap(db, PV_EDB, where);
	}
	return pg_exec(db, SQL_SESSION);
}

const struct db_driver db_pg_driver = {
        .dialect = DB_PG,
        .begin_sql = "BEGIN",
        .group_commit = 0,
        .open = pg_open,
        .prepare = pg_prepare,
        .finalize = pg_finalize,
        .reset = pg_reset,
        .bind_text = pg_bind_text,
        .bind_int = pg_bind_int,
        .bind_blob = pg_bind_blob,
        .step = pg_step,
        .col_int = pg_col_int,
        .col_text = pg_col_text,
        .col_blob = pg_col_blob,
        .col_name = pg_col_name,
        .changes = pg_changes,
        .total_changes = pg_total_changes,
        .exec = pg_exec,
        .in_txn = pg_in_txn,
        /*
         * The WAL position moves with every commit to the cluster, this
         * connection's own included: caches keyed on it are dropped more
         * often than on SQLite, never kept too long.
         */
        .data_version_sql = "SELECT (pg_current_wal_lsn() - '0/0')::bigint",
        .lock_server = pg_lock_server,
        .migrate_lock = pg_migrate_lock,
        .close = pg_close,
};
