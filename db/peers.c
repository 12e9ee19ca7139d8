/* SPDX-License-Identifier: MIT */
/*
 * Peers and their leases: reserving the lowest free host number of a server
 * together with a PENDING peer row in one write transaction (SQLite's
 * BEGIN IMMEDIATE; on PostgreSQL also the server's advisory lock),
 * activation (replacing an older peer), state changes, deletion (the lease
 * goes with the row: ON DELETE CASCADE) and filtered lists.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"

static const char SQL_SERVER_OPEN[] = "SELECT 1 FROM servers WHERE id = ?1 AND retired = 0";
static const char SQL_USER_EXISTS[] = "SELECT 1 FROM users WHERE id = ?1";
static const char SQL_SERVER_IFACES[] = "SELECT interfaces FROM servers WHERE id = ?1";
/* The columns read_peer() expects, then the table. */
#define PEER_FROM                                                                                  \
	"SELECT id, user_id, device, server_id, name, pubkey, host, state, created_at,"            \
	" updated_at, last_handshake, rx_bytes, tx_bytes,"                                         \
	" CASE WHEN psk_sealed IS NULL THEN 0 ELSE 1 END FROM peers"
/*
 * Lowest free host number in [?2, ?3] on server ?1, or no row when full:
 * ?2 itself if free, else the first taken number whose successor is free.
 * Both branches walk the lease primary key, so the cost grows with the
 * position of the first gap (about 6 ms at 40,000 leases, measured).
 */
static const char SQL_LOWEST_FREE[] =
        "SELECT x FROM (SELECT ?2 AS x WHERE NOT EXISTS (SELECT 1 FROM lease WHERE server_id = ?1"
        " AND ip = ?2) UNION ALL SELECT * FROM (SELECT l.ip + 1 FROM lease l WHERE"
        " l.server_id = ?1 AND l.ip >= ?2 AND l.ip < ?3 AND NOT EXISTS (SELECT 1 FROM lease m"
        " WHERE m.server_id = ?1 AND m.ip = l.ip + 1) ORDER BY l.ip LIMIT 1) AS gap) AS free"
        " ORDER BY x LIMIT 1";
static const char SQL_PEER_INSERT[] =
        "INSERT INTO peers (user_id, device, server_id, pubkey, host, state, created_at,"
        " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?6) RETURNING id";
static const char SQL_PEER_NAME[] = "UPDATE peers SET name = ?2, psk_sealed = ?3 WHERE id = ?1";
/* Capped at ?3: the walk of peers_by_user stops there, whatever the account holds. */
static const char SQL_OTHER_DEVICES[] =
        "SELECT count(*) FROM (SELECT DISTINCT device FROM peers WHERE user_id = ?1"
        " AND device <> ?2 LIMIT ?3) AS d";
static const char SQL_PEER_PSK[] = "SELECT psk_sealed FROM peers WHERE id = ?1";
static const char SQL_PEER_ADOPT_PSK[] =
        "UPDATE peers SET psk_sealed = ?2 WHERE id = ?1 AND psk_sealed IS NULL";
static const char SQL_PEER_BY_KEY[] = PEER_FROM " WHERE server_id = ?1 AND pubkey = ?2";
/* Relocation: the refused address becomes a reservation, the peer moves on. */
static const char SQL_LEASE_TO_FOREIGN[] =
        "UPDATE lease SET peer_id = NULL, foreign_key = '' WHERE peer_id = ?1";
static const char SQL_PEER_HOST[] = "UPDATE peers SET host = ?2, updated_at = ?3 WHERE id = ?1";
/* Foreign reservations of one server, replaced by what the reconcile saw. */
static const char SQL_FOREIGN_LIST[] =
        "SELECT ip FROM lease WHERE server_id = ?1 AND peer_id IS NULL ORDER BY ip";
static const char SQL_FOREIGN_DELETE[] =
        "DELETE FROM lease WHERE server_id = ?1 AND ip = ?2 AND peer_id IS NULL";
