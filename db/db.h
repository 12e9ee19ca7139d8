/* SPDX-License-Identifier: MIT */
/*
 * db/: the controller's desired state — users, servers, peers, IP leases
 * and the admin audit trail — in SQLite (a file, the default: one
 * controller) or PostgreSQL (a URL: several controllers, docs/ha.md).
 *
 * The DB is the desired state, the servers are the actual state.  Every
 * statement is prepared with bound parameters.  A struct db is used by one
 * thread at a time (the controller's event loop); other threads or processes
 * open their own handle (SQLite: WAL, busy timeout; PostgreSQL: a session
 * each).  Functions return 0 or a negative PV_E* code (pv.h): PV_EINVAL for
 * bad arguments, PV_ENOTFOUND, PV_EEXIST for a UNIQUE clash, PV_EBUSY when a
 * lock stayed held past the 5 s timeout, PV_EDB for any other database
 * failure.  db/ never logs; db_errmsg() says what went wrong on the last
 * failure.
 */
#ifndef PV_DB_H
#define PV_DB_H

#include <stddef.h>
#include <stdint.h>

#include "pv.h"

struct db;

/* Longest ids accepted (bytes, without the NUL); longer ones are PV_EINVAL. */
#define DB_USER_ID_MAX   64
#define DB_DEVICE_MAX    64
#define DB_SERVER_ID_MAX 31

enum db_peer_state {
	DB_PEER_PENDING = 0, /* lease held, push not yet acknowledged */
	DB_PEER_ACTIVE = 1,  /* on the server */
	DB_PEER_REMOVING = 2 /* revoke in flight */
};

struct db_user {
	char id[DB_USER_ID_MAX + 1];
	enum pv_tier tier;
	int active;
	unsigned key_gen; /* key generation: only keys of this generation are accepted */
};

struct db_peer {
	int64_t id;
	char user_id[DB_USER_ID_MAX + 1];
	char device[DB_DEVICE_MAX + 1];
	char server_id[DB_SERVER_ID_MAX + 1];
	char name[16];                   /* wireguard-install.sh client name: "pv" + id */
	char pubkey[PV_KEY_B64_LEN + 1]; /* base64 */
	unsigned host;                   /* its lease: interface and host number (pv_lease) */
	enum db_peer_state state;
	int64_t created_at, updated_at; /* unix seconds */
	int64_t last_handshake;         /* as the last health pass saw it, 0 = never */
	uint64_t rx_bytes, tx_bytes;    /* the server's counters at the last pass */
	int has_psk;                    /* a sealed PSK is kept (rows from before have none) */
};

/*
 * Open the database at target, then apply every pending migration.  A
 * target starting "postgresql://" or "postgres://" is a libpq URL (its
 * password, if any, stays out of every message: see db_describe; libpq's
 * PGPASSFILE and PG* variables apply); anything else is a SQLite file,
 * created if needed, with WAL, synchronous=FULL, foreign keys on and a 5 s
 * busy timeout.
 * Like sqlite3_open(), *out is set whenever a handle could be allocated —
 * also on failure, so that db_errmsg(*out) can say why; the caller
 * db_close()s it in every case.  *out is NULL only on PV_ENOMEM/PV_EINVAL.
 */
int db_open(struct db **out, const char *path);
/*
 * Same, with flags.  DB_OPEN_SYNC_NORMAL is for the benchmark's comparison
 * only: commits are not fsynced, so a power loss (not a kill -9) may drop
 * the latest acknowledged ones.
 */
#define DB_OPEN_SYNC_NORMAL (1U << 0)
int db_open_flags(struct db **out, const char *path, unsigned flags);
/*
 * Called after every COMMIT of an explicit transaction (db_begin … commit,
 * as the peer reservation and migrations use) with how long the COMMIT
 * itself took, in microseconds, and whether it succeeded.  NULL removes it.
 */
