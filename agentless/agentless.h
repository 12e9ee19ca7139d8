/* SPDX-License-Identifier: MIT */
/*
 * agentless/: push WireGuard peer edits to the fleet over pooled libssh2
 * sessions, the same edit wireguard-install.sh makes, done safely.
 *
 * Threading contract: every function here may be called from any thread.
 * Completion callbacks run on the pool's worker threads, never on the
 * caller's; a libevent caller bridges back with event_active().  Nothing in
 * this library ever blocks the caller on the network.
 */
#ifndef PV_AGENTLESS_H
#define PV_AGENTLESS_H

#include <stdint.h>

#include "pv.h"

struct agentless;

struct agentless_config {
	const char *identity;    /* SSH private key (ed25519, OpenSSH format) */
	const char *known_hosts; /* OpenSSH known_hosts; no TOFU */
	int op_timeout_ms;       /* deadline of an edit, from submission; 0 = 10000 */
	int connect_timeout_ms;  /* TCP connect + handshake + auth; 0 = 5000 */
	int keepalive_s;         /* keepalive interval; 0 = 15 */
	int no_batching;         /* 1: one edit per round trip (bench only) */
	/*
	 * Optional timing hook, called on the worker after every round trip of
	 * edits, dumps and pings with its duration and result (0 or PV_E*): a
	 * batch from its write to its answer (several may be in flight), a
	 * ping including a reconnect when the session was cold; not
	 * agentless_exec.
	 */
	void (*round_trip)(void *arg, const char *server_id, uint64_t us, int err);
	void *round_trip_arg;
};

enum agentless_op { AGENTLESS_ADD = 1, AGENTLESS_REMOVE = 2 };

/*
 * One peer edit.  name follows wireguard-install.sh's rule
 * ([A-Za-z0-9_-]{1,15}); host is the peer's lease (pv_lease: interface k
 * and host number N of 10.7.0.N and fddd:2c4:2c4:2c4::N, 2..254), which
 * names the interface (wgN.conf, `wg set wgN`) the edit goes to.  For
 * REMOVE only name, pubkey and the interface (pv_lease_iface(host)) matter.
 * The public key travels in the form the DB and wg keep it (base64); the
 * PSK as the 32 bytes it was made as.  The pool copies the edit and
 * cleanses its PSK copy when done.
 */
struct agentless_edit {
	enum agentless_op op;
	char name[PV_PEER_NAME_MAX + 1];
	char pubkey[PV_KEY_B64_LEN + 1]; /* canonical base64 */
	uint8_t psk[PV_KEY_LEN];
	unsigned host;
};

/* A removed live peer's last counters (`wg show IFACE dump`). */
struct agentless_final {
	int seen; /* 1 when the server reported them */
	int64_t latest_handshake;
	uint64_t rx_bytes, tx_bytes; /* at most INT64_MAX each */
};

/*
 * Result of one edit.  err is 0 or a PV_E* code; detail is a human message
 * naming the server (remote stderr, fingerprint, ...), "" on success, valid
 * only during the callback.  changed is 1 if the server's state (wg0.conf or
 * the live interface) changed, 0 if the edit was a no-op.  retried is 1 when
 * the batch was re-sent after its session died mid-flight: edits are
 * idempotent, so it landed exactly once, but changed == 0 may then mean the
 * lost first attempt made the change.
 *
 * err codes: PV_EUNREACH (connect/session failure), PV_ETIMEOUT (deadline),
 * PV_EAUTH (SSH key refused), PV_EHOSTKEY (unknown/changed host key),
 * PV_EEXIST (name or key already used differently on the server),
 * PV_EINUSE (the address is held by another peer on the server),
 * PV_EREMOTE (remote command failed; detail carries its stderr), PV_EIO.
 *
 * final: a REMOVE that took a live peer off its interface carries the
 * peer's counters as read just before the removal (final.seen = 1), so the
 * caller can account the bytes since its last reading; seen = 0 otherwise.
 */