static const char SQL_FOREIGN_INSERT[] =
        "INSERT INTO lease (server_id, ip, foreign_key) VALUES (?1, ?2, ?3)"
        " ON CONFLICT (server_id, ip) DO NOTHING";
static const char SQL_LEASE_INSERT[] =
        "INSERT INTO lease (server_id, ip, peer_id) VALUES (?1, ?2, ?3)";
static const char SQL_PEER_STATE[] = "UPDATE peers SET state = ?2, updated_at = ?3 WHERE id = ?1";
/* Only a PENDING row becomes ACTIVE: a revoke that took it over (REMOVING) wins. */
static const char SQL_PEER_ACTIVATE[] =
        "UPDATE peers SET state = 1, updated_at = ?2 WHERE id = ?1 AND state = 0";
static const char SQL_PEER_DELETE[] = "DELETE FROM peers WHERE id = ?1";

/* ?1 user, ?2 server, ?3 device (NULL = any), ?4 state filter. */
#define PEER_FILTER                                                                                \
	" AND (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR server_id = ?2)"                     \
	" AND (?3 IS NULL OR device = ?3)"                                                         \
	" AND (?4 = -1 OR state = ?4 OR (?4 = -2 AND state <> 1)) ORDER BY id"
/*
 * One text per leading key, so each list walks an index when it can: a
 * device's peers peers_by_user (user, device), a server's its (server, name)
 * key, a user's peers_by_user.
 */
static const char SQL_PEERS_BY_DEVICE[] =
        PEER_FROM " WHERE user_id = ?1 AND device = ?3" PEER_FILTER;
static const char SQL_PEERS_BY_SERVER[] = PEER_FROM " WHERE server_id = ?2" PEER_FILTER;
static const char SQL_PEERS_BY_USER[] = PEER_FROM " WHERE user_id = ?1" PEER_FILTER;
static const char SQL_PEERS_ALL[] = PEER_FROM " WHERE TRUE" PEER_FILTER;
static const char SQL_PEER_GET[] = PEER_FROM " WHERE id = ?1";

/* One row of PEER_FROM into a struct db_peer (a db_row_reader). */
static int read_peer(struct db *db, struct db_st *st, void *row)
{
	struct db_peer *p = row;
	int r;

	memset(p, 0, sizeof(*p));
	p->id = db_col_int(db, st, 0);
	if ((r = db_column_text(db, st, 1, p->user_id, sizeof(p->user_id))) < 0 ||
	    (r = db_column_text(db, st, 2, p->device, sizeof(p->device))) < 0 ||
	    (r = db_column_text(db, st, 3, p->server_id, sizeof(p->server_id))) < 0 ||
	    (r = db_column_text(db, st, 4, p->name, sizeof(p->name))) < 0 ||
	    (r = db_column_text(db, st, 5, p->pubkey, sizeof(p->pubkey))) < 0)
		return r;
	p->host = (unsigned)db_col_int(db, st, 6);
	p->state = (enum db_peer_state)db_col_int(db, st, 7);
	p->created_at = db_col_int(db, st, 8);
	p->updated_at = db_col_int(db, st, 9);
	p->last_handshake = db_col_int(db, st, 10);
	p->rx_bytes = (uint64_t)db_col_int(db, st, 11);
	p->tx_bytes = (uint64_t)db_col_int(db, st, 12);
	p->has_psk = db_col_int(db, st, 13);
	return 0;
}

/* 1 if the single-text-parameter query returns a row, 0 if not, or a PV_E*. */
static int exists(struct db *db, const char *sql, const char *arg)
{
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, sql, &st)) < 0 || (r = db_bind_text(db, st, 1, arg)) < 0)
		return r;
	return db_one(db, st, NULL, NULL);
}

