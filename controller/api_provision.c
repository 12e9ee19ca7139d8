/* SPDX-License-Identifier: MIT */
/*
 * POST /api/provision: tier check, lease, keys, push, and only then the
 * config.  The lease is a PENDING row until the server acknowledged the
 * push; a failed push deletes it again, so nothing is left half-done.  The
 * peer of the same (user, device, server) that this one replaces is removed
 * in the same batch, before the add.  The loop never waits on SSH: the
 * push's result comes back through push.c.  The lease and the activation
 * are group steps (group.c): the requests and answers ready together share
 * one commit, and the reply leaves only after it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "agentless.h"
#include "controller.h"
#include "db.h"

#define ADD_INDEX SIZE_MAX
/* Give up after this many addresses the server says are taken: it is lying or racing us. */
#define MAX_MOVES 16

struct provision {
	struct ctl_req *rq;
	const struct pv_server *srv;
	const char *device;
	struct db_peer peer; /* the new, PENDING peer */
	struct db_peer *old; /* ACTIVE peers it replaces (owned) */
	int *old_err;        /* result of each one's removal */
	size_t n_old;
	size_t pending; /* pushes still out */
	int add_err;
	char add_detail[1024];
	int generated; /* the controller made the key pair (seed mode) */
	int reused;    /* the key already had this user's ACTIVE peer: pushed again as it is */
	int moves;     /* addresses refused by the server (taken by a foreign peer) so far */
	uint8_t priv[PV_KEY_LEN], psk[PV_KEY_LEN];
	char pub[PV_KEY_B64_LEN + 1]; /* the peer's key, as the DB and the servers keep it */
	char server_pub[PV_KEY_B64_LEN + 1];
};

static void provision_free(struct provision *pv)
{
	if (!pv)
		return;
	free(pv->old);
	free(pv->old_err);
	OPENSSL_clear_free(pv, sizeof(*pv));
}

/*
 * The reply: the peer's values as separate fields, so a client can build its
 * tunnel file from checked values (docs/api.md), and the rendered config for
 * old clients.  private_key only when the controller generated the pair.
 */
static json_t *success_body(struct provision *pv, const char *config)
{
	const struct ctl_config *cfg = pv->rq->ctl->cfg;
	char v4[PV_ADDR4_MAX], v6[PV_ADDR6_MAX], endpoint[80], address[128];
	char psk[PV_KEY_B64_LEN + 1], priv[PV_KEY_B64_LEN + 1];
	json_t *j;

	pv_peer_addrs(pv->srv, pv->peer.host, v4, v6);
	ctl_lease_address(address, sizeof(address), pv->srv, pv->peer.host);
	ctl_endpoint(endpoint, sizeof(endpoint), pv->srv, pv->peer.host);
	pv_key_to_base64(psk, pv->psk);
	pv_key_to_base64(priv, pv->priv);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "server_id",
	              pv->srv->id, "device", pv->device, "peer_name", pv->peer.name, "client_ipv4",
	              v4, "client_ipv6", v6, "address", address, "server_public_key",
	              pv->server_pub, "preshared_key", psk, "endpoint", endpoint, "allowed_ips",
	              cfg->client_allowed_ips, "dns", cfg->client_dns ? cfg->client_dns : "",
	              "config", config);
	if (j && pv->generated && json_object_set_new(j, "private_key", json_string(priv)) < 0) {
		json_decref(j);
		j = NULL;
	}
	OPENSSL_cleanse(psk, sizeof(psk));
	OPENSSL_cleanse(priv, sizeof(priv));
	return j;
}

static void reply_config(struct provision *pv)
{
	struct ctl_req *rq = pv->rq;
	char priv[PV_KEY_B64_LEN + 1], psk[PV_KEY_B64_LEN + 1];
	struct ctl_wgconf c = {
	        .srv = pv->srv,
	        .host = pv->peer.host,
	        .private_key = pv->generated ? priv : NULL,
	        .server_public_key = pv->server_pub,
	        .psk = psk,
	        .dns = rq->ctl->cfg->client_dns,
	        .allowed_ips = rq->ctl->cfg->client_allowed_ips,
	};
	char *config = NULL;
	int r;

	pv_key_to_base64(priv, pv->priv);
	pv_key_to_base64(psk, pv->psk);
	r = ctl_wgconf_render(&config, &c);
	OPENSSL_cleanse(priv, sizeof(priv));
	OPENSSL_cleanse(psk, sizeof(psk));
	if (r < 0) {
		ctl_log("provision: rendering the config of %s failed: %s", pv->peer.name,
		        pv_strerror(r));
		ctl_reply_error(rq, r, "cannot render the client config");
		return;
	}
	ctl_reply(rq, 200, success_body(pv, config));
	OPENSSL_clear_free(config, strlen(config) + 1);
}

