/* SPDX-License-Identifier: MIT */
/*
 * The fleet-wide fan-out of removals that revoke and the admin routes share:
 * every removal is pushed at once (the pool batches per server and works on
 * servers in parallel); a removed peer's row and lease are deleted, a peer
 * whose server could not be reached stays recorded (ACTIVE) so the next
 * revoke retries it.  The REMOVING marks share one commit, and the rows
 * settled by the answers of one push batch share one (group.c).
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

static void settle(struct ctl_fanout *fo, size_t i, int err)
{
	fanout_settle(fo, i, err);
	if (--fo->pending == 0)
		fo->done(fo);
}

/* A removal's result, settled as a group step: the rows of one push batch share one commit. */
struct settle_arg {
	struct ctl_fanout *fo;
	size_t i;
	int err;
};

static void settle_step(void *arg)
{
	struct settle_arg a = *(struct settle_arg *)arg;

	free(arg);
	settle(a.fo, a.i, a.err);
}

static void fanout_push_done(struct ctl_job *job)
{
	struct ctl_fanout *fo = job->arg;
	struct settle_arg *a = malloc(sizeof(*a));

	if (job->err < 0)
		ctl_log("revoke: removing %s from %s failed: %s: %s", fo->peers[job->index].name,
		        fo->peers[job->index].server_id, pv_strerror(job->err), job->detail);
	if (a) {
		*a = (struct settle_arg){fo, job->index, job->err};
		if (ctl_group_add(fo->rq->ctl, settle_step, a) == 0)
			return;
		free(a);
	}
	settle(fo, job->index, job->err);
}

/*
 * Mark every peer REMOVING in one transaction (one fsync for the lot), and
 * only then push: a removal never leaves before its row says so.  PV_E* if
 * the commit failed (nothing was marked then).
 */
static int mark_removing(struct ctl_fanout *fo)
{
	struct db *db = fo->rq->ctl->db;
	int grouped = db_group_begin(db) == 0, r;
	size_t i;

	for (i = 0; i < fo->n; i++)
		if ((r = db_peer_set_state(db, fo->peers[i].id, DB_PEER_REMOVING)) < 0)
			fanout_settle(fo, i, r);
	if (grouped && (r = db_group_commit(db)) < 0) {
		ctl_log("revoke: db: marking %zu peers: %s", fo->n, db_errmsg(db));
		return r;
	}
	return 0;
}

void ctl_fanout_start(struct ctl_req *rq, struct db_peer *peers, size_t n, ctl_fanout_done done)
{
	struct ctl_fanout *fo = calloc(1, sizeof(*fo));
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
	if ((r = mark_removing(fo)) < 0) {
		ctl_reply_error(rq, r, "state database error; nothing was revoked");
		ctl_fanout_free(fo);
		return;
	}
	fo->pending = 1; /* held until everything is queued */
	for (i = 0; i < n; i++) {
		if (fo->errs[i] < 0)
			continue; /* could not be marked: settled (ACTIVE) already */
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
