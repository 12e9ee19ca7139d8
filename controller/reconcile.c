/* SPDX-License-Identifier: MIT */
/*
 * The reconcile: one server's actual state (its dump: live peers and
 * wgN.conf's [Peer] sections of every interface) brought back to the
 * desired state (the DB), in one batch per interface.  A peer belongs to the
 * interface of its lease: its block and live peer are looked for there.  Rules (docs/reconcile.md):
 * - an ACTIVE peer missing from wg0.conf or from the live interface, or
 *   whose block says otherwise, is put back byte-identical (its sealed PSK);
 * - a PENDING/REMOVING row left by a crash is removed from the server and
 *   deleted (at startup all of them; later only rows from before this start);
 * - a `pv<N>` block the DB does not know is ours and stale: removed at
 *   startup, otherwise once it has been seen for longer than the push
 *   timeout (a push in flight may be about to create its row... or be the
 *   removal of a rolled-back one);
 * - every other block or live peer is foreign: left byte for byte, and its
 *   addresses are reserved in the lease table so the allocator never offers
 *   them; released when it goes away.
 * Each repair writes an audit row and a log line.  Runs on the loop thread;
 * the pushes come back through push.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "agentless.h"
#include "controller.h"
#include "db.h"

enum repair { REPAIR_RESTORE, REPAIR_UNBLOCK, REPAIR_STALE, REPAIR_IDLE };

/* One audit row of a pass. */
struct repair_note {
	const char *action; /* static */
	char subject[64];
	char detail[96];
};

struct reconcile {
	struct ctl *ctl;
	const struct pv_server *srv;
	struct ctl_req *rq; /* on demand: answered when done; NULL for a health pass */
	struct agentless_edit *edits;
	enum repair *why;
	int64_t *ids; /* the row a REPAIR_IDLE removal deletes; 0 for the others */
	size_t n, cap, pending;
	struct repair_note *notes; /* audit rows, written in one transaction at the end */
	size_t nnotes, capnotes;
	int restored, removed, reserved, released, idle, failed;
};

/* 1 for the names the controller generates: "pv" and a row id. */
static int name_is_ours(const char *name)
{
	size_t n = strspn(name + 2, "0123456789");

	return strncmp(name, "pv", 2) == 0 && n > 0 && name[2 + n] == '\0';
}

static const struct db_peer *peer_by_name(const struct db_peer *p, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(p[i].name, name) == 0)
			return &p[i];
	return NULL;
}

static const struct db_peer *peer_by_key(const struct db_peer *p, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(p[i].pubkey, key) == 0)
			return &p[i];
	return NULL;
}

static const struct agentless_block *block_by_name(const struct agentless_dump *d, const char *name)
{
	for (size_t i = 0; i < d->nblocks; i++)
		if (strcmp(d->blocks[i].name, name) == 0)
			return &d->blocks[i];
	return NULL;
}

/* 1 if key is a live peer of the interface that holds lease. */
static int live_has(const struct agentless_dump *d, const char *key, unsigned lease)
{
	for (size_t i = 0; i < d->live->n; i++)
		if (d->live->peers[i].iface == pv_lease_iface(lease) &&
		    strcmp(d->live->peers[i].pubkey, key) == 0)
			return 1;
	return 0;
}

/*
 * Note an audit row; the pass writes them all in one transaction when it
 * ends (a full-drift pass restores 253 peers: one commit, not 253).
 */
static void audit(struct reconcile *rc, const char *action, const char *name, const char *detail)
{
	struct repair_note *n;

	if (rc->nnotes == rc->capnotes) {
		size_t cap = rc->capnotes ? rc->capnotes * 2 : 16;

		if (!(n = realloc(rc->notes, cap * sizeof(*n)))) {
			ctl_log("reconcile: %s: out of memory for the audit of %s", rc->srv->id,
			        name);
			return;
		}
		rc->notes = n;
		rc->capnotes = cap;
	}
	n = &rc->notes[rc->nnotes++];
	n->action = action;
	snprintf(n->subject, sizeof(n->subject), "%s/%s", rc->srv->id, name);
	snprintf(n->detail, sizeof(n->detail), "%s", detail ? detail : "");
}

