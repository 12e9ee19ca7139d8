/* SPDX-License-Identifier: MIT */
/*
 * The portal's and the operators' admin endpoints (bearer token): issue a
 * key, rotate it, disable a user (their peers are revoked fleet-wide),
 * change a tier (the old key stops working, peers outside the new tier are
 * revoked).  Keys are made at the user's current key generation, which the
 * DB bumps on every revocation, so no endpoint can bring back a revoked key.
 * Each one leaves an audit row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "controller.h"
#include "db.h"

#define KEY_BUF 128

/* Log a DB failure and answer 500. */
static void db_fail(struct ctl_req *rq, const char *what, int r)
{
	ctl_log("admin: %s: %s", what, db_errmsg(rq->ctl->db));
	ctl_reply_error(rq, r, "state database error");
}

/* Upsert the user, write the audit row; replies itself on failure. */
static int user_update(struct ctl_req *rq, const char *action, enum pv_tier tier, int active)
{
	struct db *db = rq->ctl->db;
	char detail[64];
	int r;

	if ((r = db_user_upsert(db, rq->args.user_id, tier, active)) < 0) {
		db_fail(rq, "user upsert", r);
		return r;
	}
	ctl_users_changed(rq->ctl); /* the key check must see it from the next request on */
	snprintf(detail, sizeof(detail), "tier=%s active=%d", pv_tier_name(tier), active);
	if ((r = db_audit(db, rq->user, action, rq->args.user_id, detail)) < 0) {
		db_fail(rq, "audit", r);
		return r;
	}
	return 0;
}

/*
 * {"user_id", "tier", "key_generation", "api_key"} for the user as the DB
 * has it now, signed with the current secret; NULL (a 500) on failure.
 */
static json_t *key_body(struct ctl_req *rq)
{
	struct db_user u;
	char key[KEY_BUF];
	json_t *j;

	if (db_user_get(rq->ctl->db, rq->args.user_id, &u) < 0) {
		ctl_log("admin: user lookup: %s", db_errmsg(rq->ctl->db));
		return NULL;
	}
	if (ctl_key_make(key, sizeof(key), rq->ctl->secrets.current, u.id, u.tier, u.key_gen) < 0)
		return NULL;
	j = json_pack("{s:s, s:s, s:I, s:s}", "user_id", u.id, "tier", pv_tier_name(u.tier),
	              "key_generation", (json_int_t)u.key_gen, "api_key", key);
	OPENSSL_cleanse(key, sizeof(key));
	return j;
}

/* The existing user of the request; replies itself (404/500) when missing. */
static int user_existing(struct ctl_req *rq, struct db_user *u)
{
	int r = db_user_get(rq->ctl->db, rq->args.user_id, u);

	if (r == PV_ENOTFOUND)
		ctl_reply_error(rq, r, "unknown user %s", rq->args.user_id);
	else if (r < 0)
		db_fail(rq, "user lookup", r);
	return r;
}

void api_generate_key(struct ctl_req *rq)
{
	if (user_update(rq, "generate-api-key", rq->args.tier, 1) < 0)
		return;
	ctl_reply(rq, 200, key_body(rq));
}

static void disable_done(struct ctl_fanout *fo)
{
	struct ctl_req *rq = fo->rq;

	ctl_fanout_reply(fo, json_pack("{s:s, s:b}", "user_id", rq->args.user_id, "active", 0));
	ctl_fanout_free(fo);
}

/* Every peer of the request's user, in any state; replies itself on failure. */
static int user_peers(struct ctl_req *rq, struct db_peer **peers, size_t *n)
{
	/* PENDING ones too: a provision in flight must not leave a working peer behind. */
	struct db_peer_filter f = {rq->args.user_id, NULL, NULL, DB_PEER_ANY};
	int r = db_peers_list(rq->ctl->db, &f, peers, n);

	if (r < 0)
		db_fail(rq, "peer list", r);
	return r;
}

void api_user_disable(struct ctl_req *rq)
{
	struct db_peer *peers = NULL;
	struct db_user u;
	size_t n = 0;

	if (user_existing(rq, &u) < 0 || user_update(rq, "disable-user", u.tier, 0) < 0 ||
	    user_peers(rq, &peers, &n) < 0)
		return;
	ctl_fanout_start(rq, peers, n, disable_done);
}

static void tier_done(struct ctl_fanout *fo)
{
	ctl_fanout_reply(fo, key_body(fo->rq));
	ctl_fanout_free(fo);
}

void api_user_tier(struct ctl_req *rq)
{
	struct db_peer *peers = NULL;
	struct db_user u;
	size_t i, n = 0, keep = 0;

	if (user_existing(rq, &u) < 0 || user_update(rq, "set-tier", rq->args.tier, u.active) < 0 ||
	    user_peers(rq, &peers, &n) < 0)
		return;
	/* Keep only the peers on servers the new tier no longer reaches. */
	for (i = 0; i < n; i++) {
		const struct pv_server *s = ctl_server(rq->ctl, peers[i].server_id);

		if (s && !pv_tier_allows(rq->args.tier, s->tier))
			peers[keep++] = peers[i];
	}
	ctl_fanout_start(rq, peers, keep, tier_done);
}

void api_user_rotate_key(struct ctl_req *rq)
{
	struct db_user u;
	unsigned gen;
	char detail[32];
	int r;

	if (user_existing(rq, &u) < 0)
		return;
	if ((r = db_user_rotate_key(rq->ctl->db, rq->args.user_id, &gen)) < 0) {
		db_fail(rq, "rotate key", r);
		return;
	}
	ctl_users_changed(rq->ctl); /* the old key is refused from the next request on */
	snprintf(detail, sizeof(detail), "key_generation=%u", gen);
	if ((r = db_audit(rq->ctl->db, rq->user, "rotate-key", rq->args.user_id, detail)) < 0) {
		db_fail(rq, "audit", r);
		return;
	}
	ctl_reply(rq, 200, key_body(rq));
}