struct agentless_result {
	int err;
	int changed;
	int retried;
	const char *detail;
	struct agentless_final final;
};

typedef void (*agentless_edit_cb)(const struct agentless_result *res, void *arg);

/* One [Peer] section of one of the server's IFACE.conf. */
struct agentless_block {
	unsigned iface;                  /* index of the interface (ifaces[]) it was read from */
	char name[PV_PEER_NAME_MAX + 1]; /* BEGIN_PEER name; "" outside any block */
	char pubkey[PV_KEY_B64_LEN + 1]; /* "" if the section has none */
	char *allowed_ips;               /* owned: "a/32,b/128" as written, blanks removed */
};

/* The PSK of a block, asked for by name (agentless_dump_psks). */
struct agentless_psk {
	char name[PV_PEER_NAME_MAX + 1];
	uint8_t psk[PV_KEY_LEN];
};

/*
 * A server's actual state: its live interfaces and their config files.  With
 * several interfaces the dumps are merged: live peers and blocks carry the
 * index of the interface they came from; live's own key and port are wg0's.
 */
struct agentless_dump {
	struct pv_wg_dump *live; /* owned: `wg show IFACE dump`, secrets masked on the server */
	size_t nblocks;
	struct agentless_block *blocks; /* owned: IFACE.conf's [Peer] sections, in file order */
	size_t npsks;
	struct agentless_psk *psks; /* owned, cleansed when freed: only the PSKs asked for */
};

/*
 * Callback of agentless_dump(); dump is owned by the pool and valid during
 * the call only (one dump answers every request queued for the server):
 * keep it with agentless_dump_dup().
 */
typedef void (*agentless_dump_cb)(int err, const char *detail, const struct agentless_dump *dump,
                                  void *arg);

/*
 * New pool over the fleet (borrowed: must outlive the pool).  Sessions open
 * lazily.  Returns 0 and *out owned by the caller, or a PV_E* code.
 */
int agentless_new(struct agentless **out, const struct pv_fleet *fleet,
                  const struct agentless_config *cfg);
/*
 * Fails every queued edit with PV_EUNREACH, waits for in-flight round trips
 * (bounded by their deadlines), joins workers, frees.  NULL ok.
 */
void agentless_free(struct agentless *pool);

/*
 * Queue an edit for a server.  Returns PV_EINVAL (bad name, host) or
 * PV_ENOTFOUND (unknown server) at once without calling cb; otherwise 0, and
 * cb is called exactly once.  Edits queued while a round trip is in flight
 * go out together in the next one.
 */
int agentless_submit(struct agentless *pool, const char *server_id,
                     const struct agentless_edit *edit, agentless_edit_cb cb, void *arg);

/*
 * Queue n edits for a server at once, so they go out in one round trip
 * (the reconcile's repairs).  Same contract as agentless_submit per edit:
 * cb(res, args[i]) exactly once each; on an immediate error none is called.
 */
int agentless_submit_batch(struct agentless *pool, const char *server_id,
                           const struct agentless_edit *edits, size_t n, agentless_edit_cb cb,
                           void *const *args);

/*
 * Read the live peers of a server; cb is called exactly once on success
 * return.  The private key and PSKs are masked on the server and never sent.
 */
int agentless_dump(struct agentless *pool, const char *server_id, agentless_dump_cb cb, void *arg);
/*
 * Same, and also bring back the PSKs of the blocks named in names[n] (for
 * rows kept from before the controller sealed PSKs: the one time a PSK
 * travels from a server, inside the SSH channel).  Dumps queued together
 * share one round trip; each callback sees the PSKs all of them asked for.
 */
int agentless_dump_psks(struct agentless *pool, const char *server_id, const char *const *names,
                        size_t n, agentless_dump_cb cb, void *arg);
/*
 * Run `true` on the server's (warm) session: a health probe and the floor of
 * a round trip.  cb gets dump == NULL.
 */
int agentless_ping(struct agentless *pool, const char *server_id, agentless_dump_cb cb, void *arg);

