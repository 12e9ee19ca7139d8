/* SPDX-License-Identifier: MIT */
/*
 * The fleet-wide fan-out of removals that revoke and the admin routes share:
 * every removal is pushed at once (the pool batches per server and works on
 * servers in parallel); a removed peer's row and lease are deleted, a peer
 * whose server could not be reached stays recorded (ACTIVE) so the next
 * revoke retries it.
 */
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "db.h"

void ctl_fanout_free(struct ctl_fanout *fo)
{
	if (!fo)
		return;
	free(fo->peers);
	free(fo->errs);
	free(fo);
}

static void fanout_settle(struct ctl_fanout *fo, size_t i, int err)
{
	struct db *db = fo->rq->ctl->db;
	struct db_peer *p = &fo->peers[i];
	int r;

	fo->errs[i] = err;
	if (err < 0) {
		if (!fo->first_err)
			fo->first_err = err;
		r = db_peer_set_state(db, p->id, DB_PEER_ACTIVE);
	} else {
		r = db_peer_delete(db, p->id);
		fo->revoked++;
	}
	if (r < 0)
		ctl_log("revoke: db update of %s on %s: %s", p->name, p->server_id, db_errmsg(db));
}

static void fanout_push_done(struct ctl_job *job)
{
	struct ctl_fanout *fo = job->arg;

	if (job->err < 0)
		ctl_log("revoke: removing %s from %s failed: %s: %s", fo->peers[job->index].name,
		        fo->peers[job->index].server_id, pv_strerror(job->err), job->detail);
	fanout_settle(fo, job->index, job->err);
	if (--fo->pending == 0)
		fo->done(fo);
}

void ctl_fanout_start(struct ctl_req *rq, struct db_peer *peers, size_t n, ctl_fanout_done done)
{
	struct ctl_fanout *fo = calloc(1, sizeof(*fo));
	struct db *db = rq->ctl->db;
	size_t i;
	int r;

	if (fo)
		fo->errs = calloc(n + 1, sizeof(*fo->errs));
	if (!fo || !fo->errs) {
		free(fo);
		free(peers);
		ctl_reply_error(rq, PV_ENOMEM, "out of memory");
		return;
	}
	fo->rq = rq;
	fo->peers = peers;
	fo->n = n;
	fo->done = done;
	fo->pending = 1; /* held until everything is queued */
	for (i = 0; i < n; i++) {
		r = db_peer_set_state(db, peers[i].id, DB_PEER_REMOVING);
		if (r == 0)
			r = ctl_push_remove(rq->ctl, &peers[i], fanout_push_done, fo, i);
		if (r == 0)
			fo->pending++;
		else
			fanout_settle(fo, i, r);
	}
	if (--fo->pending == 0)
		fo->done(fo);
}

/* The distinct server ids of the peers whose result is (err < 0) == failed. */
static json_t *fanout_servers(const struct ctl_fanout *fo, int failed)
{
	json_t *list = json_array();
	size_t i, j;

	for (i = 0; list && i < fo->n; i++) {
		int seen = 0;

		if ((fo->errs[i] < 0) != failed)
			continue;
		for (j = 0; j < json_array_size(list) && !seen; j++)
			seen = strcmp(json_string_value(json_array_get(list, j)),
			              fo->peers[i].server_id) == 0;
		if (!seen)
			json_array_append_new(list, json_string(fo->peers[i].server_id));
	}
	return list;
}

void ctl_fanout_reply(struct ctl_fanout *fo, json_t *extra)
{
	json_t *body, *failed;
	char *names;

	if (fo->first_err < 0) {
		failed = fanout_servers(fo, 1);
		names = failed ? json_dumps(failed, JSON_COMPACT) : NULL;
		ctl_reply_error(
		        fo->rq, PV_EUNREACH,
		        "could not remove peers from %s (%s); they stay recorded, retry the revoke",
		        names ? names : "some servers", pv_strerror(fo->first_err));
		ctl_json_free(names);
		json_decref(failed);
		json_decref(extra);
		return;
	}
	body = extra ? extra : json_object();
	json_object_set_new(body, "revoked", json_integer((json_int_t)fo->revoked));
	json_object_set_new(body, "servers", fanout_servers(fo, 0));
	ctl_reply(fo->rq, 200, body);
}
