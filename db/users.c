/* SPDX-License-Identifier: MIT */
/* Users: id, tier and whether their keys are accepted (the portal's admin endpoints write these).
 */
#include <string.h>

#include "db_int.h"

static const char SQL_USER_UPSERT[] =
        "INSERT INTO users (id, tier, active, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)"
        " ON CONFLICT (id) DO UPDATE SET tier = excluded.tier, active = excluded.active,"
        " updated_at = excluded.updated_at";
static const char SQL_USER_GET[] = "SELECT tier, active FROM users WHERE id = ?1";

int db_user_upsert(struct db *db, const char *user_id, enum pv_tier tier, int active)
{
	sqlite3_stmt *st;
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
static int read_user(struct db *db, sqlite3_stmt *st, void *row)
{
	struct db_user *u = row;

	(void)db;
	u->tier = (enum pv_tier)sqlite3_column_int(st, 0);
	u->active = sqlite3_column_int(st, 1);
	return 0;
}

int db_user_get(struct db *db, const char *user_id, struct db_user *out)
{
	struct db_user u;
	sqlite3_stmt *st;
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