/* Delete the rows of replaced peers whose removal went through, except `keep`. */
static void drop_removed_olds(struct provision *pv, int64_t keep)
{
	struct db *db = pv->rq->ctl->db;
	size_t i;

	for (i = 0; i < pv->n_old; i++)
		if (pv->old_err[i] == 0 && pv->old[i].id != keep &&
		    db_peer_delete(db, pv->old[i].id) < 0)
			ctl_log("provision: deleting replaced peer %s: %s", pv->old[i].name,
			        db_errmsg(db));
}

static void stray_removed(struct ctl_job *job)
{
	struct db_peer *p = job->arg;

	if (job->err < 0)
		ctl_log("provision: %s: removing possibly applied %s failed: %s: %s", p->server_id,
		        p->name, pv_strerror(job->err), job->detail);
	free(p);
}

/*
 * A failed push may still have run on the server (a deadline passed after
 * the script committed): remove the peer too, best effort, so its address is
 * not left taken there.  Removing an absent peer changes nothing.
 */
static void remove_stray(struct ctl *ctl, const struct db_peer *peer)
{
	if (ctl_push_remove_copy(ctl, peer, stray_removed) < 0)
		ctl_log("provision: %s: cannot queue the removal of %s", peer->server_id,
		        peer->name);
}

static int provision_move(struct provision *pv);

/*
 * The user may have been disabled, or moved to a tier without this server,
 * while the push was out.  Then the peer must not stay: a PENDING row is
 * removed from the server and deleted here (a REMOVING one is already the
 * admin fan-out's), and the answer is 401 or 403.  Returns 1 after replying.
 */
static int provision_user_changed(struct provision *pv)
{
	struct ctl_req *rq = pv->rq;
	struct db *db = rq->ctl->db;
	struct db_user u;
	struct db_peer now;
	int r = db_user_get(db, rq->user, &u);

	if (r == 0 && u.active && u.tier == rq->tier && pv_tier_allows(u.tier, pv->srv->tier))
		return 0;
	if (!pv->reused && db_peer_get(db, pv->peer.id, &now) == 0 &&
	    now.state == DB_PEER_PENDING) {
		remove_stray(rq->ctl, &pv->peer);
		if (db_peer_delete(db, pv->peer.id) < 0)
			ctl_log("provision: deleting %s: %s", pv->peer.name, db_errmsg(db));
	}
	ctl_log("provision: %s: user %s changed while the push was out; %s not kept", pv->srv->id,
	        rq->user, pv->peer.name);
	if (r == 0 && u.active)
		ctl_reply_error(rq, PV_ETIER, "your tier changed to %s while provisioning",
		                pv_tier_name(u.tier));
	else
		ctl_reply_error(rq, PV_EAUTH, "user %s was disabled while provisioning", rq->user);
	return 1;
}

