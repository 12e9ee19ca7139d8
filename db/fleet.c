/* SPDX-License-Identifier: MIT */
/*
 * The fleet as the DB keeps it once servers.json was imported: each
 * server's entry (the servers.json object, validated by common/fleet.c
 * before it gets here), servers added and removed at runtime, and draining.
 */
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

static const char SQL_ADD[] =
        "INSERT INTO servers (id, location, region, tier, wg_host, wg_port, ssh_host, ssh_port,"
        " ssh_user, interfaces, ssh_hostkey, entry)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
static const char SQL_SET_ENTRY[] = "UPDATE servers SET entry = ?2, ssh_hostkey = ?3 WHERE id = ?1";
/*
 * The database's JSON functions build the array (SQLite's JSON1, PostgreSQL's
 * json_agg); entries are kept in the order they joined (rowid: SQLite's
 * implicit one, an identity column of the same name on PostgreSQL).
 */
static const char SQL_ENTRIES[] =
        "SELECT json_group_array(json(entry)), count(*) FROM"
        " (SELECT entry FROM servers WHERE retired = 0 AND entry IS NOT NULL ORDER BY rowid)";
static const char SQL_ENTRIES_PG[] =
        "SELECT coalesce(json_agg(entry::json ORDER BY rowid), '[]')::text, count(*)"
        " FROM servers WHERE retired = 0 AND entry IS NOT NULL";
static const char SQL_SET_IFACES[] = "UPDATE servers SET interfaces = ?2 WHERE id = ?1";
static const char SQL_SET_KEY[] = "UPDATE servers SET wg_pubkey = ?2 WHERE id = ?1";
static const char SQL_DRAIN[] = "UPDATE servers SET draining = ?2 WHERE id = ?1 AND retired = 0";
static const char SQL_RETIRE[] =
        "UPDATE servers SET retired = 1, draining = 0 WHERE id = ?1 AND retired = 0"
        " AND NOT EXISTS (SELECT 1 FROM lease WHERE server_id = ?1 AND peer_id IS NOT NULL)";

static const char *or_null(const char *s)
{
	return s && s[0] ? s : NULL;
}

int db_server_add(struct db *db, const struct pv_server *s, const char *entry)
{
	struct db_st *st;
	int r;

	if ((r = db_check_id(db, "server entry", entry, 65536)) < 0)
		return r;
	if ((r = db_stmt(db, SQL_ADD, &st)) < 0 || (r = db_bind_server(db, st, s)) < 0 ||
	    (r = db_bind_text(db, st, 11, or_null(s->ssh_hostkey))) < 0 ||
	    (r = db_bind_text(db, st, 12, entry)) < 0)
		return r;
	r = db_step_done(db, st);
	return r < 0 ? db_wrap(db, r, s->id) : 0;
}

int db_server_set_interfaces(struct db *db, const char *server_id, size_t n)
{
	struct db_st *st;
	int r;

	if (n < 1 || n > PV_IFACES_MAX)
		return db_failf(db, PV_EINVAL, "server %s: %zu WireGuard interfaces (1..%d)",
		                server_id, n, PV_IFACES_MAX);
	if ((r = db_stmt(db, SQL_SET_IFACES, &st)) < 0)
		return r;
	if ((r = db_bind_text(db, st, 1, server_id)) < 0)
		return r;
	if ((r = db_bind_int(db, st, 2, (int64_t)n)) < 0)
		return r;
	if ((r = db_step_done(db, st)) < 0)
		return r;
	return db_row_changes(db) ? 0 : db_failf(db, PV_ENOTFOUND, "no server %s", server_id);
}

int db_server_set_entry(struct db *db, const struct pv_server *s, const char *entry)
{
	struct db_st *st;
	int r;

	if ((r = db_check_id(db, "server entry", entry, 65536)) < 0 ||
	    (r = db_stmt(db, SQL_SET_ENTRY, &st)) < 0 || (r = db_bind_text(db, st, 1, s->id)) < 0 ||
	    (r = db_bind_text(db, st, 2, entry)) < 0 ||
	    (r = db_bind_text(db, st, 3, or_null(s->ssh_hostkey))) < 0 ||
	    (r = db_step_done(db, st)) < 0)
		return r;
	return db_row_changes(db) ? 0 : db_failf(db, PV_ENOTFOUND, "no server %s", s->id);
}

/* SQL_ENTRIES' row: the array text (a db_row_reader; row is a struct entries_row *). */
struct entries_row {
	char *json;
	int n;
};

static int read_entries(struct db *db, struct db_st *st, void *row)
{
	struct entries_row *e = row;
	size_t len;
	const char *t = db_col_blob(db, st, 0, &len);

	e->n = (int)db_col_int(db, st, 1);
	e->json = t ? strndup(t, len) : strdup("[]");
	return e->json ? 0 : db_failf(db, PV_ENOMEM, "out of memory");
}

int db_fleet_entries(struct db *db, char **json, int *n)
{
	struct entries_row e = {NULL, 0};
	struct db_st *st;
	int r;

	*json = NULL;
	*n = 0;
	if ((r = db_stmt(db, DB_SQL(db, SQL_ENTRIES, SQL_ENTRIES_PG), &st)) < 0 ||
	    (r = db_one(db, st, read_entries, &e)) < 0)
		return r;
	*json = e.json;
	*n = e.n;
	return 0;
}

int db_server_set_wg_pubkey(struct db *db, const char *server_id, const char *key)
{
	struct db_st *st;
	int r;

	if (!pv_key_is_valid_base64(key))
		return db_failf(db, PV_EINVAL, "server %s: malformed WireGuard public key",
		                server_id);
	if ((r = db_stmt(db, SQL_SET_KEY, &st)) < 0 ||
	    (r = db_bind_text(db, st, 1, server_id)) < 0 ||
	    (r = db_bind_text(db, st, 2, key)) < 0 || (r = db_step_done(db, st)) < 0)
		return r;
	return db_row_changes(db) ? 0 : db_failf(db, PV_ENOTFOUND, "no server %s", server_id);
}

int db_server_set_draining(struct db *db, const char *server_id, int draining)
{
	struct db_st *st;
	int r;

	if ((r = db_check_id(db, "server id", server_id, DB_SERVER_ID_MAX)) < 0 ||
	    (r = db_stmt(db, SQL_DRAIN, &st)) < 0 || (r = db_bind_text(db, st, 1, server_id)) < 0 ||
	    (r = db_bind_int(db, st, 2, draining ? 1 : 0)) < 0 || (r = db_step_done(db, st)) < 0)
		return r;
	return db_row_changes(db) ? 0 : db_failf(db, PV_ENOTFOUND, "no server %s", server_id);
}

int db_server_retire(struct db *db, const char *server_id)
{
	struct db_server_status s;
	struct db_st *st;
	int r;

	if ((r = db_server_status(db, server_id, &s)) < 0)
		return r;
	if ((r = db_stmt(db, SQL_RETIRE, &st)) < 0 ||
	    (r = db_bind_text(db, st, 1, server_id)) < 0 || (r = db_step_done(db, st)) < 0)
		return r;
	return db_row_changes(db) ? 0
	                          : db_failf(db, PV_EEXIST,
	                                     "server %s still has peers or was removed", server_id);
}
