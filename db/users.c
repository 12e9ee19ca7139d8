/* SPDX-License-Identifier: MIT */
/*
 * Users: id, tier, whether their keys are accepted and which key generation
 * (the portal's and the operators' admin endpoints write these).
 */
#include <string.h>

#include "db_int.h"

/* Unqualified columns in DO UPDATE are the existing row's: the bump compares old and new. */
static const char SQL_USER_UPSERT[] =
        "INSERT INTO users (id, tier, active, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)"
        " ON CONFLICT (id) DO UPDATE SET tier = excluded.tier, active = excluded.active,"
        " updated_at = excluded.updated_at,"
        " key_gen = users.key_gen + CASE WHEN users.tier <> excluded.tier"
        " OR (users.active = 1 AND excluded.active = 0) THEN 1 ELSE 0 END";
static const char SQL_USER_GET[] = "SELECT tier, active, key_gen FROM users WHERE id = ?1";
static const char SQL_USER_ROTATE[] =
        "UPDATE users SET key_gen = key_gen + 1, updated_at = ?2 WHERE id = ?1 RETURNING key_gen";
static const char SQL_USERS_LIST[] =
        "SELECT u.id, u.tier, u.active, u.key_gen,"
        " (SELECT count(*) FROM peers p WHERE p.user_id = u.id),"
        " (SELECT count(DISTINCT device) FROM peers p WHERE p.user_id = u.id)"
        " FROM users u WHERE u.id > ?1 ORDER BY u.id LIMIT ?2";

int db_user_upsert(struct db *db, const char *user_id, enum pv_tier tier, int active)
{
	struct db_st *st;
	int r;

	if ((r = db_check_id(db, "user id", user_id, DB_USER_ID_MAX)) < 0)
		return r;
	if (tier != PV_TIER_BASIC && tier != PV_TIER_PRO)
		return db_failf(db, PV_EINVAL, "tier %d is neither basic nor pro", (int)tier);
	if (active != 0 && active != 1)
		return db_failf(db, PV_EINVAL, "active must be 0 or 1, not %d", active);
	if ((r = db_stmt(db, SQL_USER_UPSERT, &st)) < 0 ||
	    (r = db_bind_text(db, st, 1, user_id)) < 0 || (r = db_bind_int(db, st, 2, tier)) < 0 ||
	    (r = db_bind_int(db, st, 3, active)) < 0 || (r = db_bind_int(db, st, 4, db_now())) < 0)
		return r;
	return db_step_done(db, st);
}

/* SQL_USER_GET's row into a struct db_user whose id is already set (a db_row_reader). */
static int read_user(struct db *db, struct db_st *st, void *row)
{
	struct db_user *u = row;

	u->tier = (enum pv_tier)db_col_int(db, st, 0);
	u->active = db_col_int(db, st, 1);
	u->key_gen = (unsigned)db_col_int(db, st, 2);
	return 0;
}

int db_user_get(struct db *db, const char *user_id, struct db_user *out)
{
	struct db_user u;
	struct db_st *st;
	int r;

	if ((r = db_check_id(db, "user id", user_id, DB_USER_ID_MAX)) < 0 ||
	    (r = db_stmt(db, SQL_USER_GET, &st)) < 0 || (r = db_bind_text(db, st, 1, user_id)) < 0)
		return r;
	memset(&u, 0, sizeof(u));
	memcpy(u.id, user_id, strlen(user_id) + 1);
	if ((r = db_one(db, st, read_user, &u)) < 0)
		return r;
	if (r == 0)
		return db_failf(db, PV_ENOTFOUND, "no such user");
	*out = u;
	return 0;
}

/* RETURNING key_gen into an unsigned (a db_row_reader). */
static int read_gen(struct db *db, struct db_st *st, void *row)
{
	*(unsigned *)row = (unsigned)db_col_int(db, st, 0);
	return 0;
}

int db_user_rotate_key(struct db *db, const char *user_id, unsigned *gen)
{
	struct db_st *st;
	unsigned g = 0;
	int r;

	if ((r = db_check_id(db, "user id", user_id, DB_USER_ID_MAX)) < 0 ||
	    (r = db_stmt(db, SQL_USER_ROTATE, &st)) < 0 ||
	    (r = db_bind_text(db, st, 1, user_id)) < 0 ||
	    (r = db_bind_int(db, st, 2, db_now())) < 0)
		return r;
	/* With RETURNING, the first step makes the whole change (autocommit). */
	if ((r = db_one(db, st, read_gen, &g)) < 0)
		return r;
	if (r == 0)
		return db_failf(db, PV_ENOTFOUND, "no such user");
	*gen = g;
	return 0;
}

/* One SQL_USERS_LIST row (a db_row_reader). */
static int read_summary(struct db *db, struct db_st *st, void *row)
{
	struct db_user_summary *s = row;
	int r;

	memset(s, 0, sizeof(*s));
	if ((r = db_column_text(db, st, 0, s->user.id, sizeof(s->user.id))) < 0)
		return r;
	s->user.tier = (enum pv_tier)db_col_int(db, st, 1);
	s->user.active = db_col_int(db, st, 2);
	s->user.key_gen = (unsigned)db_col_int(db, st, 3);
	s->peers = db_col_int(db, st, 4);
	s->devices = db_col_int(db, st, 5);
	return 0;
}

int db_users_list(struct db *db, const char *after, int limit, struct db_user_summary **out,
                  size_t *n)
{
	struct db_st *st;
	void *list = NULL;
	int r;

	*out = NULL;
	*n = 0;
	if (limit < 1)
		return db_failf(db, PV_EINVAL, "limit %d is not positive", limit);
	if ((r = db_stmt(db, SQL_USERS_LIST, &st)) < 0 ||
	    (r = db_bind_text(db, st, 1, after ? after : "")) < 0 ||
	    (r = db_bind_int(db, st, 2, limit)) < 0)
		return r;
	if ((r = db_collect(db, st, sizeof(**out), read_summary, &list, n)) < 0)
		return r;
	*out = list;
	return 0;
}
