/* SPDX-License-Identifier: MIT */
/* Servers: the fleet file's entries, what the health pass learns about them, and their load. */
#include <string.h>

#include "db_int.h"

static const char SQL_RETIRE_ALL[] = "UPDATE servers SET retired = 1";
static const char SQL_SERVER_UPSERT[] =
        "INSERT INTO servers (id, location, region, tier, wg_host, wg_port, ssh_host, ssh_port,"
        " ssh_user, interfaces) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        " ON CONFLICT (id) DO UPDATE SET location = excluded.location, region = excluded.region,"
        " tier = excluded.tier, wg_host = excluded.wg_host, wg_port = excluded.wg_port,"
        " ssh_host = excluded.ssh_host, ssh_port = excluded.ssh_port,"
        " ssh_user = excluded.ssh_user, interfaces = excluded.interfaces, retired = 0";
/* state_since moves only when up changes, so it says "up since" / "down since". */
static const char SQL_SET_HEALTH[] =
        "UPDATE servers SET state_since = CASE WHEN up = ?2 THEN state_since ELSE ?4 END,"
        " up = ?2, live_peers = ?3, checked_at = ?4, wg_pubkey = coalesce(?5, wg_pubkey),"
        " active_peers = ?6, rx_bytes = ?7, tx_bytes = ?8 WHERE id = ?1";
static const char SQL_PEER_STATS[] =
        "UPDATE peers SET last_handshake = ?3, rx_bytes = ?4, tx_bytes = ?5"
        " WHERE server_id = ?1 AND pubkey = ?2";
static const char SQL_SET_REPAIRS[] =
        "UPDATE servers SET repairs = ?2, reconciled_at = ?3 WHERE id = ?1";

/* The columns read_status() expects, then the table. */
#define STATUS_FROM                                                                                \
	"SELECT s.id, s.up, (SELECT count(*) FROM lease l WHERE l.server_id = s.id),"              \
	" s.live_peers, s.wg_pubkey, s.checked_at, s.active_peers, s.rx_bytes, s.tx_bytes,"        \
	" s.state_since, s.repairs, s.reconciled_at, s.draining, s.ssh_hostkey, s.interfaces"      \
	" FROM servers s"
static const char SQL_STATUS[] = STATUS_FROM " WHERE s.id = ?1";
static const char SQL_STATUS_ALL[] = STATUS_FROM " WHERE s.retired = 0 ORDER BY s.rowid";
/* Leases by server and interface (lease = interface * 256 + host), one query for the fleet. */
static const char SQL_IFACE_LEASES[] =
        "SELECT l.server_id, l.ip / 256, count(*) FROM lease l JOIN servers s ON s.id = l.server_id"
        " WHERE s.retired = 0 AND (CAST(?1 AS TEXT) IS NULL OR l.server_id = ?1)"
        " GROUP BY l.server_id, l.ip / 256, s.rowid ORDER BY s.rowid, l.ip / 256";
static const char SQL_COUNT[] = "SELECT coalesce(sum(CASE WHEN up = 1 THEN 1 ELSE 0 END), 0),"
                                " coalesce(sum(CASE WHEN up = 0 THEN 1 ELSE 0 END), 0),"
                                " coalesce(sum(CASE WHEN up = -1 THEN 1 ELSE 0 END), 0)"
                                " FROM servers WHERE retired = 0";

int db_bind_server(struct db *db, struct db_st *st, const struct pv_server *s)
{
	int r;

	if ((r = db_check_id(db, "server id", s->id, DB_SERVER_ID_MAX)) < 0)
		return r;
	if (s->tier != PV_TIER_BASIC && s->tier != PV_TIER_PRO)
		return db_failf(db, PV_EINVAL, "server %s: tier %d is neither basic nor pro", s->id,
		                (int)s->tier);
	if (s->n_ifaces < 1 || s->n_ifaces > PV_IFACES_MAX)
		return db_failf(db, PV_EINVAL, "server %s: %zu WireGuard interfaces (1..%d)", s->id,
		                s->n_ifaces, PV_IFACES_MAX);
	if ((r = db_bind_text(db, st, 1, s->id)) < 0 ||
	    (r = db_bind_text(db, st, 2, s->location)) < 0 ||
	    (r = db_bind_text(db, st, 3, s->region)) < 0 ||
	    (r = db_bind_int(db, st, 4, s->tier)) < 0 ||
	    (r = db_bind_text(db, st, 5, s->wg_host)) < 0 ||
	    (r = db_bind_int(db, st, 6, s->ifaces[0].port)) < 0 ||
	    (r = db_bind_text(db, st, 7, s->ssh_host)) < 0 ||
	    (r = db_bind_int(db, st, 8, s->ssh_port)) < 0 ||
	    (r = db_bind_text(db, st, 9, s->ssh_user)) < 0)
		return r;
	if ((r = db_bind_int(db, st, 10, (int64_t)s->n_ifaces)) < 0)
		return r;
	return 0;
}