/*
 * Add a server to a running pool: its worker starts at once, its session
 * opens on the first job.  srv is borrowed and must outlive the pool (like
 * the fleet of agentless_new); its ssh_hostkey, when set, is pinned besides
 * known_hosts.  PV_EEXIST for an id the pool has, PV_EFULL past PV_FLEET_MAX.
 */
int agentless_add_server(struct agentless *pool, const struct pv_server *srv);

/*
 * Take a server out of a running pool (DELETE /api/admin/servers/ID): from
 * the return on, lookups no longer find it, so new jobs for server_id get
 * PV_ENOTFOUND.  Its worker then fails the jobs still queued with
 * PV_ENOTFOUND ("server ID was removed from the fleet"), lets a round trip
 * already under way finish (bounded by its deadline, so its callbacks say
 * what happened on the server), closes the SSH session (its remote script
 * exits with it) and ends; callbacks may still fire on that worker after
 * the return, never after agentless_free.  Never blocks on the network;
 * the thread is joined by agentless_free.  The server's srv stays borrowed
 * until agentless_free, and its slot is not reused: removed servers count
 * towards PV_FLEET_MAX like the controller's fleet slots.  Any thread.
 * Returns 0, or PV_ENOTFOUND for an id the pool does not (or no longer) has.
 */
int agentless_remove_server(struct agentless *pool, const char *server_id);

/*
 * Result of agentless_exec: err is 0 when the command ran (then exit_status
 * is its exit status, out and errtext its stdout and stderr, valid during
 * the call), else a PV_E* code with detail naming the server.
 */
typedef void (*agentless_exec_cb)(int err, const char *detail, int exit_status, const char *out,
                                  const char *errtext, void *arg);
/*
 * Run cmd on the server's session with in[inlen] on its stdin, alone in its
 * round trip, within timeout_ms from now (not the pool's op_timeout_ms).
 * Like the pool's own commands it may be re-sent once on a fresh session
 * when the warm one turns out dead: only idempotent commands (the
 * bootstrap).  Same contract as agentless_submit; cb is called exactly once.
 */
int agentless_exec(struct agentless *pool, const char *server_id, const char *cmd, const char *in,
                   size_t inlen, int timeout_ms, agentless_exec_cb cb, void *arg);

/*
 * "SHA256:…" fingerprint (as ssh-keygen -l prints it) of an
 * "ssh-ed25519 AAAA…" key into out; PV_EINVAL if it is not one.
 */
int agentless_hostkey_fingerprint(const char *key, char out[64]);

/*
 * The fingerprint of srv's key in the known_hosts file: the first entry,
 * plain or hashed, for its SSH host ("host", "[host]:port" off port 22).
 * PV_ENOTFOUND when none is, PV_EIO when the file cannot be read.  Call after agentless_new
 * (libssh2 initialised).
 */
int agentless_known_fingerprint(const char *known_hosts, const struct pv_server *srv, char out[64]);

/*
 * Jobs (edits, dumps, pings) queued for a server and not yet taken by its
 * worker: the round trip in flight is not counted.  PV_ENOTFOUND for an
 * unknown server.  Safe from any thread.
 */
int agentless_queue_depth(struct agentless *pool, const char *server_id, size_t *depth);

/* Blocking convenience wrappers for tools and tests (not for event loops). */
int agentless_submit_wait(struct agentless *pool, const char *server_id,
                          const struct agentless_edit *edit, int *changed, char *detail,
                          size_t detail_len);
int agentless_dump_wait(struct agentless *pool, const char *server_id, struct agentless_dump **out,
                        char *detail, size_t detail_len);
int agentless_ping_wait(struct agentless *pool, const char *server_id, char *detail,
                        size_t detail_len);
void agentless_dump_free(struct agentless_dump *dump);
/* Deep copy of src into a new *out owned by the caller; PV_ENOMEM. */
int agentless_dump_dup(struct agentless_dump **out, const struct agentless_dump *src);

#endif
