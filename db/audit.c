/* SPDX-License-Identifier: MIT */
/* The audit trail: one row per admin action (who, what, on whom, details). */
#include "db_int.h"

static const char SQL_AUDIT_INSERT[] =
        "INSERT INTO audit (at, actor, action, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)";

int db_audit(struct db *db, const char *actor, const char *action, const char *subject,
             const char *detail)
{
	struct db_st *st;
	int r;

	if (!actor || !*actor || !action || !*action)
		return db_failf(db, PV_EINVAL, "an audit row needs an actor and an action");
	if ((r = db_stmt(db, SQL_AUDIT_INSERT, &st)) < 0 ||
	    (r = db_bind_int(db, st, 1, db_now())) < 0 ||
	    (r = db_bind_text(db, st, 2, actor)) < 0 || (r = db_bind_text(db, st, 3, action)) < 0 ||
	    (r = db_bind_text(db, st, 4, subject)) < 0 || (r = db_bind_text(db, st, 5, detail)) < 0)
		return r;
	return db_step_done(db, st);
}

int db_audit_many(struct db *db, const char *actor, const struct db_audit_row *rows, size_t n)
{
	size_t i;
	int r;

	if (n == 0)
		return 0;
	if ((r = db_begin(db)) < 0)
		return r;
	for (i = 0; i < n; i++) {
		if ((r = db_audit(db, actor, rows[i].action, rows[i].subject, rows[i].detail)) <
		    0) {
			db_rollback(db);
			return r;
		}
	}
	return db_commit(db);
}