static int upsert_server(struct db *db, const struct pv_server *s)
{
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, SQL_SERVER_UPSERT, &st)) < 0 || (r = db_bind_server(db, st, s)) < 0)
		return r;
	r = db_step_done(db, st);
	return r < 0 ? db_wrap(db, r, s->id) : 0;
}

int db_servers_sync(struct db *db, const struct pv_fleet *fleet)
{
	struct db_st *st;
	size_t i;
	int r;

	if (!fleet || (fleet->n && !fleet->servers))
		return db_failf(db, PV_EINVAL, "no fleet to sync");
	if ((r = db_begin(db)) < 0)
		return r;
	if ((r = db_stmt(db, SQL_RETIRE_ALL, &st)) < 0 || (r = db_step_done(db, st)) < 0)
		goto fail;
	for (i = 0; i < fleet->n; i++)
		if ((r = upsert_server(db, &fleet->servers[i])) < 0)
			goto fail;
	return db_commit(db);
fail:
	db_rollback(db);
	return r;
}

static int check_health(struct db *db, const char *server_id, const struct db_server_health *h)
{
	int r;

	if ((r = db_check_id(db, "server id", server_id, DB_SERVER_ID_MAX)) < 0)
		return r;
	if ((h->up != 0 && h->up != 1) || h->live_peers < 0 || h->active_peers < 0)
		return db_failf(db, PV_EINVAL, "health of %s: up=%d live_peers=%d out of range",
		                server_id, h->up, h->live_peers);
	if (h->wg_pubkey && !pv_key_is_valid_base64(h->wg_pubkey))
		return db_failf(db, PV_EINVAL, "health of %s: malformed WireGuard public key",
		                server_id);
	return 0;
}

static int record_server(struct db *db, const char *server_id, const struct db_server_health *h)
{
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, SQL_SET_HEALTH, &st)) < 0 ||
	    (r = db_bind_text(db, st, 1, server_id)) < 0 ||
	    (r = db_bind_int(db, st, 2, h->up)) < 0 ||
	    (r = db_bind_int(db, st, 3, h->live_peers)) < 0 ||
	    (r = db_bind_int(db, st, 4, db_now())) < 0 ||
	    (r = db_bind_text(db, st, 5, h->wg_pubkey)) < 0 ||
	    (r = db_bind_int(db, st, 6, h->active_peers)) < 0 ||
	    (r = db_bind_int(db, st, 7, (int64_t)h->rx_bytes)) < 0 ||
	    (r = db_bind_int(db, st, 8, (int64_t)h->tx_bytes)) < 0 ||
	    (r = db_step_done(db, st)) < 0)
		return r;
	if (db_row_changes(db) == 0)
		return db_failf(db, PV_ENOTFOUND, "no server %s", server_id);
	return 0;
}

static int record_peer(struct db *db, const char *server_id, const struct db_peer_stats *p)
{
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, SQL_PEER_STATS, &st)) < 0 ||
	    (r = db_bind_text(db, st, 1, server_id)) < 0 ||
	    (r = db_bind_text(db, st, 2, p->pubkey)) < 0 ||
	    (r = db_bind_int(db, st, 3, p->latest_handshake)) < 0 ||
	    (r = db_bind_int(db, st, 4, (int64_t)p->rx_bytes)) < 0 ||
	    (r = db_bind_int(db, st, 5, (int64_t)p->tx_bytes)) < 0 ||
	    (r = db_usage_add(db, server_id, p)) < 0)
		return r;
	return db_step_done(db, st);
}

int db_peer_record_final(struct db *db, const char *server_id, const struct db_peer_stats *p)
{
	int r;

	if ((r = db_begin(db)) < 0)
		return r;
	if ((r = record_peer(db, server_id, p)) < 0) {
		db_rollback(db);
		return r;
	}
	return db_commit(db);
}

int db_server_record(struct db *db, const char *server_id, const struct db_server_health *h,
                     const struct db_peer_stats *peers, size_t n)
{
	size_t i;
	int r;

	if ((r = check_health(db, server_id, h)) < 0 || (r = db_begin(db)) < 0)
		return r;
	if ((r = record_server(db, server_id, h)) < 0)
		goto fail;
	for (i = 0; i < n; i++)
		if ((r = record_peer(db, server_id, &peers[i])) < 0)
			goto fail;
	return db_commit(db);
fail:
	db_rollback(db);
	return r;
}

