/* SPDX-License-Identifier: MIT */
/*
 * The health pass: every health_interval_s, and once at startup before the
 * HTTP front ends accept, read each server's `wg show dump` (through the
 * pool, never blocking the loop) and record up/down, live peers and the
 * server's WireGuard public key.  It also compares desired state (DB) with
 * actual state (server):
 * - PENDING and REMOVING rows from before this start (all of them during the
 *   startup pass, when nothing is in flight yet) are leftovers of a crash:
 *   their peers are removed from the server and the rows deleted, releasing
 *   the leases;
 * - an ACTIVE peer missing on its server is reported (its PSK is not stored,
 *   so only the client provisioning again can restore it);
 * - peers on a server the DB does not know are counted and left alone (they
 *   may have been added by hand).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "agentless.h"
#include "controller.h"
#include "db.h"

static int dump_has(const struct agentless_dump *d, const char *pubkey)
{
	size_t i;

	for (i = 0; i < d->live->n; i++)
		if (strcmp(d->live->peers[i].pubkey, pubkey) == 0)
			return 1;
	return 0;
}

static int peers_have(const struct db_peer *p, size_t n, const char *pubkey)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(p[i].pubkey, pubkey) == 0)
			return 1;
	return 0;
}

/* A leftover's removal came back: delete its row when it is gone. */
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

static void repair_leftover(struct ctl *ctl, const struct db_peer *p,
                            const struct agentless_dump *d)
{
	if (!dump_has(d, p->pubkey)) {
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

static void repair(struct ctl *ctl, const char *server_id, const struct agentless_dump *d)
{
	struct db_peer_filter f = {NULL, server_id, NULL, -1};
	struct db_peer *peers = NULL;
	size_t i, n = 0, foreign = 0;

	if (db_peers_list(ctl->db, &f, &peers, &n) < 0) {
		ctl_log("health: %s: db: %s", server_id, db_errmsg(ctl->db));
		return;
	}
	for (i = 0; i < n; i++) {
		if (peers[i].state != DB_PEER_ACTIVE &&
		    (ctl->health_startup || peers[i].updated_at < ctl->started_at))
			repair_leftover(ctl, &peers[i], d);
		else if (peers[i].state == DB_PEER_ACTIVE && !dump_has(d, peers[i].pubkey))
			ctl_log("drift: %s: peer %s of user %s is missing on the server; the client "
			        "must provision again",
			        server_id, peers[i].name, peers[i].user_id);
	}
	for (i = 0; i < d->live->n; i++)
		foreign += !peers_have(peers, n, d->live->peers[i].pubkey);
	if (foreign)
		ctl_log("drift: %s: %zu peer(s) not created by the controller, left alone",
		        server_id, foreign);
	free(peers);
}

static void pass_done(struct ctl *ctl)
{
	if (--ctl->health_pending > 0)
		return;
	if (ctl->health_startup) {
		ctl->health_startup = 0;
		ctl_log("health: startup pass done");
		ctl_http_enable(ctl);
	}
}

static void dump_done(struct ctl_job *job)
{
	struct ctl *ctl = job->ctl;
	const struct pv_server *s = job->arg;
	struct db_server_status old;
	const struct agentless_dump *d = job->dump;
	int was = db_server_status(ctl->db, s->id, &old) == 0 ? old.up : -1;
	int up = job->err == 0 && d;

	if (db_server_set_health(ctl->db, s->id, up, up ? (int)d->live->n : 0,
	                         up && d->live->pubkey[0] ? d->live->pubkey : NULL) < 0)
		ctl_log("health: %s: db: %s", s->id, db_errmsg(ctl->db));
	if (up != was)
		ctl_log("health: %s is %s%s%s", s->id, up ? "up" : "down", up ? "" : ": ",
		        up               ? ""
		        : job->detail[0] ? job->detail
		                         : pv_strerror(job->err));
	if (up)
		repair(ctl, s->id, d);
	pass_done(ctl);
}

static void health_pass(struct ctl *ctl)
{
	size_t i;
	int r;

	if (ctl->health_pending) {
		ctl_log("health: previous pass still running, skipping this one");
		return;
	}
	ctl->health_pending = 1; /* held until every dump is queued */
	for (i = 0; i < ctl->fleet->n; i++) {
		const struct pv_server *s = &ctl->fleet->servers[i];

		r = ctl_dump(ctl, s->id, dump_done, (void *)s);
		if (r == 0)
			ctl->health_pending++;
		else
			ctl_log("health: %s: cannot queue the dump: %s", s->id, pv_strerror(r));
	}
	pass_done(ctl);
}

static void health_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	health_pass(arg);
}

int ctl_health_start(struct ctl *ctl)
{
	struct timeval tv = {ctl->cfg->health_interval_s, 0};

	ctl->health_timer = event_new(ctl->base, -1, EV_PERSIST, health_tick, ctl);
	if (!ctl->health_timer || event_add(ctl->health_timer, &tv) < 0)
		return PV_ENOMEM;
	ctl->health_startup = 1;
	ctl->started_at = (int64_t)time(NULL);
	health_pass(ctl);
	return 0;
}
