/* SPDX-License-Identifier: MIT */
/*
 * GET /api/servers (the caller's tier's servers with health and load) and
 * GET /api/admin/servers (every server with what the DB knows of it).
 *
 * GET /api/servers answers from an in-memory snapshot per tier, built from
 * one query and kept until the DB changes: a write by this controller (a
 * health change, a provision, a revoke: sqlite3_total_changes moves) or by
 * another process (PRAGMA data_version moves).  So the request costs no
 * query however many servers there are, and never shows stale state.  The
 * snapshot is the reply's text itself: serialising the JSON on every
 * request was most of the request's CPU (a third at 15 servers, more than
 * half at 100, measured with perf), so it is done once per change, and a
 * reply references that text instead of copying it (a reply of 100 servers
 * is 19 KB).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "agentless.h"
#include "controller.h"
#include "db.h"

/* A draining server is listed as such whatever its health: clients' automatic pick skips it. */
static const char *status_name(const struct db_server_status *st)
{
	return st->draining ? "draining" : st->up > 0 ? "up" : st->up == 0 ? "down" : "unknown";
}

static json_t *server_json(const struct pv_server *s, const struct db_server_status *st)
{
	/* public_key: the server's current WireGuard key, so clients notice a redeployed one. */
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:i, s:i}", "id", s->id,
	                 "location", s->location, "region", s->region, "tier",
	                 pv_tier_name(s->tier), "host", s->wg_host, "port", (int)s->ifaces[0].port,
	                 "public_key", st->wg_pubkey, "status", status_name(st), "load", st->peers,
	                 "capacity", (int)pv_server_capacity(s), "interfaces", (int)s->n_ifaces);
}

/* The status row of server id in list[n] (the DB's order is the fleet file's). */
static const struct db_server_status *status_of(const struct db_server_status *list, size_t n,
                                                const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i].id, id) == 0)
			return &list[i];
	return NULL;
}

/*
 * One reply body, newline included, shared by reference: every reply in
 * flight holds a reference (evbuffer_add_reference, no copy), and the view
 * one until the DB changes, so a rebuilt text never frees one evhttp has yet
 * to write.  The loop thread alone touches refs.
 */
struct servers_text {
	unsigned refs;
	size_t len;
	char bytes[]; /* len bytes, then a NUL */
};

static void text_unref(struct servers_text *t)
{
	if (t && --t->refs == 0)
		free(t);
}

/* evbuffer's cleanup of a reply's reference (an evbuffer_ref_cleanup_cb). */
static void text_released(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	text_unref(arg);
}

struct ctl_servers_view {
	int64_t data_version, changes;              /* the DB state the replies were built from */
	struct servers_text *text[PV_TIER_PRO + 1]; /* by the caller's tier; NULL: not built yet */
};

static void view_clear(struct ctl_servers_view *v)
{
	size_t i;

	for (i = 0; i < sizeof(v->text) / sizeof(v->text[0]); i++) {
		text_unref(v->text[i]);
		v->text[i] = NULL;
	}
}

/* The servers array for tier, from one query; NULL after replying an error. */
static json_t *servers_build(struct ctl_req *rq, enum pv_tier tier)
{
	static const struct db_server_status unknown = {.up = -1};
	struct ctl *ctl = rq->ctl;
	struct db_server_status *st = NULL;
	json_t *list = json_array();
	size_t i, n = 0;
	int r;

	if ((r = db_servers_list(ctl->db, &st, &n)) < 0) {
		ctl_log("servers: db: %s", db_errmsg(ctl->db));
		json_decref(list);
		ctl_reply_error(rq, r, "state database error");
		return NULL;
	}
	for (i = 0; list && i < ctl->fleet->n; i++) {
		const struct pv_server *s = ctl_server_at(ctl, i);
		const struct db_server_status *one = s ? status_of(st, n, s->id) : NULL;

		if (s && pv_tier_allows(tier, s->tier))
			json_array_append_new(list, server_json(s, one ? one : &unknown));
	}
	free(st);
	if (!list)
		ctl_reply_error(rq, PV_ENOMEM, "out of memory");
	return list;
}

/* The reply body for rq's tier, compact JSON and a newline, one reference owned by the
 * caller (text_unref); NULL after replying. */
static struct servers_text *servers_text(struct ctl_req *rq)
{
	json_t *list = servers_build(rq, rq->tier), *body;
	struct servers_text *t = NULL;
	char *json;
	size_t len;

	if (!list)
		return NULL;
	body = json_pack("{s:s, s:o}", "tier", pv_tier_name(rq->tier), "servers", list);
	json = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	len = json ? strlen(json) : 0;
	if (json && (t = malloc(sizeof(*t) + len + 2))) {
		t->refs = 1;
		t->len = len + 1;
		memcpy(t->bytes, json, len);
		memcpy(t->bytes + len, "\n", 2);
	}
	ctl_json_free(json);
	if (!t)
		ctl_reply_error(rq, PV_ENOMEM, "out of memory");
	return t;
}