typedef void (*db_commit_observer)(void *arg, uint64_t us, int ok);
void db_set_commit_observer(struct db *db, db_commit_observer fn, void *arg);
/* Finalizes every statement and closes the file or session; accepts NULL. */
void db_close(struct db *db);
/*
 * target as it may be logged: a SQLite path as it is, a PostgreSQL URL as
 * postgresql://user@host:port/dbname only (no password, no options).
 * PV_EINVAL (and a placeholder in out) for a URL libpq cannot parse.
 */
int db_describe(const char *target, char *out, size_t len);
/*
 * Leader election between controllers sharing one PostgreSQL database:
 * *leader is 1 while this handle's session holds the leader lock (a session
 * advisory lock, released by PostgreSQL when the session ends, e.g. when its
 * controller dies).  Call it once per health period on a handle used for
 * nothing else: it takes the lock when free, and checks with a round trip
 * that the session holding it still lives.  On SQLite always 1.  0 or PV_E*
 * (*leader is 0 then).
 */
int db_leader_poll(struct db *db, int *leader);
/*
 * Group commit: between db_group_begin and db_group_commit every write
 * joins one transaction (each function's own transaction becomes a
 * savepoint, so it still succeeds or fails whole), and the group's COMMIT
 * is one fsync for all of them.  Nothing of the group is durable before
 * db_group_commit returns 0; on failure the whole group is rolled back.
 * On PostgreSQL each write commits on its own instead (one controller's
 * group would hold the locks of many servers while another's waits on
 * them: deadlocks), so a write may be durable before db_group_commit;
 * callers that hold replies until db_group_commit stay correct on both.
 * 0 or PV_E* (db_errmsg).
 */
int db_group_begin(struct db *db);
/*
 * Changes when another connection (another process, another controller)
 * committed since this connection's last look.  SQLite: PRAGMA
 * data_version, which this connection's own commits do not move.
 * PostgreSQL: the WAL position, which every commit moves, ours included.
 * For caches.  0 or PV_E*.
 */
int db_data_version(struct db *db, int64_t *out);
/* Rows this connection has changed since it opened (sqlite3_total_changes64): for caches. */
int64_t db_changes(struct db *db);
int db_group_commit(struct db *db);
/*
 * What went wrong on the last failure on this handle (the database's own
 * message when it failed); owned by the handle, valid until the next call.
 */
const char *db_errmsg(struct db *db);

/*
 * Insert/update the fleet's servers in one transaction; servers gone from
 * the file are kept (their peers may still hold leases) but marked retired,
 * and cannot receive new peers.  Health and learnt keys are kept.
 */
int db_servers_sync(struct db *db, const struct pv_fleet *fleet);
/* What a health pass learnt about one server. */
struct db_server_health {
	int up;                      /* 1 = its dump came back, 0 = not */
	int live_peers;              /* peers on the live interface */
	int active_peers;            /* of those, with a handshake in the last 180 s */
	uint64_t rx_bytes, tx_bytes; /* totals over the live peers */
	const char *wg_pubkey;       /* the interface's key as read, or NULL when unknown */
};
/* One live peer's counters as the server reports them. */
struct db_peer_stats {
	char pubkey[PV_KEY_B64_LEN + 1];
	int64_t latest_handshake;
	uint64_t rx_bytes, tx_bytes;
};
/*
 * Record a health pass in one transaction: the server's row (state_since
 * moves when up changes) and the counters of the peers in peers[n] that
 * the DB knows on that server (others are ignored), adding their growth
 * since the last pass to their users' usage.  PV_ENOTFOUND for an
 * unknown server, PV_EINVAL for out-of-range values or a malformed key.
 */
int db_server_record(struct db *db, const char *server_id, const struct db_server_health *h,
                     const struct db_peer_stats *peers, size_t n);
/*
 * Record a removed peer's last counters (read on the server just before the
 * removal) exactly as a health pass records a peer: their growth since the
 * last recorded counters goes to its user's day, and they become the
 * recorded ones, so nothing is counted twice.  A peer the DB does not know
 * on that server is ignored.  One transaction.
 */