/* Lowest free lease of interface k (1), or 0 when that interface is full. */
static int lowest_free_on(struct db *db, const char *server_id, unsigned k, unsigned *lease)
{
	struct db_st *st;
	int r, free_lease = 0;

	if ((r = db_stmt(db, SQL_LOWEST_FREE, &st)) < 0)
		return r;
	if ((r = db_bind_text(db, st, 1, server_id)) < 0)
		return r;
	if ((r = db_bind_int(db, st, 2, pv_lease(k, PV_HOST_MIN))) < 0)
		return r;
	if ((r = db_bind_int(db, st, 3, pv_lease(k, PV_HOST_MAX))) < 0)
		return r;
	if ((r = db_one(db, st, db_read_int, &free_lease)) <= 0)
		return r;
	*lease = (unsigned)free_lease;
	return 1;
}

/* The lowest free lease over the server's interfaces: wg0 fills first, then wg1, ... */
static int lowest_free_host(struct db *db, const char *server_id, unsigned *lease)
{
	struct db_st *st;
	int r, n_ifaces = 0;
	unsigned k;

	if ((r = db->drv->lock_server(db, server_id)) < 0)
		return r;
	if ((r = db_stmt(db, SQL_SERVER_IFACES, &st)) < 0)
		return r;
	if ((r = db_bind_text(db, st, 1, server_id)) < 0)
		return r;
	if ((r = db_one(db, st, db_read_int, &n_ifaces)) < 0)
		return r;
	for (k = 0; k < (unsigned)n_ifaces; k++)
		if ((r = lowest_free_on(db, server_id, k, lease)) != 0)
			return r < 0 ? r : 0;
	return db_failf(db, PV_EFULL,
	                "server %s is full: host numbers %d..%d of its %d interface(s) are all "
	                "leased",
	                server_id, PV_HOST_MIN, PV_HOST_MAX, n_ifaces);
}

static int check_reserve_args(struct db *db, const char *user_id, const char *device,
                              const char *server_id, const char *pubkey_b64)
{
	int r;

	if ((r = db_check_id(db, "user id", user_id, DB_USER_ID_MAX)) < 0 ||
	    (r = db_check_id(db, "device", device, DB_DEVICE_MAX)) < 0 ||
	    (r = db_check_id(db, "server id", server_id, DB_SERVER_ID_MAX)) < 0)
		return r;
	if (!pubkey_b64 || !pv_key_is_valid_base64(pubkey_b64))
		return db_failf(db, PV_EINVAL,
		                "public key is not a canonical base64 WireGuard key");
	return 0;
}

/*
 * The associated data that binds a sealed PSK to its row: server, name and
 * public key, NUL-separated.  Returns its length.
 */
static size_t seal_aad(char out[128], const struct db_peer *p)
{
	int n = snprintf(out, 128, "%s%c%s%c%s", p->server_id, 0, p->name, 0, p->pubkey);

	return n < 0 ? 0 : (size_t)n;
}

/* Name the new row ("pv" + id) and seal its PSK under that identity. */
/* Seal psk under the state key, bound to p's identity (the row's name must be set). */
static int seal_psk(struct db *db, const struct db_peer *p, const uint8_t psk[PV_KEY_LEN],
                    uint8_t sealed[PV_SEALED_LEN])
{
	char aad[128];

	if (!db->has_seal_key)
		return db_failf(db, PV_EINVAL, "no state key to seal the PSK with");
	if (pv_seal(sealed, db->seal_key, psk, aad, seal_aad(aad, p)) < 0)
		return db_failf(db, PV_ECRYPTO, "sealing the PSK of %s failed", p->name);
	return 0;
}

static int name_and_seal(struct db *db, struct db_peer *p, const uint8_t *psk)
{
	uint8_t sealed[PV_SEALED_LEN];
	struct db_st *st;
	int r;

	snprintf(p->name, sizeof(p->name), "pv%" PRId64, p->id);
	if (!pv_peer_name_is_valid(p->name))
		return db_failf(db, PV_EDB, "peer id %" PRId64 " is too large for a client name",
		                p->id);
	if (psk && (r = seal_psk(db, p, psk, sealed)) < 0)
		return r;
	p->has_psk = psk != NULL;
	if ((r = db_stmt(db, SQL_PEER_NAME, &st)) < 0 || (r = db_bind_int(db, st, 1, p->id)) < 0 ||
	    (r = db_bind_text(db, st, 2, p->name)) < 0 ||
	    (r = db_bind_blob(db, st, 3, psk ? sealed : NULL, sizeof(sealed))) < 0)
		return r;
	return db_step_done(db, st);
}