/* The snapshot of rq's tier, rebuilt if the DB changed; borrowed from the view, or NULL. */
static struct servers_text *servers_snapshot(struct ctl_req *rq)
{
	struct ctl *ctl = rq->ctl;
	struct ctl_servers_view *v = ctl->servers_view;
	int64_t version = -1, changes = db_changes(ctl->db);
	size_t t = rq->tier <= PV_TIER_PRO ? (size_t)rq->tier : 0;

	if (!v && !(v = ctl->servers_view = calloc(1, sizeof(*v)))) {
		ctl_reply_error(rq, PV_ENOMEM, "out of memory");
		return NULL;
	}
	if (db_data_version(ctl->db, &version) < 0 || version != v->data_version ||
	    changes != v->changes) {
		view_clear(v);
		v->data_version = version;
		v->changes = changes;
	}
	if (!v->text[t] && !(v->text[t] = servers_text(rq)))
		return NULL;
	return v->text[t];
}

void api_servers(struct ctl_req *rq)
{
	struct servers_text *t = servers_snapshot(rq);
	struct evbuffer *out;

	if (!t)
		return;
	out = evbuffer_new();
	if (!out || evbuffer_add_reference(out, t->bytes, t->len, text_released, t) < 0) {
		if (out)
			evbuffer_free(out);
		ctl_reply_error(rq, PV_ENOMEM, "out of memory");
		return;
	}
	t->refs++; /* the reply's, dropped by text_released once evhttp has written it */
	ctl_reply_text(rq, 200, "application/json", out);
	evbuffer_free(out);
}

void ctl_servers_view_free(struct ctl *ctl)
{
	if (!ctl->servers_view)
		return;
	view_clear(ctl->servers_view);
	free(ctl->servers_view);
	ctl->servers_view = NULL;
}

/* The pinned host key's fingerprint: the entry's key, else known_hosts' (null if it has none). */
static json_t *hostkey_json(const struct ctl *ctl, const struct pv_server *s)
{
	char fp[64];
	int r = s->ssh_hostkey[0] ? agentless_hostkey_fingerprint(s->ssh_hostkey, fp)
	                          : agentless_known_fingerprint(ctl->cfg->known_hosts, s, fp);

	return r == 0 ? json_string(fp) : json_null();
}

/* The operators' view of one server: the public fields plus what the health pass recorded. */
static json_t *admin_server_json(const struct ctl *ctl, const struct pv_server *s,
                                 const struct db_server_status *st)
{
	json_t *j = server_json(s, st);
	json_t *more = json_pack(
	        "{s:i, s:i, s:I, s:I, s:I, s:I, s:i, s:I, s:b, s:o, s:s, s:{s:s, s:i, s:s}}",
	        "live_peers", st->live_peers, "active_peers", st->active_peers, "rx_bytes",
	        (json_int_t)st->rx_bytes, "tx_bytes", (json_int_t)st->tx_bytes, "checked_at",
	        (json_int_t)st->checked_at, "state_since", (json_int_t)st->state_since, "repairs",
	        st->repairs, "reconciled_at", (json_int_t)st->reconciled_at, "draining",
	        st->draining, "host_key_fingerprint", hostkey_json(ctl, s), "host_key_source",
	        s->ssh_hostkey[0] ? "pinned" : "known_hosts", "ssh", "host", s->ssh_host, "port",
	        (int)s->ssh_port, "user", s->ssh_user);

	if (!j || !more || json_object_update(j, more) < 0) {
		json_decref(j);
		j = NULL;
	}
	json_decref(more);
	return j;
}

void api_admin_servers(struct ctl_req *rq)
{
	struct ctl *ctl = rq->ctl;
	struct db_server_status *st = NULL;
	json_t *list;
	size_t i, n = 0;
	int r;

	if ((r = db_servers_list(ctl->db, &st, &n)) < 0) {
		ctl_log("admin servers: %s", db_errmsg(ctl->db));
		ctl_reply_error(rq, r, "state database error");
		return;
	}
	list = json_array();
	for (i = 0; list && i < n; i++) {
		const struct pv_server *s = ctl_server(ctl, st[i].id);

		if (s && json_array_append_new(list, admin_server_json(ctl, s, &st[i])) < 0) {
			json_decref(list);
			list = NULL;
		}
	}
	free(st);
	ctl_reply(rq, 200, list ? json_pack("{s:o}", "servers", list) : NULL);
}

void api_server_show(struct ctl_req *rq)
{
	const struct pv_server *s = ctl_server(rq->ctl, rq->path_arg);
	struct db_server_status st;
	int r;

	if (!s) {
		ctl_reply_error(rq, PV_ENOTFOUND, "unknown server %s", rq->path_arg);
		return;
	}
	if ((r = db_server_status(rq->ctl->db, s->id, &st)) < 0) {
		ctl_log("admin server %s: %s", s->id, db_errmsg(rq->ctl->db));
		ctl_reply_error(rq, r, "state database error");
		return;
	}
	ctl_reply(rq, 200, admin_server_json(rq->ctl, s, &st));
}