int db_peer_record_final(struct db *db, const char *server_id, const struct db_peer_stats *p);
/* How many repairs the server's last reconcile made, stamped now. */
int db_server_set_repairs(struct db *db, const char *server_id, int repairs);
struct db_server_status {
	char id[DB_SERVER_ID_MAX + 1];
	int up;                               /* last health pass, -1 = never checked */
	int peers;                            /* leases held on the server */
	int live_peers;                       /* peers seen by the last health pass */
	char wg_pubkey[PV_KEY_B64_LEN + 1];   /* "" until learnt */
	int64_t checked_at;                   /* unix seconds, 0 = never */
	int active_peers;                     /* handshake in the last 180 s */
	uint64_t rx_bytes, tx_bytes;          /* totals of the live peers */
	int64_t state_since;                  /* when up last changed */
	int repairs;                          /* what the last reconcile repaired */
	int64_t reconciled_at;                /* unix seconds, 0 = never */
	int draining;                         /* 1: takes no new peers */
	int capacity;                         /* 253 per WireGuard interface */
	char ssh_hostkey[PV_HOSTKEY_MAX + 1]; /* pinned in the entry, "" when known_hosts only */
};
/* Status of one server (retired ones included); PV_ENOTFOUND if unknown. */
int db_server_status(struct db *db, const char *server_id, struct db_server_status *out);
/*
 * Status of every server that is not retired, in the order they were first
 * synced, in one query.  *out is a new array owned by the caller (free());
 * *n may be 0.  Both are NULL/0 on failure.
 */
int db_servers_list(struct db *db, struct db_server_status **out, size_t *n);
/* Addresses leased on one interface of a server. */
struct db_iface_leases {
	char server_id[DB_SERVER_ID_MAX + 1];
	unsigned iface; /* index in the server's ifaces[] (pv_lease_iface) */
	int used;       /* leases held there, peers in any state and foreign reservations */
};
/*
 * Leases by server and interface, from one query: of server_id, or of every
 * non-retired server when it is NULL; ordered by server (as db_servers_list)
 * then interface.  An interface without a lease has no row.  *out is a new
 * array owned by the caller (free()); *n may be 0.
 */
int db_iface_leases(struct db *db, const char *server_id, struct db_iface_leases **out, size_t *n);
/* Counts of non-retired servers by their last health: up, down, never checked. */
int db_servers_count(struct db *db, int *up, int *down, int *unknown);

/*
 * The fleet once imported (docs/fleet.md): each server's servers.json
 * entry lives in its row.  Add a server with its entry (JSON text already
 * validated by pv_fleet_parse); PV_EEXIST when the id was ever used.
 */
int db_server_add(struct db *db, const struct pv_server *s, const char *entry);
/*
 * How many WireGuard interfaces the server has: the range its leases are
 * allocated in.  Set from the entries at each start (an entry changed at
 * runtime takes effect then).  PV_ENOTFOUND for an unknown server.
 */
int db_server_set_interfaces(struct db *db, const char *server_id, size_t n);
/* Store the entry of a server already synced (the first import, or an update). */
int db_server_set_entry(struct db *db, const struct pv_server *s, const char *entry);
/*
 * The entries of every server that is not retired, as one JSON array text
 * in the order they joined: *json is new, owned by the caller (free());
 * *n how many ("[]" and 0 before the first import).
 */
int db_fleet_entries(struct db *db, char **json, int *n);
/* The WireGuard key a bootstrap reported (the health pass keeps it current). */
int db_server_set_wg_pubkey(struct db *db, const char *server_id, const char *key);
/* Draining on (1) or off (0); PV_ENOTFOUND for an unknown or retired server. */
int db_server_set_draining(struct db *db, const char *server_id, int draining);
/*
 * Retire a server (removed from the fleet; its row stays for the audit and
 * its id is never reused).  PV_EEXIST while peers hold leases on it.
 */