static int insert_lease(struct db *db, const struct db_peer *p)
{
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, SQL_LEASE_INSERT, &st)) < 0 ||
	    (r = db_bind_text(db, st, 1, p->server_id)) < 0 ||
	    (r = db_bind_int(db, st, 2, p->host)) < 0 || (r = db_bind_int(db, st, 3, p->id)) < 0)
		return r;
	return db_step_done(db, st);
}

/* RETURNING id into an int64_t (a db_row_reader). */
static int read_id(struct db *db, struct db_st *st, void *row)
{
	*(int64_t *)row = db_col_int(db, st, 0);
	return 0;
}

/* Inside the transaction: the peer row, its generated name and sealed PSK, its lease. */
static int insert_peer(struct db *db, struct db_peer *p, const uint8_t *psk)
{
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, SQL_PEER_INSERT, &st)) < 0 ||
	    (r = db_bind_text(db, st, 1, p->user_id)) < 0 ||
	    (r = db_bind_text(db, st, 2, p->device)) < 0 ||
	    (r = db_bind_text(db, st, 3, p->server_id)) < 0 ||
	    (r = db_bind_text(db, st, 4, p->pubkey)) < 0 ||
	    (r = db_bind_int(db, st, 5, p->host)) < 0 ||
	    (r = db_bind_int(db, st, 6, p->created_at)) < 0)
		return r;
	if ((r = db_one(db, st, read_id, &p->id)) < 0)
		return r == PV_EEXIST
		               ? db_wrap(db, r, "this public key already has a peer on the server")
		               : r;
	if ((r = name_and_seal(db, p, psk)) < 0)
		return r;
	return insert_lease(db, p);
}

/* Inside the transaction: both ends exist, then the lowest free host. */
static int reserve_checks(struct db *db, struct db_peer *p)
{
	int r;

	if ((r = exists(db, SQL_SERVER_OPEN, p->server_id)) <= 0)
		return r < 0 ? r
		             : db_failf(db, PV_ENOTFOUND, "no server %s (or it is retired)",
		                        p->server_id);
	if ((r = exists(db, SQL_USER_EXISTS, p->user_id)) <= 0)
		return r < 0 ? r : db_failf(db, PV_ENOTFOUND, "no such user");
	return lowest_free_host(db, p->server_id, &p->host);
}

int db_peer_reserve(struct db *db, const char *user_id, const char *device, const char *server_id,
                    const char *pubkey_b64, const uint8_t *psk, struct db_peer *out)
{
	struct db_peer p;
	int r;

	if ((r = check_reserve_args(db, user_id, device, server_id, pubkey_b64)) < 0)
		return r;
	memset(&p, 0, sizeof(p));
	memcpy(p.user_id, user_id, strlen(user_id) + 1);
	memcpy(p.device, device, strlen(device) + 1);
	memcpy(p.server_id, server_id, strlen(server_id) + 1);
	memcpy(p.pubkey, pubkey_b64, sizeof(p.pubkey));
	p.state = DB_PEER_PENDING;
	p.created_at = p.updated_at = db_now();
	if ((r = db_begin(db)) < 0)
		return r;
	if ((r = reserve_checks(db, &p)) < 0 || (r = insert_peer(db, &p, psk)) < 0) {
		db_rollback(db);
		return r;
	}
	if ((r = db_commit(db)) < 0)
		return r;
	*out = p;
	return 0;
}

/* UPDATE/DELETE of one peer by id; PV_ENOTFOUND when no row changed. */
static int change_peer(struct db *db, struct db_st *st, int64_t peer_id)
{
	int r;

	if ((r = db_bind_int(db, st, 1, peer_id)) < 0 || (r = db_step_done(db, st)) < 0)
		return r;
	if (db_row_changes(db) == 0)
		return db_failf(db, PV_ENOTFOUND, "no peer %" PRId64, peer_id);
	return 0;
}