static void provision_finish(struct provision *pv)
{
	struct ctl_req *rq = pv->rq;
	struct db *db = rq->ctl->db;
	int64_t replaced = 0;
	size_t i;
	int r;

	if (pv->add_err == PV_EINUSE && !pv->reused && pv->moves < MAX_MOVES && provision_move(pv))
		return;
	if (pv->add_err < 0 && pv->reused) {
		ctl_log("provision: re-push of %s to %s failed: %s: %s", pv->peer.name, pv->srv->id,
		        pv_strerror(pv->add_err), pv->add_detail);
		ctl_reply_error(rq, ctl_push_cause(pv->add_err), "push to server %s failed (%s)",
		                pv->srv->id, pv_strerror(pv->add_err));
		goto out;
	}
	if (pv->add_err < 0) {
		if (db_peer_delete(db, pv->peer.id) < 0)
			ctl_log("provision: rolling back %s on %s: %s", pv->peer.name, pv->srv->id,
			        db_errmsg(db));
		drop_removed_olds(pv, 0);
		ctl_log("provision: push of %s to %s failed: %s: %s", pv->peer.name, pv->srv->id,
		        pv_strerror(pv->add_err), pv->add_detail);
		remove_stray(rq->ctl, &pv->peer);
		ctl_reply_error(rq, ctl_push_cause(pv->add_err),
		                "push to server %s failed (%s); nothing was kept", pv->srv->id,
		                pv_strerror(pv->add_err));
		goto out;
	}
	for (i = 0; i < pv->n_old && !replaced; i++)
		if (pv->old_err[i] == 0)
			replaced = pv->old[i].id;
	if (provision_user_changed(pv))
		goto out;
	if (pv->reused) {
		drop_removed_olds(pv, 0);
		reply_config(pv);
		goto out;
	}
	r = db_peer_activate(db, pv->peer.id, replaced);
	drop_removed_olds(pv, replaced);
	if (r == PV_ENOTFOUND) {
		/* A revoke took the row over while the push was out; it removes the peer. */
		ctl_reply_error(rq, PV_EEXIST,
		                "peer on %s was revoked while it was being provisioned",
		                pv->srv->id);
		goto out;
	}
	if (r < 0) {
		/* Stays PENDING: the next startup pass removes it from the server. */
		ctl_log("provision: activating %s: %s", pv->peer.name, db_errmsg(db));
		ctl_reply_error(rq, r, "state database error");
		goto out;
	}
	reply_config(pv);
out:
	provision_free(pv);
}

static void finish_step(void *arg)
{
	provision_finish(arg);
}

static void push_done(struct ctl_job *job)
{
	struct provision *pv = job->arg;

	if (job->index == ADD_INDEX) {
		pv->add_err = job->err;
		snprintf(pv->add_detail, sizeof(pv->add_detail), "%s", job->detail);
	} else {
		pv->old_err[job->index] = job->err;
		if (job->err < 0)
			ctl_log("provision: removing replaced peer %s from %s failed: %s: %s",
			        pv->old[job->index].name, pv->srv->id, pv_strerror(job->err),
			        job->detail);
	}
	/* The activations of a batch's answers share one commit (group.c). */
	if (--pv->pending == 0 && ctl_group_add(pv->rq->ctl, finish_step, pv) < 0)
		provision_finish(pv);
}

/* Queue the add of the new peer (pv->pending counts it). */
static void provision_push_add(struct provision *pv)
{
	struct ctl *ctl = pv->rq->ctl;
	struct agentless_edit add;
	int r;

	memset(&add, 0, sizeof(add));
	add.op = AGENTLESS_ADD;
	add.host = pv->peer.host;
	memcpy(add.name, pv->peer.name, sizeof(add.name));
	memcpy(add.pubkey, pv->pub, sizeof(add.pubkey));
	memcpy(add.psk, pv->psk, sizeof(add.psk));
	r = ctl_push(ctl, pv->srv->id, &add, push_done, pv, ADD_INDEX);
	OPENSSL_cleanse(&add, sizeof(add));
	if (r == 0)
		pv->pending++;
	else
		pv->add_err = r;
}

/* Queue the removals of replaced peers, then the add, in one batch. */
static void provision_push(struct provision *pv)
{
	size_t i;

	pv->pending = 1; /* held until everything is queued */
	for (i = 0; i < pv->n_old; i++) {
		pv->old_err[i] = ctl_push_remove(pv->rq->ctl, &pv->old[i], push_done, pv, i);
		if (pv->old_err[i] == 0)
			pv->pending++;
	}
	provision_push_add(pv);
	if (--pv->pending == 0)
		provision_finish(pv);
}

/*
 * The server refused the address: a peer we do not own (added with the
 * server's own tools since the last reconcile) holds it.  Reserve it, move
 * to the next free address and push again, inside the same request.
 * Returns 1 when the new push is out (provision_finish runs again later).
 */
static int provision_move(struct provision *pv)
{
	struct db *db = pv->rq->ctl->db;
	unsigned from = pv->peer.host;
	int r = db_peer_relocate(db, &pv->peer);

	if (r < 0) {
		ctl_log("provision: %s: moving %s off taken host %u: %s", pv->srv->id,
		        pv->peer.name, from, db_errmsg(db));
		pv->add_err = r;
		return 0;
	}
	pv->moves++;
	ctl_log("provision: %s: host %u is taken on the server by a peer we do not own; "
	        "reserved it, %s moves to host %u",
	        pv->srv->id, from, pv->peer.name, pv->peer.host);
	pv->add_err = 0;
	pv->pending = 1;
	provision_push_add(pv);
	if (--pv->pending == 0)
		provision_finish(pv);
	return 1;
}