int db_server_retire(struct db *db, const char *server_id);

/* One user's transfer on one UTC day (server view: rx = from the user). */
struct db_usage {
	char user_id[DB_USER_ID_MAX + 1];
	char day[11]; /* YYYY-MM-DD */
	uint64_t rx_bytes, tx_bytes;
};
/*
 * Usage rows of user_id (NULL or "": everyone) from day `from` to day `to`
 * (YYYY-MM-DD, inclusive), by user then day.  *out new, owned (free()).
 */
int db_usage_list(struct db *db, const char *user_id, const char *from, const char *to,
                  struct db_usage **out, size_t *n);
/* Sums over every user and day. */
int db_usage_totals(struct db *db, uint64_t *rx, uint64_t *tx);

/*
 * Create or update a user (tier change, deactivation and reactivation
 * included).  A tier change or a deactivation bumps the key generation in
 * the same statement, so the key that worked before can never work again,
 * not even after the tier is set back or the user re-enabled.
 */
int db_user_upsert(struct db *db, const char *user_id, enum pv_tier tier, int active);
/* PV_ENOTFOUND if no such user. */
int db_user_get(struct db *db, const char *user_id, struct db_user *out);
/*
 * Bump the user's key generation (rotate-key); *gen is the new one.
 * PV_ENOTFOUND if no such user.
 */
int db_user_rotate_key(struct db *db, const char *user_id, unsigned *gen);

/* A user with the counts the admin list shows. */
struct db_user_summary {
	struct db_user user;
	int peers;   /* peer rows in any state */
	int devices; /* distinct device names among them */
};
/*
 * Up to limit users with ids greater than after (NULL or "": from the
 * first), ordered by id: keyset paging, stable while users are added.
 * *out is a new array owned by the caller (free()); *n may be 0.
 */
int db_users_list(struct db *db, const char *after, int limit, struct db_user_summary **out,
                  size_t *n);

/*
 * Reserve a peer: in one write transaction (SQLite: BEGIN IMMEDIATE;
 * PostgreSQL: under the server's advisory lock) allocate the lowest
 * free host number on the server and insert a PENDING peer row.  A name is
 * generated from the row id ("pv" + id; ids are never reused), and psk (32
 * bytes, or NULL for none) is sealed into the row bound to (server, name,
 * public key).  Leases fill wg0 first, then wg1, ... (pv_lease).
 * PV_EFULL when every interface's 2..254 are taken, PV_ENOTFOUND for an unknown user or
 * an unknown/retired server, PV_EEXIST when the server already has a peer
 * with this public key (nothing is written then).  *out is filled on success.
 */
int db_peer_reserve(struct db *db, const char *user_id, const char *device, const char *server_id,
                    const char *pubkey_b64, const uint8_t *psk, struct db_peer *out);
/*
 * The PSK sealing key (32 bytes, copied, cleansed by db_close).  Without it
 * db_peer_reserve refuses a PSK and db_peer_psk cannot open one.
 */
void db_set_seal_key(struct db *db, const uint8_t key[PV_KEY_LEN]);
/*
 * Open p's sealed PSK into psk.  PV_ENOTFOUND when the row has none (made
 * before sealed PSKs), PV_ECRYPTO when it does not open (other state key,
 * tampered, or copied from another row).
 */
int db_peer_psk(struct db *db, const struct db_peer *p, uint8_t psk[PV_KEY_LEN]);
/*
 * Seal psk into a row that has none (made before sealed PSKs); a row that
 * has one is left as it is (PV_EEXIST).  PV_ENOTFOUND if the row is gone.
 */
int db_peer_adopt_psk(struct db *db, const struct db_peer *p, const uint8_t psk[PV_KEY_LEN]);
/*
 * How many distinct devices other than `device` the user has peers for (any
 * server, state), counted up to cap: *n is min(that number, cap), so the cost
 * is bounded by the quota a caller checks, not by the account's size.
 */