static void audit_flush(struct reconcile *rc)
{
	struct db_audit_row *rows = calloc(rc->nnotes ? rc->nnotes : 1, sizeof(*rows));
	size_t i;

	for (i = 0; rows && i < rc->nnotes; i++) {
		rows[i].action = rc->notes[i].action;
		rows[i].subject = rc->notes[i].subject;
		rows[i].detail = rc->notes[i].detail[0] ? rc->notes[i].detail : NULL;
	}
	if (!rows || db_audit_many(rc->ctl->db, "reconcile", rows, rc->nnotes) < 0)
		ctl_log("reconcile: %s: writing %zu audit rows: %s", rc->srv->id, rc->nnotes,
		        rows ? db_errmsg(rc->ctl->db) : "out of memory");
	free(rows);
}

static int queue_row(struct reconcile *rc, const struct agentless_edit *e, enum repair why,
                     int64_t id)
{
	if (rc->n == rc->cap) {
		size_t cap = rc->cap ? rc->cap * 2 : 16;
		struct agentless_edit *ne = realloc(rc->edits, cap * sizeof(*ne));
		enum repair *nw;
		int64_t *ni;

		if (!ne)
			return PV_ENOMEM;
		rc->edits = ne;
		if (!(nw = realloc(rc->why, cap * sizeof(*nw))))
			return PV_ENOMEM;
		rc->why = nw;
		if (!(ni = realloc(rc->ids, cap * sizeof(*ni))))
			return PV_ENOMEM;
		rc->ids = ni;
		rc->cap = cap;
	}
	rc->edits[rc->n] = *e;
	rc->ids[rc->n] = id;
	rc->why[rc->n++] = why;
	return 0;
}

static int queue(struct reconcile *rc, const struct agentless_edit *e, enum repair why)
{
	return queue_row(rc, e, why, 0);
}

/* A removal from the interface of lease (only its interface matters). */
static int queue_remove_row(struct reconcile *rc, const char *name, const char *key, unsigned lease,
                            enum repair why, int64_t id)
{
	struct agentless_edit e = {.op = AGENTLESS_REMOVE, .host = lease};

	snprintf(e.name, sizeof(e.name), "%s", name);
	snprintf(e.pubkey, sizeof(e.pubkey), "%s", key);
	return queue_row(rc, &e, why, id);
}

/* Remove block b (from the file it was read from). */
static int queue_remove(struct reconcile *rc, const struct agentless_block *b, const char *key,
                        enum repair why)
{
	return queue_remove_row(rc, b->name, key, pv_lease(b->iface, 0), why, 0);
}

/*
 * peer_max_idle_days: a peer with no handshake for that long (or never one
 * since it was made that long ago) is a lost laptop holding an address.
 * Returns 1 when its removal is queued (the row is REMOVING meanwhile).
 */
static int plan_idle(struct reconcile *rc, const struct db_peer *p)
{
	long days = rc->ctl->cfg->peer_max_idle_days;
	int64_t last = p->last_handshake ? p->last_handshake : p->created_at;

	if (!days || (int64_t)time(NULL) - last < (int64_t)days * 86400)
		return 0;
	if (db_peer_set_state(rc->ctl->db, p->id, DB_PEER_REMOVING) < 0 ||
	    queue_remove_row(rc, p->name, p->pubkey, p->host, REPAIR_IDLE, p->id) < 0) {
		ctl_log("reconcile: %s: cannot retire idle %s: %s", rc->srv->id, p->name,
		        db_errmsg(rc->ctl->db));
		rc->failed++;
		return 0;
	}
	return 1;
}

/* The block an ACTIVE peer should have (in its interface's file), compared with the file's. */
static int block_matches(const struct agentless_block *b, const struct db_peer *p,
                         const struct pv_server *srv)
{
	char v4[PV_ADDR4_MAX], v6[PV_ADDR6_MAX], want[128];

	if (b->iface != pv_lease_iface(p->host) || pv_peer_addrs(srv, p->host, v4, v6) < 0)
		return 0;
	snprintf(want, sizeof(want), "%s/32,%s/128", v4, v6);
	return strcmp(b->pubkey, p->pubkey) == 0 && strcmp(b->allowed_ips, want) == 0;
}