static int set_state(struct db *db, int64_t peer_id, enum db_peer_state state)
{
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, SQL_PEER_STATE, &st)) < 0 || (r = db_bind_int(db, st, 2, state)) < 0 ||
	    (r = db_bind_int(db, st, 3, db_now())) < 0)
		return r;
	return change_peer(db, st, peer_id);
}

int db_peer_set_state(struct db *db, int64_t peer_id, enum db_peer_state state)
{
	if (state != DB_PEER_PENDING && state != DB_PEER_ACTIVE && state != DB_PEER_REMOVING)
		return db_failf(db, PV_EINVAL, "peer state %d does not exist", (int)state);
	return set_state(db, peer_id, state);
}

int db_peer_delete(struct db *db, int64_t peer_id)
{
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, SQL_PEER_DELETE, &st)) < 0)
		return r;
	return change_peer(db, st, peer_id);
}

int db_peer_activate(struct db *db, int64_t peer_id, int64_t replaced_id)
{
	struct db_st *st;
	int r;

	if (replaced_id == peer_id)
		return db_failf(db, PV_EINVAL, "peer %" PRId64 " cannot replace itself", peer_id);
	if ((r = db_begin(db)) < 0)
		return r;
	if ((r = db_stmt(db, SQL_PEER_ACTIVATE, &st)) < 0 ||
	    (r = db_bind_int(db, st, 2, db_now())) < 0 || (r = change_peer(db, st, peer_id)) < 0)
		goto fail;
	if (replaced_id && (r = db_peer_delete(db, replaced_id)) < 0 && r != PV_ENOTFOUND)
		goto fail;
	return db_commit(db);
fail:
	db_rollback(db);
	return r;
}

int db_peer_get(struct db *db, int64_t peer_id, struct db_peer *out)
{
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, SQL_PEER_GET, &st)) < 0 || (r = db_bind_int(db, st, 1, peer_id)) < 0 ||
	    (r = db_one(db, st, read_peer, out)) < 0)
		return r;
	return r ? 0 : db_failf(db, PV_ENOTFOUND, "no peer %" PRId64, peer_id);
}

int db_peers_list(struct db *db, const struct db_peer_filter *f, struct db_peer **out, size_t *n)
{
	const char *sql = f && f->user_id && f->device ? SQL_PEERS_BY_DEVICE
	                  : f && f->server_id          ? SQL_PEERS_BY_SERVER
	                  : f && f->user_id            ? SQL_PEERS_BY_USER
	                                               : SQL_PEERS_ALL;
	struct db_st *st;
	int r;

	*out = NULL;
	*n = 0;
	if (!f)
		return db_failf(db, PV_EINVAL, "no peer filter");
	if (f->state < DB_PEER_NOT_ACTIVE || f->state > DB_PEER_REMOVING)
		return db_failf(db, PV_EINVAL, "peer filter state %d does not exist", f->state);
	if ((r = db_stmt(db, sql, &st)) < 0 || (r = db_bind_text(db, st, 1, f->user_id)) < 0 ||
	    (r = db_bind_text(db, st, 2, f->server_id)) < 0 ||
	    (r = db_bind_text(db, st, 3, f->device)) < 0 ||
	    (r = db_bind_int(db, st, 4, f->state)) < 0)
		return r;
	return db_collect(db, st, sizeof(**out), read_peer, (void **)out, n);
}

int db_user_other_devices(struct db *db, const char *user_id, const char *device, int cap, int *n)
{
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, SQL_OTHER_DEVICES, &st)) < 0)
		return r;
	if ((r = db_bind_text(db, st, 1, user_id)) < 0)
		return r;
	if ((r = db_bind_text(db, st, 2, device)) < 0)
		return r;
	if ((r = db_bind_int(db, st, 3, cap)) < 0)
		return r;
	if ((r = db_one(db, st, db_read_int, n)) < 0)
		return r;
	return 0;
}