int db_user_other_devices(struct db *db, const char *user_id, const char *device, int cap, int *n);
/* The peer holding pubkey on the server, in any state; PV_ENOTFOUND if none. */
int db_peer_find_key(struct db *db, const char *server_id, const char *pubkey_b64,
                     struct db_peer *out);
/*
 * The server refused p's address (a peer we do not own holds it): in one
 * transaction that address becomes a foreign reservation and p moves to the
 * lowest free host (p->host updated).  PV_EFULL when none is left.
 */
int db_peer_relocate(struct db *db, struct db_peer *p);

/* An address held on a server by a peer the controller does not own. */
struct db_foreign {
	unsigned host;                   /* the lease of its IPv4 address (pv_peer_host_of) */
	char pubkey[PV_KEY_B64_LEN + 1]; /* "" when the peer has none */
};
/* What db_foreign_sync changed: lease h's bit is set in the set it went into. */
#define DB_LEASE_SET_BYTES (PV_LEASE_END / 8)
struct db_foreign_change {
	int reserved, released;
	unsigned char reserved_hosts[DB_LEASE_SET_BYTES], released_hosts[DB_LEASE_SET_BYTES];
};
/* 1 if lease h's bit is set in a PV_LEASE_END-bit set. */
#define DB_HOST_IN(set, h) (((set)[(h) / 8] >> ((h) % 8)) & 1U)
/*
 * Make the server's foreign reservations exactly f[n] in one transaction:
 * new ones are reserved (an address one of our peers holds stays ours),
 * gone ones released; *out says which.
 */
int db_foreign_sync(struct db *db, const char *server_id, const struct db_foreign *f, size_t n,
                    struct db_foreign_change *out);
/*
 * PENDING -> ACTIVE once the push succeeded, and in the same transaction
 * delete the peer it replaces, releasing its lease (0 = none; an already
 * deleted one is fine).  PV_ENOTFOUND if peer_id does not exist or is no
 * longer PENDING (a revoke took it over meanwhile).
 */
int db_peer_activate(struct db *db, int64_t peer_id, int64_t replaced_id);
/*
 * Delete the row and release its lease, atomically (rollback of a failed
 * push, or revoke).  PV_ENOTFOUND if there is no such peer.
 */
int db_peer_delete(struct db *db, int64_t peer_id);
/* Set the state (REMOVING before a revoke push) and updated_at; PV_ENOTFOUND if missing. */
int db_peer_set_state(struct db *db, int64_t peer_id, enum db_peer_state state);
/* Fetch one peer; PV_ENOTFOUND if missing. */
int db_peer_get(struct db *db, int64_t peer_id, struct db_peer *out);

/* Filter states besides enum db_peer_state. */
#define DB_PEER_ANY        (-1) /* every state */
#define DB_PEER_NOT_ACTIVE (-2) /* PENDING and REMOVING: crash leftovers at startup */
/*
 * List peers matching the filter (NULL fields match anything), ordered by
 * id; results go into a new array owned by the caller (free()).  *n may be
 * 0.  Both are NULL/0 on failure.
 */
struct db_peer_filter {
	const char *user_id;
	const char *server_id;
	const char *device;
	int state; /* enum db_peer_state, DB_PEER_ANY or DB_PEER_NOT_ACTIVE */
};
int db_peers_list(struct db *db, const struct db_peer_filter *f, struct db_peer **out, size_t *n);

/*
 * Append to the audit trail (admin actions).  actor and action are
 * required; subject and detail may be NULL.  Never put secrets in detail.
 */
int db_audit(struct db *db, const char *actor, const char *action, const char *subject,
             const char *detail);
/* One audit row of a batch (db_audit_many); strings borrowed. */
struct db_audit_row {
	const char *action, *subject, *detail;
};
/* n rows by one actor in one transaction (a reconcile pass's repairs: one commit, not n). */
int db_audit_many(struct db *db, const char *actor, const struct db_audit_row *rows, size_t n);

#endif
