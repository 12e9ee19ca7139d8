/* SPDX-License-Identifier: MIT */
/*
 * db/: the controller's desired state in SQLite — users, servers, peers,
 * IP leases and the admin audit trail.
 *
 * The DB is the desired state, the servers are the actual state.  Every
 * statement is prepared with bound parameters.  A struct db is used by one
 * thread at a time (the controller's event loop).  Functions return 0 or a
 * negative PV_E* code (pv.h); db/ never logs, db_errmsg() says what SQLite
 * said about the last failure.
 */
#ifndef PV_DB_H
#define PV_DB_H

#include <stdint.h>

#include "pv.h"

struct db;

#define DB_HOST_MIN 2
#define DB_HOST_MAX 254

enum db_peer_state {
	DB_PEER_PENDING = 0, /* lease held, push not yet acknowledged */
	DB_PEER_ACTIVE = 1,  /* on the server */
	DB_PEER_REMOVING = 2 /* revoke in flight */
};

struct db_user {
	char id[65];
	enum pv_tier tier;
	int active;
};

struct db_peer {
	int64_t id;
	char user_id[65];
	char device[65];
	char server_id[32];
	char name[16];			  /* wireguard-install.sh client name */
	char pubkey[PV_KEY_B64_LEN + 1]; /* base64 */
	unsigned host;			  /* N of 10.7.0.N */
	enum db_peer_state state;
	int64_t created_at, updated_at; /* unix seconds */
};

/* Open (creating if needed), set WAL + busy timeout, run migrations. */
int db_open(struct db **out, const char *path);
void db_close(struct db *db);
/* What SQLite said about the last failure on this handle; static until next call. */
const char *db_errmsg(struct db *db);

/* Insert/update the fleet's servers; servers gone from the file are kept but marked retired. */
int db_servers_sync(struct db *db, const struct pv_fleet *fleet);
/*
 * Record a server's health after a check: up = 1/0, its live peer count and,
 * when known (non-NULL), its WireGuard public key as learnt from the server.
 */
int db_server_set_health(struct db *db, const char *server_id, int up, int live_peers,
			 const char *wg_pubkey_b64);
struct db_server_status {
	char id[32];
	int up;		  /* last health pass, -1 = never checked */
	int peers;	  /* leases held on the server */
	int live_peers;	  /* peers seen by the last health pass */
	char wg_pubkey[PV_KEY_B64_LEN + 1]; /* "" until learnt */
	int64_t checked_at;
};
/* Status of one server; PV_ENOTFOUND if unknown. */
int db_server_status(struct db *db, const char *server_id, struct db_server_status *out);

/* Create or update a user (tier change and reactivation included). */
int db_user_upsert(struct db *db, const char *user_id, enum pv_tier tier, int active);
/* PV_ENOTFOUND if no such user. */
int db_user_get(struct db *db, const char *user_id, struct db_user *out);

/*
 * Reserve a peer: in one BEGIN IMMEDIATE transaction allocate the lowest
 * free host number on the server and insert a PENDING peer row.  A name is
 * generated from the row id.  PV_EFULL when 2..254 are all taken.
 */
int db_peer_reserve(struct db *db, const char *user_id, const char *device,
		    const char *server_id, const char *pubkey_b64, struct db_peer *out);
/* PENDING -> ACTIVE once the push succeeded; optionally deletes the peer it replaces (0 = none). */
int db_peer_activate(struct db *db, int64_t peer_id, int64_t replaced_id);
/* Delete the row and release its lease (rollback of a failed push, or revoke). */
int db_peer_delete(struct db *db, int64_t peer_id);
/* Mark REMOVING before a revoke push. */
int db_peer_set_state(struct db *db, int64_t peer_id, enum db_peer_state state);

/*
 * List peers matching the filter (NULL fields match anything); results go
 * into a new array owned by the caller (free()).  *n may be 0.
 */
struct db_peer_filter {
	const char *user_id;
	const char *server_id;
	const char *device;
	int state; /* -1 = any */
};
int db_peers_list(struct db *db, const struct db_peer_filter *f, struct db_peer **out, size_t *n);

/* Append to the audit trail (admin actions). */
int db_audit(struct db *db, const char *actor, const char *action, const char *subject,
	     const char *detail);

#endif
