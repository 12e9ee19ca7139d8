/* SPDX-License-Identifier: MIT */
/*
 * Changing the fleet at runtime (docs/fleet.md): POST /api/admin/servers
 * (add, pinned host key), GET /api/admin/servers/export (the fleet as a
 * servers.json), POST .../ID/bootstrap (bootstrap.sh over the pool's SSH
 * session), POST .../ID/drain and /undrain, DELETE .../ID (?force=true
 * revokes its peers first).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "agentless.h"
#include "controller.h"
#include "db.h"

/* The bootstrap of one server, its slowest step a package install on a real one. */
#define BOOTSTRAP_TIMEOUT_MS 300000

extern const char ctl_bootstrap_script[]; /* ansible-free-bootstrap/bootstrap.sh, compiled in */

/* The server of the path, or a 404 reply and NULL. */
static const struct pv_server *path_server(struct ctl_req *rq)
{
	const struct pv_server *s = ctl_server(rq->ctl, rq->path_arg);

	if (!s)
		ctl_reply_error(rq, PV_ENOTFOUND, "unknown server %s", rq->path_arg);
	return s;
}

static void audit(struct ctl *ctl, const char *action, const char *id, const char *detail)
{
	if (db_audit(ctl->db, "admin", action, id, detail) < 0)
		ctl_log("audit: %s %s: %s", action, id, db_errmsg(ctl->db));
}

void api_server_add(struct ctl_req *rq)
{
	const struct pv_server *s = NULL;
	json_error_t jerr;
	char err[512];
	size_t len;
	const char *body = ctl_req_body(rq, &len);
	json_t *entry = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
	int r;

	if (!json_is_object(entry)) {
		json_decref(entry);
		ctl_reply_error(rq, PV_EINVAL, "body: a servers.json entry (a JSON object): %s",
		                jerr.text);
		return;
	}
	r = ctl_fleet_add(rq->ctl, entry, &s, err, sizeof(err));
	json_decref(entry);
	if (r < 0) {
		ctl_reply_error(rq, r, "%s", err);
		return;
	}
	ctl_log("fleet: %s added (%s, ssh %s port %u, host key pinned)", s->id,
	        pv_tier_name(s->tier), s->ssh_host, (unsigned)s->ssh_port);
	audit(rq->ctl, "server.add", s->id, s->ssh_hostkey);
	ctl_health_server(rq->ctl, s);
	ctl_reply(rq, 201, json_pack("{s:s, s:s}", "added", s->id, "status", "unknown"));
}

/* PUT /api/admin/servers/ID: the entry with interfaces appended, in effect at the next start. */
void api_server_update(struct ctl_req *rq)
{
	const struct pv_server *s = path_server(rq);
	json_error_t jerr;
	char err[512];
	size_t len, n = 0;
	const char *body;
	json_t *entry;
	int r;

	if (!s)
		return;
	body = ctl_req_body(rq, &len);
	entry = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(entry)) {
		json_decref(entry);
		ctl_reply_error(rq, PV_EINVAL, "body: a servers.json entry (a JSON object): %s",
		                jerr.text);
		return;
	}
	r = ctl_fleet_update(rq->ctl, s, entry, &n, err, sizeof(err));
	json_decref(entry);
	if (r < 0) {
		ctl_reply_error(rq, r, "%s", err);
		return;
	}
	ctl_log("fleet: %s's entry updated: %zu WireGuard interfaces from the next start (%zu now)",
	        s->id, n, s->n_ifaces);
	audit(rq->ctl, "server.update", s->id, NULL);
	ctl_reply(rq, 200,
	          json_pack("{s:s, s:i, s:i, s:b}", "updated", s->id, "interfaces", (int)n,
	                    "interfaces_now", (int)s->n_ifaces, "restart_required",
	                    n != s->n_ifaces));
}

void api_servers_export(struct ctl_req *rq)
{
	struct evbuffer *buf = evbuffer_new();
	char err[256], *doc = NULL;
	int r = buf ? ctl_fleet_export(rq->ctl, &doc, err, sizeof(err)) : PV_ENOMEM;

	if (r < 0) {
		ctl_log("fleet export: %s", r == PV_ENOMEM ? "out of memory" : err);
		ctl_reply_error(rq, r, "cannot export the fleet");
	} else {
		evbuffer_add_printf(buf, "%s\n", doc);
		ctl_reply_text(rq, 200, "application/json", buf);
	}
	ctl_json_free(doc);
	if (buf)
		evbuffer_free(buf);
}