/*
 * A row kept from before sealed PSKs: its PSK came back with the dump (the
 * block is still on the server), so seal and keep it now.  That is the
 * migration of old rows; one whose block is already gone cannot be helped.
 */
static void adopt_psk(struct reconcile *rc, struct db_peer *p, const struct agentless_dump *d)
{
	size_t i;

	for (i = 0; i < d->npsks; i++) {
		if (strcmp(d->psks[i].name, p->name) != 0)
			continue;
		if (db_peer_adopt_psk(rc->ctl->db, p, d->psks[i].psk) < 0) {
			ctl_log("reconcile: %s: keeping the PSK of %s: %s", rc->srv->id, p->name,
			        db_errmsg(rc->ctl->db));
			return;
		}
		p->has_psk = 1;
		ctl_log("reconcile: %s: sealed and kept the PSK of %s (provisioned before sealed PSKs)",
		        rc->srv->id, p->name);
		audit(rc, "reconcile.adopt_psk", p->name, NULL);
		return;
	}
}

static void plan_restore(struct reconcile *rc, struct db_peer *p, const struct agentless_dump *d)
{
	const struct agentless_block *b = block_by_name(d, p->name);
	struct agentless_edit e = {.op = AGENTLESS_ADD, .host = p->host};

	if (!p->has_psk)
		adopt_psk(rc, p, d);
	if (b && block_matches(b, p, rc->srv) && live_has(d, p->pubkey, p->host))
		return;
	if (db_peer_psk(rc->ctl->db, p, e.psk) < 0) {
		ctl_log("reconcile: %s: cannot restore %s of user %s: %s", rc->srv->id, p->name,
		        p->user_id, db_errmsg(rc->ctl->db));
		rc->failed++;
		return;
	}
	/* A block that says otherwise goes first, in the same batch. */
	if (b && !block_matches(b, p, rc->srv) &&
	    queue_remove(rc, b, b->pubkey[0] ? b->pubkey : p->pubkey, REPAIR_UNBLOCK) < 0)
		rc->failed++;
	snprintf(e.name, sizeof(e.name), "%s", p->name);
	memcpy(e.pubkey, p->pubkey, sizeof(e.pubkey));
	if (queue(rc, &e, REPAIR_RESTORE) < 0)
		rc->failed++;
	OPENSSL_cleanse(e.psk, sizeof(e.psk));
}

/* Stale pv<N> blocks: remembered when first seen, removed once old enough. */
static int stale_is_due(struct ctl *ctl, const char *server_id, const char *name)
{
	uint64_t now = pv_now_ms();
	size_t i;

	if (ctl_alone_at_startup(ctl))
		return 1;
	for (i = 0; i < ctl->nstale; i++)
		if (strcmp(ctl->stale[i].server_id, server_id) == 0 &&
		    strcmp(ctl->stale[i].name, name) == 0)
			return now - ctl->stale[i].first_seen_ms >=
			       (uint64_t)ctl->cfg->push_timeout_ms;
	if (ctl->nstale < CTL_STALE_MAX) {
		snprintf(ctl->stale[ctl->nstale].server_id, sizeof(ctl->stale[0].server_id), "%s",
		         server_id);
		snprintf(ctl->stale[ctl->nstale].name, sizeof(ctl->stale[0].name), "%s", name);
		ctl->stale[ctl->nstale++].first_seen_ms = now;
	}
	return 0;
}

/* Forget stale blocks of srv that are gone from its file. */
static void stale_prune(struct ctl *ctl, const char *server_id, const struct agentless_dump *d)
{
	size_t i = 0;

	while (i < ctl->nstale) {
		if (strcmp(ctl->stale[i].server_id, server_id) == 0 &&
		    !block_by_name(d, ctl->stale[i].name))
			ctl->stale[i] = ctl->stale[--ctl->nstale];
		else
			i++;
	}
}

/* 1 when the stale block's removal is queued; until then it holds its address. */
static int plan_stale(struct reconcile *rc, const struct agentless_block *b)
{
	if (!b->pubkey[0]) {
		ctl_log("reconcile: %s: block %s has no public key; left for an operator",
		        rc->srv->id, b->name);
		return 0;
	}
	if (!stale_is_due(rc->ctl, rc->srv->id, b->name))
		return 0;
	if (queue_remove(rc, b, b->pubkey, REPAIR_STALE) < 0) {
		rc->failed++;
		return 0;
	}
	return 1;
}

