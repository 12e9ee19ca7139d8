/* SPDX-License-Identifier: MIT */
/*
 * The bridge from agentless's worker threads back to the event loop.  A job
 * (and its event) is made on the loop thread before the submit; the worker
 * callback only copies the result into it and calls event_active(), the one
 * libevent call that is safe from another thread.  The job's done() then
 * runs on the loop, where all DB and evhttp calls happen.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "agentless.h"
#include "controller.h"
#include "db.h"

static void job_free(struct ctl_job *job)
{
	if (!job)
		return;
	if (job->ev)
		event_free(job->ev);
	agentless_dump_free(job->dump);
	free(job);
}

/*
 * A removed peer's bytes since the last health pass, counted as that pass
 * would, before done() deletes its row.
 */
static void record_final(struct ctl_job *job)
{
	struct db_peer_stats p = {.latest_handshake = job->final.latest_handshake,
	                          .rx_bytes = job->final.rx_bytes,
	                          .tx_bytes = job->final.tx_bytes};

	memcpy(p.pubkey, job->pubkey, sizeof(p.pubkey));
	if (db_peer_record_final(job->ctl->db, job->server_id, &p) < 0)
		ctl_log("usage: the last counters of a peer removed from %s were not recorded: %s",
		        job->server_id, db_errmsg(job->ctl->db));
}

/* Loop thread: hand the result over, then free the job. */
static void job_run(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_job *job = arg;

	(void)fd;
	(void)what;
	if (job->final.seen)
		record_final(job);
	job->done(job);
	job_free(job);
}

static struct ctl_job *job_new(struct ctl *ctl, ctl_job_done done, void *arg, size_t index)
{
	struct ctl_job *job = calloc(1, sizeof(*job));

	if (!job)
		return NULL;
	job->ctl = ctl;
	job->done = done;
	job->arg = arg;
	job->index = index;
	job->ev = event_new(ctl->base, -1, 0, job_run, job);
	if (!job->ev) {
		free(job);
		return NULL;
	}
	return job;
}

static void set_detail(struct ctl_job *job, const char *detail)
{
	snprintf(job->detail, sizeof(job->detail), "%s", detail ? detail : "");
}

/* Where an edit job goes: the key its final counters belong to. */
static void edit_job_target(struct ctl_job *job, const char *server_id,
                            const struct agentless_edit *edit)
{
	snprintf(job->server_id, sizeof(job->server_id), "%s", server_id);
	memcpy(job->pubkey, edit->pubkey, sizeof(job->pubkey));
}

/* Worker thread. */
static void edit_done(const struct agentless_result *res, void *arg)
{
	struct ctl_job *job = arg;

	job->err = res->err;
	set_detail(job, res->detail);
	job->final = res->final;
	event_active(job->ev, 0, 0);
}

/* Worker thread: the dump is the pool's, so copy what the loop needs. */
static void dump_done(int err, const char *detail, const struct agentless_dump *dump, void *arg)
{
	struct ctl_job *job = arg;
	struct agentless_dump *copy = NULL;

	job->err = err;
	set_detail(job, detail);
	if (err == 0 && dump && agentless_dump_dup(&copy, dump) < 0) {
		job->err = PV_ENOMEM;
		set_detail(job, "out of memory copying the dump");
	}
	job->dump = copy;
	event_active(job->ev, 0, 0);
}

int ctl_push(struct ctl *ctl, const char *server_id, const struct agentless_edit *edit,
             ctl_job_done done, void *arg, size_t index)
{
	struct ctl_job *job = job_new(ctl, done, arg, index);
	int r;

	if (!job)
		return PV_ENOMEM;
	edit_job_target(job, server_id, edit);
	if ((r = agentless_submit(ctl->pool, server_id, edit, edit_done, job)) < 0)
		job_free(job);
	return r;
}

int ctl_push_batch(struct ctl *ctl, const char *server_id, const struct agentless_edit *edits,
                   size_t n, ctl_job_done done, void *arg)
{
	void **jobs = calloc(n ? n : 1, sizeof(void *)); /* struct ctl_job *, one per edit */
	size_t i;
	int r = PV_ENOMEM;

	if (!jobs)
		return r;
	for (i = 0; i < n; i++) {
		if (!(jobs[i] = job_new(ctl, done, arg, i)))
			goto out;
		edit_job_target(jobs[i], server_id, &edits[i]);
	}
	r = agentless_submit_batch(ctl->pool, server_id, edits, n, edit_done, jobs);
out:
	for (i = 0; r < 0 && i < n; i++)
		job_free(jobs[i]);
	free(jobs);
	return r;
}

int ctl_push_remove(struct ctl *ctl, const struct db_peer *p, ctl_job_done done, void *arg,
                    size_t index)
{
	struct agentless_edit e;

	memset(&e, 0, sizeof(e));
	e.op = AGENTLESS_REMOVE;
	e.host = p->host;
	snprintf(e.name, sizeof(e.name), "%s", p->name);
	memcpy(e.pubkey, p->pubkey, sizeof(e.pubkey));
	return ctl_push(ctl, p->server_id, &e, done, arg, index);
}

int ctl_push_remove_copy(struct ctl *ctl, const struct db_peer *p, ctl_job_done done)
{
	struct db_peer *copy = malloc(sizeof(*copy));
	int r;

	if (!copy)
		return PV_ENOMEM;
	*copy = *p;
	if ((r = ctl_push_remove(ctl, copy, done, copy, 0)) < 0)
		free(copy);
	return r;
}

int ctl_dump(struct ctl *ctl, const char *server_id, const char *const *psk_names, size_t n,
             ctl_job_done done, void *arg)
{
	struct ctl_job *job = job_new(ctl, done, arg, 0);
	int r;

	if (!job)
		return PV_ENOMEM;
	if ((r = agentless_dump_psks(ctl->pool, server_id, psk_names, n, dump_done, job)) < 0)
		job_free(job);
	return r;
}