void api_server_drain(struct ctl_req *rq)
{
	const struct pv_server *s = path_server(rq);
	int on = strcmp(rq->route + strlen(rq->route) - 6, "/drain") == 0, r;

	if (!s)
		return;
	if ((r = db_server_set_draining(rq->ctl->db, s->id, on)) < 0) {
		ctl_log("fleet: %s: %s", s->id, db_errmsg(rq->ctl->db));
		ctl_reply_error(rq, r, "cannot change server %s", s->id);
		return;
	}
	ctl_log("fleet: %s %s", s->id, on ? "draining: no new peers" : "no longer draining");
	audit(rq->ctl, on ? "server.drain" : "server.undrain", s->id, NULL);
	ctl_reply(rq, 200, json_pack("{s:s, s:b}", "server", s->id, "draining", on));
}

/* ---- DELETE ------------------------------------------------------------------ */

static void remove_now(struct ctl_req *rq, const struct pv_server *s, json_t *extra)
{
	char id[PV_SERVER_ID_MAX + 1];
	int r = ctl_fleet_remove(rq->ctl, s);

	if (r < 0) {
		json_decref(extra);
		ctl_log("fleet: removing %s: %s", s->id, db_errmsg(rq->ctl->db));
		ctl_reply_error(rq, r, "cannot remove server %s: %s", s->id,
		                db_errmsg(rq->ctl->db));
		return;
	}
	snprintf(id, sizeof(id), "%s", s->id);
	ctl_log("fleet: %s removed", id);
	audit(rq->ctl, "server.remove", id, NULL);
	if (!extra)
		extra = json_object();
	json_object_set_new(extra, "removed", json_string(id));
	ctl_reply(rq, 200, extra);
}

static void remove_revoked(struct ctl_fanout *fo)
{
	const struct pv_server *s = ctl_server(fo->rq->ctl, fo->rq->path_arg);

	if (fo->first_err < 0 || !s) {
		ctl_fanout_reply(fo, NULL);
	} else {
		json_t *extra = json_pack("{s:I}", "revoked", (json_int_t)fo->revoked);

		remove_now(fo->rq, s, extra);
	}
	ctl_fanout_free(fo);
}

/* ?force=true or nothing; 1 and a reply on anything else. */
static int parse_force(struct ctl_req *rq, int *force)
{
	static const char *const allowed[] = {"force", NULL};
	struct evkeyvalq q;
	const char *v;
	char err[128];

	*force = 0;
	if (ctl_query_parse(rq, allowed, &q, err, sizeof(err)) < 0) {
		ctl_reply_error(rq, PV_EINVAL, "%s", err);
		return 1;
	}
	v = evhttp_find_header(&q, "force");
	if (v && strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
		evhttp_clear_headers(&q);
		ctl_reply_error(rq, PV_EINVAL, "query parameter \"force\": true or false");
		return 1;
	}
	*force = v && strcmp(v, "true") == 0;
	evhttp_clear_headers(&q);
	return 0;
}

void api_server_remove(struct ctl_req *rq)
{
	const struct pv_server *s;
	struct db_peer_filter f = {.state = DB_PEER_ANY};
	struct db_peer *peers = NULL;
	size_t n = 0;
	int force, r;

	if (parse_force(rq, &force) || !(s = path_server(rq)))
		return;
	f.server_id = s->id;
	if ((r = db_peers_list(rq->ctl->db, &f, &peers, &n)) < 0) {
		ctl_log("fleet: %s: %s", s->id, db_errmsg(rq->ctl->db));
		ctl_reply_error(rq, r, "state database error");
		return;
	}
	if (n == 0) {
		free(peers);
		remove_now(rq, s, NULL);
		return;
	}
	if (!force) {
		free(peers);
		ctl_reply_error(rq, PV_EEXIST,
		                "server %s has %zu peers: revoke them first, or remove with "
		                "?force=true to revoke them",
		                s->id, n);
		return;
	}
	/* Draining first: no provision lands between the revoke and the removal. */
	if ((r = db_server_set_draining(rq->ctl->db, s->id, 1)) < 0) {
		free(peers);
		ctl_reply_error(rq, r, "cannot drain server %s", s->id);
		return;
	}
	ctl_log("fleet: removing %s: revoking its %zu peers first", s->id, n);
	ctl_fanout_start(rq, peers, n, remove_revoked);
}

/* ---- bootstrap ------------------------------------------------------------------ */

struct bootstrap {
	struct ctl_req *rq;
	struct event *ev;
	int err, exit_status;
	char *out, *errtext; /* owned */
	char detail[1024];
};