/* Add the leases of a foreign peer's IPv4 addresses to the set. */
static void foreign_add(const struct pv_server *srv, const char *ips, const char *key,
                        struct db_foreign **set, size_t *n, size_t *cap)
{
	const char *tok = ips;
	char one[64];

	for (; *tok; tok += strcspn(tok, ",") + (tok[strcspn(tok, ",")] ? 1 : 0)) {
		unsigned host;

		snprintf(one, sizeof(one), "%.*s", (int)strcspn(tok, ","), tok);
		if (!(host = pv_peer_host_of(srv, one)))
			continue;
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 16;
			struct db_foreign *ns = realloc(*set, nc * sizeof(*ns));

			if (!ns)
				return;
			*set = ns;
			*cap = nc;
		}
		(*set)[*n].host = host;
		snprintf((*set)[(*n)++].pubkey, sizeof((*set)[0].pubkey), "%s", key);
	}
}

/* A log line and an audit row per address reserved for, or released from, a foreign peer. */
static void note_foreign(struct reconcile *rc, const struct db_foreign_change *c,
                         const struct db_foreign *set, size_t n)
{
	char v4[PV_ADDR4_MAX], v6[PV_ADDR6_MAX], detail[96];
	unsigned h;
	size_t i;

	rc->reserved = c->reserved;
	rc->released = c->released;
	for (h = 0; h < PV_LEASE_END; h++) {
		int reserved = DB_HOST_IN(c->reserved_hosts, h);

		if ((!reserved && !DB_HOST_IN(c->released_hosts, h)) ||
		    pv_peer_addrs(rc->srv, h, v4, v6) < 0)
			continue;
		detail[0] = '\0';
		for (i = 0; reserved && i < n; i++)
			if (set[i].host == h)
				snprintf(detail, sizeof(detail), "public key %s",
				         set[i].pubkey[0] ? set[i].pubkey : "(none)");
		ctl_log("reconcile: %s: %s %s for a peer we do not own%s%s", rc->srv->id,
		        reserved ? "reserved" : "released", v4, detail[0] ? ", " : "", detail);
		audit(rc, reserved ? "reconcile.reserve_foreign" : "reconcile.release_foreign", v4,
		      detail[0] ? detail : NULL);
	}
}

/* Blocks and live peers that are not ours, and the keys of stale blocks (ours). */
static void plan_foreign(struct reconcile *rc, const struct db_peer *p, size_t np,
                         const struct agentless_dump *d)
{
	struct db_foreign_change change;
	struct db_foreign *set = NULL;
	size_t i, n = 0, cap = 0;

	for (i = 0; i < d->nblocks; i++) {
		const struct agentless_block *b = &d->blocks[i];

		if (peer_by_name(p, np, b->name) || (b->pubkey[0] && peer_by_key(p, np, b->pubkey)))
			continue;
		if (!name_is_ours(b->name) || !plan_stale(rc, b))
			foreign_add(rc->srv, b->allowed_ips, b->pubkey, &set, &n, &cap);
	}
	for (i = 0; i < d->live->n; i++) {
		const struct pv_wg_peer *lp = &d->live->peers[i];
		int in_block = 0;

		for (size_t j = 0; j < d->nblocks && !in_block; j++)
			in_block = strcmp(d->blocks[j].pubkey, lp->pubkey) == 0;
		if (!in_block && !peer_by_key(p, np, lp->pubkey))
			foreign_add(rc->srv, lp->allowed_ips, lp->pubkey, &set, &n, &cap);
	}
	if (db_foreign_sync(rc->ctl->db, rc->srv->id, set, n, &change) < 0)
		ctl_log("reconcile: %s: reserving foreign addresses: %s", rc->srv->id,
		        db_errmsg(rc->ctl->db));
	else
		note_foreign(rc, &change, set, n);
	free(set);
}