/* Keys: the client's public key, or a fresh pair (seed mode); and a PSK. */
static int provision_keys(struct provision *pv, const struct ctl_args *a)
{
	uint8_t pub[PV_KEY_LEN];
	int r = 0;

	if (a->set & CTL_ARG_PUBKEY) {
		memcpy(pv->pub, a->public_key, sizeof(pv->pub)); /* checked by the body parser */
	} else {
		pv->generated = 1;
		r = pv_keypair_generate(pv->priv, pub);
		pv_key_to_base64(pv->pub, pub);
	}
	return r < 0 ? r : pv_psk_generate(pv->psk);
}

/*
 * The key already has a peer on this server.  This user's ACTIVE one is the
 * same device provisioning again: it is pushed again as it is (same name,
 * address and PSK) and its config answered, so the client ends with one
 * working peer.  Anyone else's, or one in flight, is a conflict.  Returns 1
 * when it took over the request, 0 when the key is new, < 0 after replying.
 */
static int provision_same_key(struct provision *pv, const char *pub)
{
	struct ctl_req *rq = pv->rq;
	struct db *db = rq->ctl->db;
	struct db_peer p;
	int r = db_peer_find_key(db, pv->srv->id, pub, &p);

	if (r == PV_ENOTFOUND)
		return 0;
	if (r < 0) {
		ctl_log("provision: db: %s", db_errmsg(db));
		ctl_reply_error(rq, r, "state database error");
		return r;
	}
	if (strcmp(p.user_id, rq->user) != 0 || p.state != DB_PEER_ACTIVE) {
		ctl_reply_error(rq, PV_EEXIST, "this public key already has a peer on server %s%s",
		                pv->srv->id,
		                p.state != DB_PEER_ACTIVE ? " (being changed now)" : "");
		return PV_EEXIST;
	}
	if ((r = db_peer_psk(db, &p, pv->psk)) < 0) {
		ctl_log("provision: %s: %s", p.name, db_errmsg(db));
		ctl_reply_error(rq, r == PV_ENOTFOUND ? PV_EEXIST : r,
		                "this key's peer on server %s predates kept PSKs: revoke it first",
		                pv->srv->id);
		return r == PV_ENOTFOUND ? PV_EEXIST : r;
	}
	pv->peer = p;
	pv->reused = 1;
	pv->old_err = calloc(1, sizeof(*pv->old_err));
	if (!pv->old_err) {
		ctl_reply_error(rq, PV_ENOMEM, "out of memory");
		return PV_ENOMEM;
	}
	provision_push(pv);
	return 1;
}

/*
 * The device's peers on the server, in one query: an ACTIVE one is replaced
 * by the new peer (kept in pv->old), a PENDING one means another provision
 * is in flight (the loop runs one request at a time, so racing it would leave
 * two ACTIVE peers for one device): 409 and PV_EEXIST then.  Replies itself
 * on failure (< 0), else 0.
 */
static int provision_device_peers(struct provision *pv)
{
	struct ctl_req *rq = pv->rq;
	struct db_peer_filter f = {rq->user, pv->srv->id, pv->device, DB_PEER_ANY};
	size_t i, n = 0;
	int r = db_peers_list(rq->ctl->db, &f, &pv->old, &n);

	if (r < 0) {
		ctl_log("provision: db: %s", db_errmsg(rq->ctl->db));
		ctl_reply_error(rq, r, "state database error");
		return r;
	}
	pv->n_old = 0;
	for (i = 0; i < n; i++) {
		if (pv->old[i].state == DB_PEER_PENDING) {
			ctl_reply_error(rq, PV_EEXIST,
			                "device %s already has a provision in progress on server "
			                "%s; try again",
			                pv->device, pv->srv->id);
			return PV_EEXIST;
		}
		if (pv->old[i].state == DB_PEER_ACTIVE)
			pv->old[pv->n_old++] = pv->old[i];
	}
	return 0;
}

/*
 * A user may have peers for at most max_devices_<tier> devices, so one
 * account cannot take every address of its tier's servers.  The device
 * being provisioned again does not count.  Replies 429 and returns
 * CTL_EQUOTA when a new device would be one too many, else 0.
 */