static void bootstrap_free(struct bootstrap *b)
{
	if (b->ev)
		event_free(b->ev);
	free(b->out);
	free(b->errtext);
	free(b);
}

/* The last line of the script's stderr: its "bootstrap: error: …" when it failed. */
static const char *last_line(char *text)
{
	size_t len = strlen(text);
	char *nl;

	while (len && text[len - 1] == '\n')
		text[--len] = '\0';
	nl = strrchr(text, '\n');
	return nl ? nl + 1 : text;
}

/* On the loop: check the summary, register the key, answer. */
static void bootstrap_finish(evutil_socket_t fd, short what, void *arg)
{
	struct bootstrap *b = arg;
	struct ctl_req *rq = b->rq;
	const struct pv_server *s = ctl_server(rq->ctl, rq->path_arg);
	json_t *sum = NULL;
	const char *key;
	int r;

	(void)fd;
	(void)what;
	if (b->err < 0) {
		ctl_log("bootstrap: %s: %s", rq->path_arg, b->detail);
		ctl_reply_error(rq, ctl_push_cause(b->err), "%s", b->detail);
		goto out;
	}
	if (b->exit_status != 0) {
		ctl_log("bootstrap: %s: exit %d: %s", rq->path_arg, b->exit_status, b->errtext);
		ctl_reply_error(rq, PV_EREMOTE, "bootstrap of %s failed (exit %d): %s",
		                rq->path_arg, b->exit_status, last_line(b->errtext));
		goto out;
	}
	sum = json_loads(b->out, 0, NULL);
	key = json_string_value(json_object_get(sum, "server_public_key"));
	if (!s || !key || !pv_key_is_valid_base64(key)) {
		ctl_reply_error(rq, PV_EREMOTE,
		                "bootstrap of %s: no JSON summary with a WireGuard "
		                "key on its stdout",
		                rq->path_arg);
		goto out;
	}
	if ((r = db_server_set_wg_pubkey(rq->ctl->db, s->id, key)) < 0) {
		ctl_log("bootstrap: %s: %s", s->id, db_errmsg(rq->ctl->db));
		ctl_reply_error(rq, r, "state database error");
		goto out;
	}
	ctl_log("bootstrap: %s done, WireGuard key %s", s->id, key);
	audit(rq->ctl, "server.bootstrap", s->id, key);
	ctl_health_server(rq->ctl, s);
	ctl_reply(rq, 200, json_pack("{s:s, s:O}", "server", s->id, "bootstrap", sum));
out:
	json_decref(sum);
	bootstrap_free(b);
}

/* On the pool's worker: copy the result, wake the loop. */
static void bootstrap_done(int err, const char *detail, int exit_status, const char *out,
                           const char *errtext, void *arg)
{
	struct bootstrap *b = arg;

	b->err = err;
	b->exit_status = exit_status;
	snprintf(b->detail, sizeof(b->detail), "%s", detail);
	b->out = strdup(out);
	b->errtext = strdup(errtext);
	if (!b->out || !b->errtext) {
		b->err = PV_ENOMEM;
		snprintf(b->detail, sizeof(b->detail), "out of memory");
	}
	event_active(b->ev, 0, 0);
}

void api_server_bootstrap(struct ctl_req *rq)
{
	const struct pv_server *s = path_server(rq);
	struct bootstrap *b;
	char cmd[160];
	int r;

	if (!s)
		return;
	if (!(b = calloc(1, sizeof(*b))) ||
	    !(b->ev = event_new(rq->ctl->base, -1, 0, bootstrap_finish, b))) {
		free(b);
		ctl_reply_error(rq, PV_ENOMEM, "out of memory");
		return;
	}
	b->rq = rq;
	/*
	 * Every value passed fleet.c's checks: nothing for sh to expand.  The
	 * bootstrap sets up as many interfaces as the entry lists (their
	 * layout is its own: docs/bootstrap.md).
	 */
	snprintf(cmd, sizeof(cmd), "PV_ENDPOINT=%s PV_SSH_PORT=%u PV_INTERFACES=%zu sh -s",
	         s->wg_host, (unsigned)s->ssh_port, s->n_ifaces);
	ctl_log("bootstrap: %s: running bootstrap.sh over its SSH session", s->id);
	if ((r = agentless_exec(rq->ctl->pool, s->id, cmd, ctl_bootstrap_script,
	                        strlen(ctl_bootstrap_script), BOOTSTRAP_TIMEOUT_MS, bootstrap_done,
	                        b)) < 0) {
		bootstrap_free(b);
		ctl_reply_error(rq, r, "cannot queue the bootstrap of %s", s->id);
	}
}