static void leftover_removed(struct ctl_job *job)
{
	struct db_peer *p = job->arg;
	struct db *db = job->ctl->db;

	if (job->err < 0)
		ctl_log("repair: %s: removing leftover peer %s failed: %s: %s", p->server_id,
		        p->name, pv_strerror(job->err), job->detail);
	else if (db_peer_delete(db, p->id) < 0)
		ctl_log("repair: %s: deleting leftover %s: %s", p->server_id, p->name,
		        db_errmsg(db));
	else
		ctl_log("repair: %s: removed leftover peer %s", p->server_id, p->name);
	free(p);
}

static void plan_leftover(struct reconcile *rc, const struct db_peer *p,
                          const struct agentless_dump *d)
{
	struct ctl *ctl = rc->ctl;

	if (!live_has(d, p->pubkey, p->host) && !block_by_name(d, p->name)) {
		if (db_peer_delete(ctl->db, p->id) < 0)
			ctl_log("repair: %s: deleting leftover %s: %s", p->server_id, p->name,
			        db_errmsg(ctl->db));
		else
			ctl_log("repair: %s: released the lease of leftover %s", p->server_id,
			        p->name);
		return;
	}
	if (ctl_push_remove_copy(ctl, p, leftover_removed) < 0)
		ctl_log("repair: %s: cannot queue the removal of %s", p->server_id, p->name);
}

static void reconcile_free(struct reconcile *rc)
{
	if (!rc)
		return;
	if (rc->edits)
		OPENSSL_cleanse(rc->edits, rc->cap * sizeof(*rc->edits));
	free(rc->edits);
	free(rc->why);
	free(rc->ids);
	free(rc->notes);
	free(rc);
}

static void reconcile_finish(struct reconcile *rc)
{
	audit_flush(rc);
	int repairs = rc->restored + rc->removed + rc->reserved + rc->released + rc->idle;

	if (db_server_set_repairs(rc->ctl->db, rc->srv->id, repairs) < 0)
		ctl_log("reconcile: %s: db: %s", rc->srv->id, db_errmsg(rc->ctl->db));
	if (repairs || rc->failed)
		ctl_log("reconcile: %s: restored %d, removed %d, reserved %d, released %d, idle %d, "
		        "failed %d",
		        rc->srv->id, rc->restored, rc->removed, rc->reserved, rc->released,
		        rc->idle, rc->failed);
	if (rc->rq)
		ctl_reply(rc->rq, 200,
		          json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i}", "server_id", rc->srv->id,
		                    "restored", rc->restored, "removed", rc->removed, "reserved",
		                    rc->reserved, "released", rc->released, "idle_removed",
		                    rc->idle, "failed", rc->failed));
	reconcile_free(rc);
}

/* An idle peer's removal came back: its row goes, or it is ACTIVE again. */
static void idle_done(struct reconcile *rc, size_t i, int err)
{
	struct db *db = rc->ctl->db;
	const char *name = rc->edits[i].name;
	char detail[64];

	if (err < 0) {
		if (db_peer_set_state(db, rc->ids[i], DB_PEER_ACTIVE) < 0)
			ctl_log("reconcile: %s: %s: %s", rc->srv->id, name, db_errmsg(db));
		return;
	}
	if (db_peer_delete(db, rc->ids[i]) < 0) {
		ctl_log("reconcile: %s: deleting idle %s: %s", rc->srv->id, name, db_errmsg(db));
		return;
	}
	rc->idle++;
	snprintf(detail, sizeof(detail), "no handshake for %ld days",
	         rc->ctl->cfg->peer_max_idle_days);
	ctl_log("reconcile: %s: removed idle peer %s (%s)", rc->srv->id, name, detail);
	audit(rc, "peer.idle_removed", name, detail);
}

static void repair_done(struct ctl_job *job)
{
	struct reconcile *rc = job->arg;
	const struct agentless_edit *e = &rc->edits[job->index];
	enum repair why = rc->why[job->index];
	const char *action = why == REPAIR_RESTORE ? "reconcile.restore" : "reconcile.remove_stale";

	if (job->err < 0) {
		rc->failed++;
		ctl_log("reconcile: %s: %s %s failed: %s: %s", rc->srv->id,
		        why == REPAIR_RESTORE ? "restoring" : "removing", e->name,
		        pv_strerror(job->err), job->detail);
	}
	if (why == REPAIR_IDLE) {
		idle_done(rc, job->index, job->err);
	} else if (job->err == 0 && why != REPAIR_UNBLOCK) {
		if (why == REPAIR_RESTORE)
			rc->restored++;
		else
			rc->removed++;
		ctl_log("reconcile: %s: %s %s", rc->srv->id,
		        why == REPAIR_RESTORE ? "restored" : "removed stale block", e->name);
		audit(rc, action, e->name, NULL);
	}
	if (--rc->pending == 0)
		reconcile_finish(rc);
}

