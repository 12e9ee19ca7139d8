/* SPDX-License-Identifier: MIT */
/*
 * POST /api/provision: tier check, lease, keys, push, and only then the
 * config.  The lease is a PENDING row until the server acknowledged the
 * push; a failed push deletes it again, so nothing is left half-done.  The
 * peer of the same (user, device, server) that this one replaces is removed
 * in the same batch, before the add.  The loop never waits on SSH: the
 * push's result comes back through push.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "agentless.h"
#include "controller.h"
#include "db.h"

#define ADD_INDEX SIZE_MAX

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
	char add_detail[200];
	int generated; /* the controller made the key pair (seed mode) */
	uint8_t priv[PV_KEY_LEN], pub[PV_KEY_LEN], psk[PV_KEY_LEN];
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
	const char *len4 = strchr(pv->srv->subnet4, '/'), *len6 = strchr(pv->srv->subnet6, '/');
	char v4[16], v6[46], endpoint[80], address[128];
	char psk[PV_KEY_B64_LEN + 1], priv[PV_KEY_B64_LEN + 1];
	json_t *j;

	ctl_peer_addresses(pv->srv, pv->peer.host, v4, v6);
	ctl_endpoint(endpoint, sizeof(endpoint), pv->srv);
	snprintf(address, sizeof(address), "%s/%s, %s/%s", v4, len4 ? len4 + 1 : "24", v6,
	         len6 ? len6 + 1 : "64");
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

static void provision_finish(struct provision *pv)
{
	struct ctl_req *rq = pv->rq;
	struct db *db = rq->ctl->db;
	int64_t replaced = 0;
	size_t i;
	int r;

	if (pv->add_err < 0) {
		if (db_peer_delete(db, pv->peer.id) < 0)
			ctl_log("provision: rolling back %s on %s: %s", pv->peer.name, pv->srv->id,
			        db_errmsg(db));
		drop_removed_olds(pv, 0);
		ctl_log("provision: push of %s to %s failed: %s: %s", pv->peer.name, pv->srv->id,
		        pv_strerror(pv->add_err), pv->add_detail);
		remove_stray(rq->ctl, &pv->peer);
		ctl_reply_error(rq, PV_EUNREACH, "push to server %s failed (%s); nothing was kept",
		                pv->srv->id, pv_strerror(pv->add_err));
		goto out;
	}
	for (i = 0; i < pv->n_old && !replaced; i++)
		if (pv->old_err[i] == 0)
			replaced = pv->old[i].id;
	r = db_peer_activate(db, pv->peer.id, replaced);
	drop_removed_olds(pv, replaced);
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
	if (--pv->pending == 0)
		provision_finish(pv);
}

/* Queue the removals of replaced peers, then the add, in one batch. */
static void provision_push(struct provision *pv)
{
	struct ctl *ctl = pv->rq->ctl;
	struct agentless_edit add;
	size_t i;
	int r;

	pv->pending = 1; /* held until everything is queued */
	for (i = 0; i < pv->n_old; i++) {
		pv->old_err[i] = ctl_push_remove(ctl, &pv->old[i], push_done, pv, i);
		if (pv->old_err[i] == 0)
			pv->pending++;
	}
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
	if (--pv->pending == 0)
		provision_finish(pv);
}

/* Keys: the client's public key, or a fresh pair (seed mode); and a PSK. */
static int provision_keys(struct provision *pv, const struct ctl_args *a)
{
	int r;

	if (a->set & CTL_ARG_PUBKEY)
		r = pv_key_from_base64(pv->pub, a->public_key);
	else {
		pv->generated = 1;
		r = pv_keypair_generate(pv->priv, pv->pub);
	}
	return r < 0 ? r : pv_psk_generate(pv->psk);
}

/* Tier, server key, keys, replaced peers and lease; replies itself on failure. */
static int provision_prepare(struct provision *pv)
{
	struct ctl_req *rq = pv->rq;
	struct ctl *ctl = rq->ctl;
	struct db_peer_filter f = {rq->user, pv->srv->id, pv->device, DB_PEER_ACTIVE};
	struct db_server_status st;
	char pub[PV_KEY_B64_LEN + 1];
	int r;

	if (!pv_tier_allows(rq->tier, pv->srv->tier)) {
		ctl_reply_error(rq, PV_ETIER, "server %s is not in the %s tier", pv->srv->id,
		                pv_tier_name(rq->tier));
		return PV_ETIER;
	}
	if ((r = db_server_status(ctl->db, pv->srv->id, &st)) < 0)
		goto db_fail;
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
	if ((r = db_peers_list(ctl->db, &f, &pv->old, &pv->n_old)) < 0)
		goto db_fail;
	pv->old_err = calloc(pv->n_old + 1, sizeof(*pv->old_err));
	if (!pv->old_err) {
		ctl_reply_error(rq, PV_ENOMEM, "out of memory");
		return PV_ENOMEM;
	}
	pv_key_to_base64(pub, pv->pub);
	r = db_peer_reserve(ctl->db, rq->user, pv->device, pv->srv->id, pub, &pv->peer);
	if (r == PV_EFULL) {
		ctl_reply_error(rq, r, "server %s is full (%d clients)", pv->srv->id,
		                DB_HOST_MAX - DB_HOST_MIN + 1);
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

void api_provision(struct ctl_req *rq)
{
	struct provision *pv = calloc(1, sizeof(*pv));

	if (!pv) {
		ctl_reply_error(rq, PV_ENOMEM, "out of memory");
		return;
	}
	pv->rq = rq;
	pv->device = (rq->args.set & CTL_ARG_DEVICE) ? rq->args.device : "default";
	pv->srv = pv_fleet_find(rq->ctl->fleet, rq->args.server_id);
	if (!pv->srv) {
		ctl_reply_error(rq, PV_ENOTFOUND, "unknown server %s", rq->args.server_id);
		provision_free(pv);
		return;
	}
	if (provision_prepare(pv) < 0) {
		provision_free(pv);
		return;
	}
	provision_push(pv);
}