int db_server_set_repairs(struct db *db, const char *server_id, int repairs)
{
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, SQL_SET_REPAIRS, &st)) < 0 ||
	    (r = db_bind_text(db, st, 1, server_id)) < 0 ||
	    (r = db_bind_int(db, st, 2, repairs)) < 0 ||
	    (r = db_bind_int(db, st, 3, db_now())) < 0 || (r = db_step_done(db, st)) < 0)
		return r;
	return db_row_changes(db) ? 0 : db_failf(db, PV_ENOTFOUND, "no server %s", server_id);
}

/* One row of STATUS_FROM into a struct db_server_status (a db_row_reader). */
static int read_status(struct db *db, struct db_st *st, void *row)
{
	struct db_server_status *out = row;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = db_column_text(db, st, 0, out->id, sizeof(out->id))) < 0 ||
	    (r = db_column_text(db, st, 4, out->wg_pubkey, sizeof(out->wg_pubkey))) < 0)
		return r;
	out->up = db_col_int(db, st, 1);
	out->peers = db_col_int(db, st, 2);
	out->live_peers = db_col_int(db, st, 3);
	out->checked_at = db_col_int(db, st, 5);
	out->active_peers = db_col_int(db, st, 6);
	out->rx_bytes = (uint64_t)db_col_int(db, st, 7);
	out->tx_bytes = (uint64_t)db_col_int(db, st, 8);
	out->state_since = db_col_int(db, st, 9);
	out->repairs = db_col_int(db, st, 10);
	out->reconciled_at = db_col_int(db, st, 11);
	out->draining = db_col_int(db, st, 12);
	out->capacity = (int)db_col_int(db, st, 14) * PV_HOSTS_PER_IF;
	return db_column_text(db, st, 13, out->ssh_hostkey, sizeof(out->ssh_hostkey));
}

int db_server_status(struct db *db, const char *server_id, struct db_server_status *out)
{
	struct db_st *st;
	int r;

	if ((r = db_check_id(db, "server id", server_id, DB_SERVER_ID_MAX)) < 0 ||
	    (r = db_stmt(db, SQL_STATUS, &st)) < 0 ||
	    (r = db_bind_text(db, st, 1, server_id)) < 0 ||
	    (r = db_one(db, st, read_status, out)) < 0)
		return r;
	return r ? 0 : db_failf(db, PV_ENOTFOUND, "no server %s", server_id);
}

int db_servers_list(struct db *db, struct db_server_status **out, size_t *n)
{
	struct db_st *st;
	int r;

	*out = NULL;
	*n = 0;
	if ((r = db_stmt(db, SQL_STATUS_ALL, &st)) < 0)
		return r;
	return db_collect(db, st, sizeof(**out), read_status, (void **)out, n);
}

/* SQL_COUNT's row into int[3] (a db_row_reader). */
static int read_counts(struct db *db, struct db_st *st, void *row)
{
	int *counts = row, i;

	for (i = 0; i < 3; i++)
		counts[i] = (int)db_col_int(db, st, i);
	return 0;
}

int db_servers_count(struct db *db, int *up, int *down, int *unknown)
{
	struct db_st *st;
	int counts[3] = {0, 0, 0}, r;

	if ((r = db_stmt(db, SQL_COUNT, &st)) < 0 || (r = db_one(db, st, read_counts, counts)) < 0)
		return r;
	*up = counts[0];
	*down = counts[1];
	*unknown = counts[2];
	return 0;
}

/* One row of SQL_IFACE_LEASES into a struct db_iface_leases (a db_row_reader). */
static int read_iface_leases(struct db *db, struct db_st *st, void *row)
{
	struct db_iface_leases *out = row;

	memset(out, 0, sizeof(*out));
	out->iface = (unsigned)db_col_int(db, st, 1);
	out->used = (int)db_col_int(db, st, 2);
	return db_column_text(db, st, 0, out->server_id, sizeof(out->server_id));
}

int db_iface_leases(struct db *db, const char *server_id, struct db_iface_leases **out, size_t *n)
{
	struct db_st *st;
	int r;

	*out = NULL;
	*n = 0;
	if ((server_id && (r = db_check_id(db, "server id", server_id, DB_SERVER_ID_MAX)) < 0) ||
	    (r = db_stmt(db, SQL_IFACE_LEASES, &st)) < 0)
		return r;
	if (server_id && (r = db_bind_text(db, st, 1, server_id)) < 0)
		return r;
	return db_collect(db, st, sizeof(**out), read_iface_leases, (void **)out, n);
}