static void plan(struct reconcile *rc, const struct agentless_dump *d)
{
	struct ctl *ctl = rc->ctl;
	struct db_peer_filter f = {NULL, rc->srv->id, NULL, DB_PEER_ANY};
	struct db_peer *p = NULL;
	size_t i, n = 0;

	if (db_peers_list(ctl->db, &f, &p, &n) < 0) {
		ctl_log("reconcile: %s: db: %s", rc->srv->id, db_errmsg(ctl->db));
		rc->failed++;
		return;
	}
	for (i = 0; i < n; i++) {
		if (p[i].state == DB_PEER_ACTIVE && !plan_idle(rc, &p[i]))
			plan_restore(rc, &p[i], d);
		else if (ctl_alone_at_startup(ctl) || p[i].updated_at < ctl_leftover_before(ctl))
			plan_leftover(rc, &p[i], d);
	}
	plan_foreign(rc, p, n, d);
	stale_prune(ctl, rc->srv->id, d);
	free(p);
}

/*
 * Removals go before adds in the batch (stable within each), so an address
 * a stale or rewritten block frees is free when a lost peer is put back on
 * it: the server applies a batch's operations in order.
 */
static void removals_first(struct reconcile *rc)
{
	size_t i, k = 0;

	for (i = 0; i < rc->n; i++) {
		struct agentless_edit e;
		enum repair w;
		int64_t id;
		size_t j;

		if (rc->edits[i].op != AGENTLESS_REMOVE)
			continue;
		e = rc->edits[i];
		w = rc->why[i];
		id = rc->ids[i];
		for (j = i; j > k; j--) {
			rc->edits[j] = rc->edits[j - 1];
			rc->why[j] = rc->why[j - 1];
			rc->ids[j] = rc->ids[j - 1];
		}
		rc->edits[k] = e;
		rc->why[k] = w;
		rc->ids[k++] = id;
		OPENSSL_cleanse(&e, sizeof(e));
	}
}

int ctl_reconcile_read(struct ctl *ctl, const char *server_id, ctl_job_done done, void *arg)
{
	struct db_peer_filter f = {NULL, server_id, NULL, DB_PEER_ACTIVE};
	struct db_peer *p = NULL;
	const char **names = NULL;
	size_t i, n = 0, k = 0;
	int r = db_peers_list(ctl->db, &f, &p, &n);

	if (r == 0 && n && !(names = calloc(n, sizeof(*names))))
		r = PV_ENOMEM;
	for (i = 0; r == 0 && i < n; i++)
		if (!p[i].has_psk)
			names[k++] = p[i].name;
	if (r == 0)
		r = ctl_dump(ctl, server_id, names, k, done, arg);
	else
		ctl_log("reconcile: %s: db: %s", server_id, db_errmsg(ctl->db));
	free(names);
	free(p);
	return r;
}

void ctl_reconcile(struct ctl *ctl, const struct pv_server *srv, const struct agentless_dump *d,
                   struct ctl_req *rq)
{
	struct reconcile *rc = calloc(1, sizeof(*rc));
	int r;

	if (!rc) {
		if (rq)
			ctl_reply_error(rq, PV_ENOMEM, "out of memory");
		return;
	}
	rc->ctl = ctl;
	rc->srv = srv;
	rc->rq = rq;
	plan(rc, d);
	removals_first(rc);
	rc->pending = rc->n;
	if (rc->n == 0) {
		reconcile_finish(rc);
		return;
	}
	if ((r = ctl_push_batch(ctl, srv->id, rc->edits, rc->n, repair_done, rc)) < 0) {
		ctl_log("reconcile: %s: cannot queue %zu repairs: %s", srv->id, rc->n,
		        pv_strerror(r));
		rc->failed += (int)rc->n;
		reconcile_finish(rc);
	}
}