int db_peer_find_key(struct db *db, const char *server_id, const char *pubkey_b64,
                     struct db_peer *out)
{
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, SQL_PEER_BY_KEY, &st)) < 0 ||
	    (r = db_bind_text(db, st, 1, server_id)) < 0 ||
	    (r = db_bind_text(db, st, 2, pubkey_b64)) < 0 ||
	    (r = db_one(db, st, read_peer, out)) < 0)
		return r;
	return r ? 0 : db_failf(db, PV_ENOTFOUND, "no peer with that key on %s", server_id);
}

/* The sealed blob of a peer (a db_row_reader). */
static int read_sealed(struct db *db, struct db_st *st, void *row)
{
	size_t len;
	const void *blob = db_col_blob(db, st, 0, &len);

	if (!blob)
		return db_failf(db, PV_ENOTFOUND, "no PSK kept (provisioned before sealed PSKs)");
	if (len != PV_SEALED_LEN)
		return db_failf(db, PV_ECRYPTO, "sealed PSK has the wrong length");
	memcpy(row, blob, PV_SEALED_LEN);
	return 0;
}

int db_peer_psk(struct db *db, const struct db_peer *p, uint8_t psk[PV_KEY_LEN])
{
	uint8_t sealed[PV_SEALED_LEN];
	char aad[128];
	struct db_st *st;
	int r;

	if (!db->has_seal_key)
		return db_failf(db, PV_EINVAL, "no state key to open sealed PSKs with");
	if ((r = db_stmt(db, SQL_PEER_PSK, &st)) < 0 || (r = db_bind_int(db, st, 1, p->id)) < 0 ||
	    (r = db_one(db, st, read_sealed, sealed)) < 0)
		return r;
	if (r == 0)
		return db_failf(db, PV_ENOTFOUND, "no peer %" PRId64, p->id);
	if (pv_unseal(psk, db->seal_key, sealed, aad, seal_aad(aad, p)) < 0)
		return db_failf(db, PV_ECRYPTO,
		                "the PSK of %s does not open (another state key, or tampered)",
		                p->name);
	return 0;
}

int db_peer_adopt_psk(struct db *db, const struct db_peer *p, const uint8_t psk[PV_KEY_LEN])
{
	uint8_t sealed[PV_SEALED_LEN];
	struct db_st *st;
	int r;

	if ((r = seal_psk(db, p, psk, sealed)) < 0)
		return r;
	if ((r = db_stmt(db, SQL_PEER_ADOPT_PSK, &st)) < 0 ||
	    (r = db_bind_int(db, st, 1, p->id)) < 0 ||
	    (r = db_bind_blob(db, st, 2, sealed, sizeof(sealed))) < 0 ||
	    (r = db_step_done(db, st)) < 0)
		return r;
	if (db_row_changes(db) == 0)
		return db_failf(db, PV_EEXIST, "peer %s already has a PSK, or is gone", p->name);
	return 0;
}

static int lease_to_foreign(struct db *db, struct db_peer *p)
{
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, SQL_LEASE_TO_FOREIGN, &st)) < 0 ||
	    (r = db_bind_int(db, st, 1, p->id)) < 0 || (r = db_step_done(db, st)) < 0)
		return r;
	if ((r = lowest_free_host(db, p->server_id, &p->host)) < 0)
		return r;
	if ((r = db_stmt(db, SQL_PEER_HOST, &st)) < 0 || (r = db_bind_int(db, st, 1, p->id)) < 0 ||
	    (r = db_bind_int(db, st, 2, p->host)) < 0 ||
	    (r = db_bind_int(db, st, 3, db_now())) < 0 || (r = db_step_done(db, st)) < 0)
		return r;
	return insert_lease(db, p);
}

