/* SPDX-License-Identifier: MIT */
/*
 * Usage: each user's transfer per UTC day.  The health pass hands every
 * peer's counters to db_server_record, which adds their growth since the
 * last pass here before storing them (usage_add, same transaction): a
 * counter lower than the stored one means the server's interface restarted,
 * so the new value is all growth since then.  A removed peer's last
 * counters (db_peer_record_final) go through the same step.  Rows are per
 * user, so they outlive the peers that made them.
 */
#include <string.h>
#include <time.h>

#include "db_int.h"

/* The delta of the peer holding ?2 on server ?1, added to its user's day. */
static const char SQL_ADD[] =
        "INSERT INTO usage (user_id, day, rx_bytes, tx_bytes)"
        " SELECT user_id, ?5,"
        " CASE WHEN ?3 >= rx_bytes THEN ?3 - rx_bytes ELSE ?3 END,"
        " CASE WHEN ?4 >= tx_bytes THEN ?4 - tx_bytes ELSE ?4 END"
        " FROM peers WHERE server_id = ?1 AND pubkey = ?2"
        " ON CONFLICT (user_id, day) DO UPDATE SET rx_bytes = usage.rx_bytes + excluded.rx_bytes,"
        " tx_bytes = usage.tx_bytes + excluded.tx_bytes";
static const char SQL_LIST[] = "SELECT user_id, day, rx_bytes, tx_bytes FROM usage"
                               " WHERE (?1 IS NULL OR user_id = ?1) AND day >= ?2 AND day <= ?3"
                               " ORDER BY user_id, day LIMIT 100000";
static const char SQL_TOTALS[] = "SELECT coalesce(sum(rx_bytes), 0), coalesce(sum(tx_bytes), 0)"
                                 " FROM usage";

/* Today as YYYY-MM-DD in UTC, computed here so that both SQL dialects take it as text. */
static void utc_day(char out[11])
{
	time_t now = (time_t)db_now();
	struct tm tm;

	if (!gmtime_r(&now, &tm) || strftime(out, 11, "%Y-%m-%d", &tm) != 10)
		memcpy(out, "1970-01-01", 11);
}

int db_usage_add(struct db *db, const char *server_id, const struct db_peer_stats *p)
{
	char day[11];
	struct db_st *st;
	int r;

	utc_day(day);
	if ((r = db_stmt(db, SQL_ADD, &st)) < 0 || (r = db_bind_text(db, st, 1, server_id)) < 0 ||
	    (r = db_bind_text(db, st, 2, p->pubkey)) < 0 ||
	    (r = db_bind_int(db, st, 3, (int64_t)p->rx_bytes)) < 0 ||
	    (r = db_bind_int(db, st, 4, (int64_t)p->tx_bytes)) < 0 ||
	    (r = db_bind_text(db, st, 5, day)) < 0)
		return r;
	return db_step_done(db, st);
}

static int read_usage(struct db *db, struct db_st *st, void *row)
{
	struct db_usage *u = row;
	int r;

	memset(u, 0, sizeof(*u));
	if ((r = db_column_text(db, st, 0, u->user_id, sizeof(u->user_id))) < 0 ||
	    (r = db_column_text(db, st, 1, u->day, sizeof(u->day))) < 0)
		return r;
	u->rx_bytes = (uint64_t)db_col_int(db, st, 2);
	u->tx_bytes = (uint64_t)db_col_int(db, st, 3);
	return 0;
}

int db_usage_list(struct db *db, const char *user_id, const char *from, const char *to,
                  struct db_usage **out, size_t *n)
{
	struct db_st *st;
	int r;

	*out = NULL;
	*n = 0;
	if ((r = db_stmt(db, SQL_LIST, &st)) < 0 ||
	    (r = db_bind_text(db, st, 1, user_id && user_id[0] ? user_id : NULL)) < 0 ||
	    (r = db_bind_text(db, st, 2, from)) < 0 || (r = db_bind_text(db, st, 3, to)) < 0)
		return r;
	return db_collect(db, st, sizeof(**out), read_usage, (void **)out, n);
}

/* SQL_TOTALS' row into uint64_t[2] (a db_row_reader). */
static int read_totals(struct db *db, struct db_st *st, void *row)
{
	uint64_t *t = row;

	t[0] = (uint64_t)db_col_int(db, st, 0);
	t[1] = (uint64_t)db_col_int(db, st, 1);
	return 0;
}

int db_usage_totals(struct db *db, uint64_t *rx, uint64_t *tx)
{
	uint64_t t[2] = {0, 0};
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, SQL_TOTALS, &st)) < 0 || (r = db_one(db, st, read_totals, t)) < 0)
		return r;
	*rx = t[0];
	*tx = t[1];
	return 0;
}
