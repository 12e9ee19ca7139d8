/* SPDX-License-Identifier: MIT */
/*
 * The health pass: every health_interval_s, and once at startup before the
 * HTTP front ends accept, read each server's dump (through the pool, never
 * blocking the loop), record its health (up/down and since when, live and
 * active peers, transfer, each peer's handshake and counters; the same by
 * interface, in memory), flag a server whose WireGuard key changed
 * (redeployed), and reconcile it (reconcile.c).  With several controllers on
 * one PostgreSQL DB only the leader runs it (leader.c), so only the leader
 * holds the per-interface counts.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "agentless.h"
#include "controller.h"
#include "db.h"

#define ACTIVE_WINDOW_S 180 /* a handshake this recent makes a peer "active" */

void ctl_iface_health_count(const struct pv_wg_dump *live, int64_t now,
                            struct ctl_iface_health out[PV_IFACES_MAX])
{
	size_t i;

	memset(out, 0, PV_IFACES_MAX * sizeof(*out));
	for (i = 0; i < live->n; i++) {
		const struct pv_wg_peer *p = &live->peers[i];
		struct ctl_iface_health *h;

		if (p->iface >= PV_IFACES_MAX)
			continue;
		h = &out[p->iface];
		h->live_peers++;
		h->active_peers +=
		        p->latest_handshake && now - p->latest_handshake < ACTIVE_WINDOW_S;
		h->rx_bytes += p->rx_bytes;
		h->tx_bytes += p->tx_bytes;
	}
}

const struct ctl_server_ifaces *ctl_iface_health(const struct ctl *ctl, const struct pv_server *s)
{
	const struct ctl_server_ifaces *slot;

	if (!ctl->ifaces_health)
		return NULL;
	slot = &ctl->ifaces_health[s - ctl->fleet->servers];
	return slot->checked ? slot : NULL;
}

/* Server s's slot of ctl->ifaces_health, allocated on first use; NULL when out of memory. */
static struct ctl_server_ifaces *iface_slot(struct ctl *ctl, const struct pv_server *s)
{
	if (!ctl->ifaces_health &&
	    !(ctl->ifaces_health = calloc(PV_FLEET_MAX, sizeof(*ctl->ifaces_health))))
		return NULL;
	return &ctl->ifaces_health[s - ctl->fleet->servers];
}

/* Per-interface counts of a dump into slot (all zero when d is NULL: the server is down). */
static void record_ifaces(struct ctl_server_ifaces *slot, const struct agentless_dump *d)
{
	if (d)
		ctl_iface_health_count(d->live, (int64_t)time(NULL), slot->ifc);
	else
		memset(slot->ifc, 0, sizeof(slot->ifc));
	slot->checked = 1;
}

/* Totals (the interfaces' summed) and per-peer counters of a dump, for db_server_record. */
static int dump_stats(const struct ctl_server_ifaces *slot, const struct agentless_dump *d,
                      struct db_server_health *h, struct db_peer_stats **out)
{
	struct db_peer_stats *ps = calloc(d->live->n ? d->live->n : 1, sizeof(*ps));
	size_t i;

	*out = ps;
	if (!ps)
		return PV_ENOMEM;
	h->live_peers = (int)d->live->n;
	for (i = 0; i < PV_IFACES_MAX; i++) {
		h->active_peers += slot->ifc[i].active_peers;
		h->rx_bytes += slot->ifc[i].rx_bytes;
		h->tx_bytes += slot->ifc[i].tx_bytes;
	}
	for (i = 0; i < d->live->n; i++) {
		const struct pv_wg_peer *p = &d->live->peers[i];

		memcpy(ps[i].pubkey, p->pubkey, sizeof(ps[i].pubkey));
		ps[i].latest_handshake = p->latest_handshake;
		ps[i].rx_bytes = p->rx_bytes;
		ps[i].tx_bytes = p->tx_bytes;
	}
	return 0;
}

/* A new WireGuard key means a server rebuilt from scratch: say so, loudly. */
static void check_redeployed(struct ctl *ctl, const struct pv_server *s, const char *old_key,
                             const char *new_key)
{
	char detail[128];

	if (!old_key[0] || !new_key[0] || strcmp(old_key, new_key) == 0)
		return;
	snprintf(detail, sizeof(detail), "WireGuard key %s -> %s", old_key, new_key);
	ctl_log("health: %s WAS REDEPLOYED (%s); its peers are put back and clients learn the "
	        "new key from /api/servers",
	        s->id, detail);
	if (db_audit(ctl->db, "health", "server.redeployed", s->id, detail) < 0)
		ctl_log("health: %s: audit: %s", s->id, db_errmsg(ctl->db));
}

static void record(struct ctl *ctl, const struct pv_server *s, const struct agentless_dump *d)
{
	struct db_server_health h = {.up = d != NULL};
	struct db_peer_stats *ps = NULL;
	struct ctl_server_ifaces scratch, *slot = iface_slot(ctl, s);

	if (!slot) { /* the DB record does not depend on the in-memory one */
		ctl_log("health: %s: out of memory for the per-interface counts", s->id);
		slot = &scratch;
	}
	record_ifaces(slot, d);
	if (d) {
		if (dump_stats(slot, d, &h, &ps) < 0) {
			ctl_log("health: %s: out of memory", s->id);
			return;
		}
		h.wg_pubkey = d->live->pubkey[0] ? d->live->pubkey : NULL;
	}
	if (db_server_record(ctl->db, s->id, &h, ps, d ? d->live->n : 0) < 0)
		ctl_log("health: %s: db: %s", s->id, db_errmsg(ctl->db));
	free(ps);
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
	const struct agentless_dump *d = job->err == 0 ? job->dump : NULL;
	int was = -1;

	if (db_server_status(ctl->db, s->id, &old) == 0)
		was = old.up;
	else
		old.wg_pubkey[0] = '\0';
	if (d)
		check_redeployed(ctl, s, old.wg_pubkey, d->live->pubkey);
	record(ctl, s, d);
	if ((d != NULL) != was)
		ctl_log("health: %s is %s%s%s", s->id, d ? "up" : "down", d ? "" : ": ",
		        d                ? ""
		        : job->detail[0] ? job->detail
		                         : pv_strerror(job->err));
	if (d)
		ctl_reconcile(ctl, s, d, NULL);
	pass_done(ctl);
}

static void health_pass(struct ctl *ctl)
{
	size_t i;

	if (!ctl_leader_check(ctl)) {
		if (ctl->health_startup) {
			ctl->health_startup = 0;
			ctl_log("health: another controller is the leader and runs the health "
			        "passes; serving");
			ctl_http_enable(ctl);
		}
		return;
	}
	if (ctl->health_pending) {
		ctl_log("health: previous pass still running, skipping this one");
		return;
	}
	ctl->health_pending = 1; /* held until every dump is queued */
	for (i = 0; i < ctl->fleet->n; i++) {
		const struct pv_server *s = ctl_server_at(ctl, i);

		if (s)
			ctl_health_server(ctl, s);
	}
	pass_done(ctl);
}

int ctl_health_server(struct ctl *ctl, const struct pv_server *s)
{
	int r = ctl_reconcile_read(ctl, s->id, dump_done, (void *)s);

	if (r == 0)
		ctl->health_pending++;
	else
		ctl_log("health: %s: cannot queue the dump: %s", s->id, pv_strerror(r));
	return r;
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