int db_peer_relocate(struct db *db, struct db_peer *p)
{
	struct db_peer moved = *p;
	int r;

	if ((r = db_begin(db)) < 0)
		return r;
	if ((r = lease_to_foreign(db, &moved)) < 0) {
		db_rollback(db);
		return r;
	}
	if ((r = db_commit(db)) < 0)
		return r;
	*p = moved;
	return 0;
}

/* One foreign reservation's lease number (a db_row_reader; row is an unsigned), 0 if invalid. */
static int foreign_read(struct db *db, struct db_st *st, void *row)
{
	int64_t ip = db_col_int(db, st, 0);

	*(unsigned *)row = ip >= 0 && pv_lease_valid(NULL, (unsigned)ip) ? (unsigned)ip : 0;
	return 0;
}

static int foreign_current(struct db *db, const char *server_id,
                           unsigned char held[DB_LEASE_SET_BYTES])
{
	struct db_st *st;
	unsigned *rows = NULL;
	size_t n = 0, i;
	int r;

	memset(held, 0, DB_LEASE_SET_BYTES);
	if ((r = db_stmt(db, SQL_FOREIGN_LIST, &st)) < 0 ||
	    (r = db_bind_text(db, st, 1, server_id)) < 0 ||
	    (r = db_collect(db, st, sizeof(*rows), foreign_read, (void **)&rows, &n)) < 0)
		return r;
	for (i = 0; i < n; i++)
		if (rows[i])
			held[rows[i] / 8] |= (unsigned char)(1U << (rows[i] % 8));
	free(rows);
	return 0;
}

static int foreign_change(struct db *db, const char *sql, const char *server_id, unsigned host,
                          const char *key)
{
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, sql, &st)) < 0 || (r = db_bind_text(db, st, 1, server_id)) < 0 ||
	    (r = db_bind_int(db, st, 2, host)) < 0 ||
	    (key && (r = db_bind_text(db, st, 3, key)) < 0))
		return r;
	if ((r = db_step_done(db, st)) < 0)
		return r;
	return db_row_changes(db);
}

static int foreign_apply(struct db *db, const char *server_id, const struct db_foreign *f, size_t n,
                         struct db_foreign_change *out)
{
	unsigned char held[DB_LEASE_SET_BYTES], want[DB_LEASE_SET_BYTES] = {0};
	unsigned h;
	size_t i;
	int r;

	/* Another controller's allocation on this server waits (PostgreSQL): no clash to fail on.
	 */
	if ((r = db->drv->lock_server(db, server_id)) < 0)
		return r;
	if ((r = foreign_current(db, server_id, held)) < 0)
		return r;
	for (i = 0; i < n; i++) {
		h = f[i].host;
		if (!pv_lease_valid(NULL, h) || (want[h / 8] & (1U << (h % 8))))
			continue;
		want[h / 8] |= (unsigned char)(1U << (h % 8));
		if (held[h / 8] & (1U << (h % 8)))
			continue;
		/* An address one of our peers holds stays ours: the clash is logged by the caller.
		 */
		if ((r = foreign_change(db, SQL_FOREIGN_INSERT, server_id, h, f[i].pubkey)) < 0)
			return r;
		out->reserved += r;
		if (r)
			out->reserved_hosts[h / 8] |= (unsigned char)(1U << (h % 8));
	}
	for (h = 0; h < PV_LEASE_END; h++) {
		if (!(held[h / 8] & (1U << (h % 8))) || (want[h / 8] & (1U << (h % 8))))
			continue;
		if ((r = foreign_change(db, SQL_FOREIGN_DELETE, server_id, h, NULL)) < 0)
			return r;
		out->released += r;
		if (r)
			out->released_hosts[h / 8] |= (unsigned char)(1U << (h % 8));
	}
	return 0;
}

int db_foreign_sync(struct db *db, const char *server_id, const struct db_foreign *f, size_t n,
                    struct db_foreign_change *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = db_begin(db)) < 0)
		return r;
	if ((r = foreign_apply(db, server_id, f, n, out)) < 0) {
		db_rollback(db);
		memset(out, 0, sizeof(*out));
		return r;
	}
	return db_commit(db);
}