static int provision_quota(struct provision *pv)
{
	struct ctl_req *rq = pv->rq;
	const struct ctl_config *cfg = rq->ctl->cfg;
	long max = rq->tier == PV_TIER_PRO ? cfg->max_devices_pro : cfg->max_devices_basic;
	int others = 0;
	int r = db_user_other_devices(rq->ctl->db, rq->user, pv->device, (int)max, &others);

	if (r < 0) {
		ctl_log("provision: db: %s", db_errmsg(rq->ctl->db));
		ctl_reply_error(rq, r, "state database error");
		return r;
	}
	if (others < max)
		return 0;
	ctl_reply_error(rq, CTL_EQUOTA,
	                "the %s tier allows %ld devices and this account has %d or more; revoke "
	                "one first (vpnctl revoke --device NAME)",
	                pv_tier_name(rq->tier), max, others);
	return CTL_EQUOTA;
}

/*
 * Draining, tier, server key, keys, replaced peers and lease; replies
 * itself on failure (< 0).  1 when a same-key re-push took the request over.
 */
static int provision_prepare(struct provision *pv)
{
	struct ctl_req *rq = pv->rq;
	struct ctl *ctl = rq->ctl;
	struct db_server_status st;
	int r;

	if ((r = db_server_status(ctl->db, pv->srv->id, &st)) < 0)
		goto db_fail;
	/* A draining server takes no new peers (its existing ones keep working). */
	if (st.draining) {
		ctl_reply_error(rq, CTL_EDRAINING,
		                "server %s is draining: it takes no new peers; pick another server",
		                pv->srv->id);
		return CTL_EDRAINING;
	}
	if (!pv_tier_allows(rq->tier, pv->srv->tier)) {
		ctl_reply_error(rq, PV_ETIER, "server %s is not in the %s tier", pv->srv->id,
		                pv_tier_name(rq->tier));
		return PV_ETIER;
	}
	if (!st.wg_pubkey[0]) {
		ctl_reply_error(rq, PV_EUNREACH,
		                "server %s has not been reached yet (its WireGuard key is unknown)",
		                pv->srv->id);
		return PV_EUNREACH;
	}
	memcpy(pv->server_pub, st.wg_pubkey, sizeof(pv->server_pub));
	if ((r = provision_keys(pv, &rq->args)) < 0) {
		ctl_log("provision: key generation failed: %s", pv_strerror(r));
		ctl_reply_error(rq, r, "key generation failed");
		return r;
	}
	if ((r = provision_same_key(pv, pv->pub)) != 0)
		return r; /* 1: it took the request over */
	if ((r = provision_device_peers(pv)) != 0)
		return r;
	if ((r = provision_quota(pv)) != 0)
		return r;
	pv->old_err = calloc(pv->n_old + 1, sizeof(*pv->old_err));
	if (!pv->old_err) {
		ctl_reply_error(rq, PV_ENOMEM, "out of memory");
		return PV_ENOMEM;
	}
	r = db_peer_reserve(ctl->db, rq->user, pv->device, pv->srv->id, pv->pub, pv->psk,
	                    &pv->peer);
	if (r == PV_EFULL) {
		ctl_reply_error(rq, r, "server %s is full (%u clients)", pv->srv->id,
		                pv_server_capacity(pv->srv));
		return r;
	}
	if (r < 0)
		goto db_fail;
	return 0;
db_fail:
	ctl_log("provision: db: %s", db_errmsg(ctl->db));
	ctl_reply_error(rq, r, "state database error");
	return r;
}

static void provision_start(void *arg)
{
	struct provision *pv = arg;
	int r = provision_prepare(pv);

	if (r < 0)
		provision_free(pv);
	else if (r == 0)
		provision_push(pv);
}

void api_provision(struct ctl_req *rq)
{
	struct provision *pv = calloc(1, sizeof(*pv));

	if (!pv) {
		ctl_reply_error(rq, PV_ENOMEM, "out of memory");
		return;
	}
	pv->rq = rq;
	pv->device = (rq->args.set & CTL_ARG_DEVICE) ? rq->args.device : "default";
	pv->srv = ctl_server(rq->ctl, rq->args.server_id);
	if (!pv->srv) {
		ctl_reply_error(rq, PV_ENOTFOUND, "unknown server %s", rq->args.server_id);
		provision_free(pv);
		return;
	}
	/* The leases of the requests ready together share one commit (group.c). */
	if (ctl_group_add(rq->ctl, provision_start, pv) < 0)
		provision_start(pv);
}
