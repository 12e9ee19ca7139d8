/* SPDX-License-Identifier: MIT */
/*
 * The session pool: one worker thread per server, each owning that server's
 * libssh2 session.
 *
 * Design.
 * - Threads, not non-blocking libssh2 on the caller's event loop: libssh2
 *   allows one thread at a time per session, and a thread per server gives
 *   each server its own failure domain.  A dead or hung server only ever
 *   blocks its own thread, for at most the edit's deadline (op_timeout_ms
 *   from submission); the other 14 keep going.  Inside the thread libssh2 is
 *   non-blocking and every wait is a poll() against that deadline
 *   (session.c).
 * - One remote process per session: the first batch starts the constant
 *   remote script (remote.sh) on a channel of its own, and the script then
 *   reads batch after batch on stdin, answering each with its result lines
 *   and a terminator line.  A batch costs one write and one read: no channel
 *   open, exec or close, and the shell parses the script once per session.
 *   The script dies with the session; nothing is installed.
 * - Each server has a queue guarded by a mutex and condvar (and an eventfd
 *   that wakes a worker waiting on answers).  Submitting appends and
 *   signals; it never touches the network.  The worker takes everything
 *   queued as one batch: one flock, one rewrite of wg0.conf, one `wg addconf`
 *   on the server.
 * - Pipelining and coalescing: with nothing in flight an edit goes out at
 *   once, unless the server was crowded lately (an edit arrived while
 *   another was outstanding): then it waits up to HOLD_IDLE_MS for company.
 *   With batches in flight, the next one is written when it would
 *   reach the server just as the server finishes the ones before it (the
 *   worker tracks the session's round trip, measured when the script's
 *   channel opens, and the server's time per batch from the answers), and
 *   never later than HOLD_MAX_MS after its first edit queued.  So a far
 *   server is kept busy while its answers travel (up to MAX_INFLIGHT
 *   batches ahead), and edits arriving while the server works coalesce into
 *   the next batch instead of queueing on the server as small ones: batches
 *   grow under load.  The script runs them one after the other, each under
 *   the server's lock; answers come back in order.
 * - Completion callbacks run on the worker thread, in submission order per
 *   kind; the controller bridges to libevent with event_active().
 * - Sessions open lazily on the first job, are kept alive with
 *   libssh2_keepalive_send while idle, and are closed on any libssh2 error or
 *   missed deadline; the next job reconnects (with backoff after failed
 *   connects, during which jobs fail fast with the last error).
 *
 * Exactly once across reconnects.  A batch written on a session that then
 * dies may or may not have run on the server: the connection can die after
 * the script committed but before its answer came back.  Every batch is
 * idempotent on the server: an add whose identical block is already there
 * changes nothing (and only re-applies the live peer if it is missing), a
 * remove of an absent block changes nothing, and the script finishes the
 * batch even if the connection drops (it ignores SIGHUP/SIGPIPE).  So the
 * pool re-sends each unanswered batch once, in order, on a fresh session; the
 * server converges to one block and one live peer per edit whether the first
 * attempt ran or not.  `changed` then reports what the re-send changed and
 * `retried` is set, so a caller knows a changed == 0 may mean "the lost first
 * attempt did it".  A missed deadline is not retried: the caller owns that
 * decision (the health pass repairs drift); the batches behind it are
 * re-sent on a fresh session.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libssh2.h>
#include <openssl/crypto.h>

#include "agentless_int.h"

#define MAX_INFLIGHT 8 /* batches written ahead of their answers, per server */
/* The longest a queued job waits for company while batches are in flight. */
#define HOLD_MAX_MS 100
#define BATCH_FULL  64 /* a queue this long goes out without waiting */
/*
 * With the server idle, an edit still waits this long for company when the
 * server was crowded (an edit arrived while another was outstanding) within
 * CROWDED_MS: then more are on their way, and a batch costs the server about
 * the same whatever its size (measured: 1.1 edits per batch at 64 clients
 * over 15 servers without it, 1.8 with it, and the servers' CPU per edit
 * falls with it).  A client that waits for each answer never crowds a
 * server, so one provision at a time is never held.
 */
#define HOLD_IDLE_MS 60
#define CROWDED_MS   1000

enum job_kind { JOB_EDIT, JOB_DUMP, JOB_PING, JOB_EXEC, JOB_KINDS };

struct job {
	struct job *next;
	enum job_kind kind;
	struct agentless_edit edit;
	agentless_edit_cb edit_cb;
	agentless_dump_cb dump_cb; /* dump and ping (dump == NULL) */
	struct al_buf psk_names;   /* dump: "NAME\n" per block whose PSK is wanted */
	agentless_exec_cb exec_cb; /* exec: */
	char *cmd;                 /* owned */
	struct al_buf in;          /* its stdin */
	void *arg;
	uint64_t deadline_ms;
	struct worker *counted; /* an edit: counted in its worker's edits_out until finished */
};

/* A batch written to the remote script and not answered yet. */
struct flight {
	struct flight *next;
	enum job_kind kind; /* JOB_EDIT or JOB_DUMP */
	struct job *jobs;
	size_t n;
	struct al_buf in;     /* the encoded batch (holds PSKs) */
	uint64_t deadline_ms; /* the earliest of its jobs' */
	uint64_t sent_us;
	int retried;
	/* A dump asks every interface: one answer each, merged into acc. */
	size_t answers, got;
	struct agentless_dump *acc; /* the interfaces answered so far */
	int err;                    /* the first failed part's, with its detail */
	char detail[512];
};

struct worker {
	struct agentless *pool;
	const struct pv_server *srv;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, **tail;   /* guarded by mu */
	size_t queued, queued_solo; /* guarded by mu; solo: pings and execs (own channel) */
	uint64_t first_queued_ms;   /* guarded by mu: arrival of the oldest queued job */
	uint64_t crowded_ms;        /* guarded by mu: an edit came with another outstanding */
	_Atomic size_t edits_out;   /* edits submitted and not finished */
	int stop;                   /* guarded by mu */
	int stop_err;               /* guarded by mu: the error of jobs left queued at stop */
	_Atomic int removed;        /* agentless_remove_server: lookups no longer find it */
	int wake_fd;                /* eventfd: wakes a worker waiting on answers */
	struct al_session ss;       /* worker thread only, like the rest */
	struct flight *fl_head, **fl_tail; /* in flight, in the order sent */
	size_t nflight;
	uint64_t hold_until; /* queued jobs held for company until then (ms), or 0 */
	/* The server's expected work, for pipelining (µs, pv_now_us scale). */
	uint64_t busy_until_us;  /* when the server should finish what was sent */
	uint64_t svc_us;         /* its time per batch (moving average) */
	uint64_t last_answer_us; /* when the last answer arrived */
};

struct agentless {
	struct agentless_config cfg;
	char *identity, *known_hosts;
	_Atomic size_t n; /* workers started: grows at runtime, never shrinks */
	pthread_mutex_t add_mu;
	struct worker *workers; /* PV_FLEET_MAX slots, so a worker never moves */
};

static pthread_once_t ssh_once = PTHREAD_ONCE_INIT;
static int ssh_init_rc;

static void ssh_init(void)
{
	ssh_init_rc = libssh2_init(0);
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	OPENSSL_cleanse(&j->edit, sizeof(j->edit));
	al_buf_free(&j->psk_names, 0);
	al_buf_free(&j->in, 0);
	free(j->cmd);
	free(j);
}

/* final: a removed peer's counters (edits; NULL when none). */
static void job_finish(struct job *j, int err, int changed, int retried, const char *detail,
                       const struct agentless_dump *dump, const struct agentless_final *final)
{
	if (j->counted) {
		atomic_fetch_sub(&j->counted->edits_out, 1);
		j->counted = NULL;
	}
	if (j->kind == JOB_EDIT) {
		struct agentless_result res = {.err = err,
		                               .changed = err ? 0 : changed,
		                               .retried = retried,
		                               .detail = detail};

		if (!err && final)
			res.final = *final;
		j->edit_cb(&res, j->arg);
	} else if (j->kind == JOB_EXEC) {
		j->exec_cb(err, detail, -1, "", "", j->arg);
	} else {
		j->dump_cb(err, detail, err ? NULL : dump, j->arg);
	}
}

static void free_jobs(struct job *list)
{
	while (list) {
		struct job *next = list->next;

		job_free(list);
		list = next;
	}
}

static void fail_jobs(struct job *list, int err, int retried, const char *detail)
{
	struct job *j;

	for (j = list; j; j = j->next)
		job_finish(j, err, 0, retried, detail, NULL, NULL);
	free_jobs(list);
}

/* Remote exit status / signal of a ping's exec, as an error for its jobs. */
static int exec_status(const struct worker *w, const struct al_exec *x, char *detail, size_t len)
{
	if (x->exit_status == 0 && !x->exit_signal[0])
		return 0;
	snprintf(detail, len, "server %s: remote command failed (%s%s%d): %.*s", w->srv->id,
	         x->exit_signal[0] ? "signal " : "exit ", x->exit_signal,
	         x->exit_signal[0] ? 0 : x->exit_status, (int)x->err.len,
	         x->err.len ? x->err.p : "(no stderr)");
	return PV_EREMOTE;
}

static uint64_t earliest_deadline(const struct job *list)
{
	uint64_t d = UINT64_MAX;

	for (; list; list = list->next)
		if (list->deadline_ms < d)
			d = list->deadline_ms;
	return d;
}

static size_t list_len(const struct job *list)
{
	size_t n = 0;

	for (; list; list = list->next)
		n++;
	return n;
}

/* al_session_run, timed for the config's round-trip hook. */
static int timed_run(struct worker *w, struct al_exec *x, uint64_t deadline_ms, int *retried,
                     char *detail, size_t len)
{
	uint64_t t0 = pv_now_us();
	int r = al_session_run(&w->ss, x, deadline_ms, retried, detail, len);

	if (w->pool->cfg.round_trip)
		w->pool->cfg.round_trip(w->pool->cfg.round_trip_arg, w->srv->id, pv_now_us() - t0,
		                        r);
	return r;
}

/* The PSK names every queued dump asks for, gathered in the first job ("" if none). */
static const char *list_psk_names(struct job *list)
{
	struct job *j;

	for (j = list ? list->next : NULL; j; j = j->next)
		if (j->psk_names.len &&
		    al_buf_add(&list->psk_names, j->psk_names.p, j->psk_names.len, SIZE_MAX) < 0)
			break;
	return list && list->psk_names.p ? list->psk_names.p : "";
}

/* Pings: one exec of `true` on its own channel answers every queued one. */
static void run_pings(struct worker *w, struct job *list)
{
	struct al_exec x = {.cmd = "true"};
	char detail[1024] = "";
	int r, retried;
	struct job *j;

	r = timed_run(w, &x, earliest_deadline(list), &retried, detail, sizeof(detail));
	if (r == 0)
		r = exec_status(w, &x, detail, sizeof(detail));
	for (j = list; j; j = j->next)
		job_finish(j, r, 0, 0, detail, NULL, NULL);
	free_jobs(list);
	al_buf_free(&x.out, 0);
	al_buf_free(&x.err, 0);
}

/* A command of the caller's, alone in its round trip. */
static void run_exec(struct worker *w, struct job *j)
{
	struct al_exec x = {.cmd = j->cmd, .in = j->in.p, .inlen = j->in.len};
	char detail[1024] = "";
	int retried, r;

	r = al_session_run(&w->ss, &x, j->deadline_ms, &retried, detail, sizeof(detail));
	if (r == 0 && x.exit_signal[0])
		r = exec_status(w, &x, detail, sizeof(detail));
	if (r < 0)
		job_finish(j, r, 0, 0, detail, NULL, NULL);
	else
		j->exec_cb(0, "", x.exit_status, x.out.p ? x.out.p : "", x.err.p ? x.err.p : "",
		           j->arg);
	al_buf_free(&x.out, 0);
	al_buf_free(&x.err, 0);
}

/* ---- batches in flight on the remote script's channel ----------------------------- */

/* Forget the answers of a dump's interfaces so far (before it is re-sent). */
static void flight_reset(struct flight *f)
{
	agentless_dump_free(f->acc);
	f->acc = NULL;
	f->got = 0;
	f->err = 0;
	f->detail[0] = '\0';
}

static void flight_free(struct flight *f)
{
	free_jobs(f->jobs);
	al_buf_free(&f->in, 1);
	flight_reset(f);
	free(f);
}

static void flight_fail(struct flight *f, int err, const char *detail)
{
	fail_jobs(f->jobs, err, f->retried, detail);
	f->jobs = NULL;
	flight_free(f);
}

static int encode_edits(struct worker *w, struct flight *f)
{
	struct agentless_edit *edits = calloc(f->n ? f->n : 1, sizeof(*edits));
	struct job *j;
	size_t i = 0;
	int r;

	if (!edits)
		return PV_ENOMEM;
	for (j = f->jobs; j; j = j->next)
		edits[i++] = j->edit;
	r = al_batch_encode(&f->in, w->srv, edits, f->n);
	OPENSSL_cleanse(edits, f->n * sizeof(*edits));
	free(edits);
	return r;
}

/* A batch of one kind from list (owned by the flight from now on); NULL if it failed. */
static struct flight *flight_new(struct worker *w, enum job_kind kind, struct job *list)
{
	struct flight *f = calloc(1, sizeof(*f));
	char detail[256];
	int r;

	if (!f) {
		fail_jobs(list, PV_ENOMEM, 0, "agentless: out of memory");
		return NULL;
	}
	f->kind = kind;
	f->jobs = list;
	f->n = list_len(list);
	f->answers = kind == JOB_DUMP ? w->srv->n_ifaces : 1;
	f->deadline_ms = earliest_deadline(list);
	r = kind == JOB_EDIT ? encode_edits(w, f)
	                     : al_dump_encode(&f->in, w->srv, list_psk_names(list));
	if (r < 0) {
		snprintf(detail, sizeof(detail), "server %s: cannot encode the batch", w->srv->id);
		flight_fail(f, r, detail);
		return NULL;
	}
	return f;
}

static void flight_push(struct worker *w, struct flight *f)
{
	f->next = NULL;
	*w->fl_tail = f;
	w->fl_tail = &f->next;
	w->nflight++;
}

static struct flight *flights_detach(struct worker *w)
{
	struct flight *list = w->fl_head;

	w->fl_head = NULL;
	w->fl_tail = &w->fl_head;
	w->nflight = 0;
	return list;
}

static void flight_send(struct worker *w, struct flight *f);

/* The config's round-trip hook: a batch answered, lost or never sent, since start_us. */
static void round_trip_done(struct worker *w, uint64_t start_us, int err)
{
	if (w->pool->cfg.round_trip)
		w->pool->cfg.round_trip(w->pool->cfg.round_trip_arg, w->srv->id,
		                        pv_now_us() - start_us, err);
}

/*
 * The session died with batches unanswered (r, detail say how): re-send each
 * once, in order, on a fresh session; fail those already re-sent.
 */
static void session_lost(struct worker *w, int r, const char *detail)
{
	struct flight *list = flights_detach(w), *f;

	al_session_close(&w->ss);
	while ((f = list)) {
		list = f->next;
		if (f->retried || r != PV_EUNREACH) {
			round_trip_done(w, f->sent_us, r);
			flight_fail(f, r, detail);
			continue;
		}
		f->retried = 1;
		flight_reset(f);
		flight_send(w, f);
	}
}

/* Write f to the remote script; it then waits for its answer in the flight list. */
static void flight_send(struct worker *w, struct flight *f)
{
	uint64_t t0 = pv_now_us();
	char detail[1024];
	int lost, r;

	r = al_session_send(&w->ss, f->in.p, f->in.len, f->deadline_ms, &lost, detail,
	                    sizeof(detail));
	if (r < 0 && !lost) {
		round_trip_done(w, t0, r);
		flight_fail(f, r, detail); /* never sent: no session */
		return;
	}
	f->sent_us = pv_now_us();
	if (r == 0) {
		uint64_t arrive = f->sent_us + w->ss.rtt_us / 2;

		w->busy_until_us =
		        (arrive > w->busy_until_us ? arrive : w->busy_until_us) + w->svc_us;
	}
	flight_push(w, f);
	if (r < 0)
		session_lost(w, r, detail);
}

static void finish_edits(struct worker *w, struct flight *f, const char *ans)
{
	struct al_op_result *res = calloc(f->n ? f->n : 1, sizeof(*res));
	char detail[1024] = "", stray[512];
	struct job *j;
	size_t i;
	int r = res ? 0 : PV_ENOMEM;

	al_answer_stray(ans, stray, sizeof(stray));
	if (r == 0 && al_batch_parse(ans, stray, f->n, res) < 0) {
		r = PV_EREMOTE;
		snprintf(detail, sizeof(detail),
		         "server %s: incomplete result from the remote edit: %s", w->srv->id,
		         stray[0] ? stray : "(no message)");
	}
	for (i = 0, j = f->jobs; j; j = j->next, i++) {
		char one[1024];
		int err = r ? r : res[i].err;

		if (!r && err)
			snprintf(one, sizeof(one), "server %s: peer %s: %s", w->srv->id,
			         j->edit.name, res[i].detail);
		job_finish(j, err, r ? 0 : res[i].changed, f->retried,
		           r     ? detail
		           : err ? one
		                 : "",
		           NULL, r ? NULL : &res[i].final);
	}
	free(res);
}

/* One interface's dump answer (the got-th): merged into f->acc, or the flight's error. */
static void dump_part(struct worker *w, struct flight *f, const struct al_buf *ans, int status)
{
	struct agentless_dump *part = NULL;
	unsigned k = (unsigned)f->got++;
	char perr[256];
	int r;

	if (f->err)
		return;
	if (status != 0) {
		f->err = PV_EREMOTE;
		snprintf(f->detail, sizeof(f->detail),
		         "server %s: interface %s: remote command failed (exit %d): %.*s",
		         w->srv->id, w->srv->ifaces[k].name, status,
		         (int)(ans->len < 300 ? ans->len : 300),
		         ans->len ? ans->p : "(no message)");
		return;
	}
	if (al_dump_parse(&part, ans->p ? ans->p : "", ans->len, perr, sizeof(perr)) < 0) {
		f->err = PV_EREMOTE;
		snprintf(f->detail, sizeof(f->detail), "server %s: interface %s: %s", w->srv->id,
		         w->srv->ifaces[k].name, perr);
		return;
	}
	if ((r = al_dump_merge(&f->acc, part, k)) < 0) {
		f->err = r == PV_EINVAL ? PV_EREMOTE : r;
		snprintf(f->detail, sizeof(f->detail),
		         r == PV_EINVAL ? "server %s: interface %s has another key than %s (every "
		                          "interface must use wg0's key: rerun the bootstrap)"
		                        : "server %s: out of memory (interface %s of %s)",
		         w->srv->id, w->srv->ifaces[k].name, w->srv->ifaces[0].name);
	}
}

static void finish_dumps(struct flight *f)
{
	struct job *j;

	for (j = f->jobs; j; j = j->next)
		job_finish(j, f->err, 0, 0, f->err ? f->detail : "", f->err ? NULL : f->acc, NULL);
}

/*
 * Learn the server's time per batch from an answer: it started the batch when
 * both the batch had arrived and the previous answer had left.
 */
static void learn_service(struct worker *w, const struct flight *f)
{
	uint64_t now = pv_now_us(), start = f->sent_us + w->ss.rtt_us;

	if (w->last_answer_us > start)
		start = w->last_answer_us;
	if (now > start)
		w->svc_us = w->svc_us ? (3 * w->svc_us + (now - start)) / 4 : now - start;
	w->last_answer_us = now;
	if (!f->next) /* nothing else in flight: the server is idle */
		w->busy_until_us = now - w->ss.rtt_us / 2;
}

/* The answer of the oldest batch in flight arrived (for a dump: of one interface). */
static void flight_answered(struct worker *w, const struct al_buf *ans, int status)
{
	struct flight *f = w->fl_head;
	char detail[1024];

	if (f->kind == JOB_DUMP) {
		dump_part(w, f, ans, status);
		if (f->got < f->answers)
			return; /* the other interfaces' answers follow */
	}
	learn_service(w, f);
	round_trip_done(w, f->sent_us, status ? PV_EREMOTE : 0);
	w->fl_head = f->next;
	if (!w->fl_head)
		w->fl_tail = &w->fl_head;
	w->nflight--;
	if (f->kind == JOB_DUMP) {
		finish_dumps(f);
		flight_free(f);
		return;
	}
	if (status != 0) {
		snprintf(detail, sizeof(detail), "server %s: remote command failed (exit %d): %.*s",
		         w->srv->id, status, (int)ans->len, ans->len ? ans->p : "(no message)");
		flight_fail(f, PV_EREMOTE, detail);
		return;
	}
	finish_edits(w, f, ans->p ? ans->p : "");
	flight_free(f);
}

static uint64_t flights_deadline(const struct worker *w)
{
	uint64_t d = UINT64_MAX;
	const struct flight *f;

	for (f = w->fl_head; f; f = f->next)
		if (f->deadline_ms < d)
			d = f->deadline_ms;
	return d;
}

/*
 * A batch in flight missed its deadline: answers come in order, so the
 * session is stuck behind it.  Fail the late ones, cut the session, re-send
 * the others.
 */
static void flights_expire(struct worker *w, uint64_t now)
{
	struct flight *list = flights_detach(w), *f;
	char detail[256];

	snprintf(detail, sizeof(detail), "server %s: timed out waiting for the remote edit",
	         w->srv->id);
	while ((f = list)) {
		list = f->next;
		if (f->deadline_ms <= now) {
			round_trip_done(w, f->sent_us, PV_ETIMEOUT);
			flight_fail(f, PV_ETIMEOUT, detail);
		} else
			flight_push(w, f);
	}
	snprintf(detail, sizeof(detail), "server %s: session cut after a missed deadline",
	         w->srv->id);
	session_lost(w, PV_EUNREACH, detail);
}

/* Wait for answers (or a submission, or the end of a hold) and deliver them. */
static void await_answers(struct worker *w)
{
	uint64_t until = flights_deadline(w);
	struct al_buf ans = {0};
	char detail[1024];
	int r, status;

	if (w->hold_until && w->hold_until < until)
		until = w->hold_until;
	if ((r = al_session_wait(&w->ss, w->wake_fd, until, detail, sizeof(detail))) < 0) {
		session_lost(w, r, detail);
		return;
	}
	while (w->fl_head && (r = al_session_take(&w->ss, &ans, &status)) > 0)
		flight_answered(w, &ans, status);
	al_buf_free(&ans, 1); /* a dump answer may hold PSKs */
	if (r < 0) {
		snprintf(detail, sizeof(detail),
		         "server %s: malformed answer from the remote script", w->srv->id);
		session_lost(w, PV_EREMOTE, detail);
		return;
	}
	if (w->fl_head && flights_deadline(w) <= pv_now_ms())
		flights_expire(w, pv_now_ms());
}

/*
 * Edits go out as one batch per interface (a batch edits one wgN.conf under
 * its lock), in the order of their first edit; order is kept within each.
 */
static void send_edits(struct worker *w, struct job *list)
{
	struct flight *f;

	while (list) {
		unsigned k = pv_lease_iface(list->edit.host);
		struct job *mine = NULL, **mt = &mine, *rest = NULL, **rt = &rest, *j;

		while ((j = list)) {
			list = j->next;
			j->next = NULL;
			if (pv_lease_iface(j->edit.host) == k) {
				*mt = j;
				mt = &j->next;
			} else {
				*rt = j;
				rt = &j->next;
			}
		}
		if ((f = flight_new(w, JOB_EDIT, mine)))
			flight_send(w, f);
		list = rest;
	}
}

/* Jobs taken off the queue, split by kind (order kept within each). */
static void dispatch(struct worker *w, struct job *list)
{
	struct job *head[JOB_KINDS] = {NULL}, **tail[JOB_KINDS];
	struct job *late = NULL, **late_tail = &late;
	uint64_t now = pv_now_ms();
	char detail[128];
	struct flight *f;
	struct job *j;
	int k;

	for (k = 0; k < JOB_KINDS; k++)
		tail[k] = &head[k];
	while ((j = list)) {
		list = j->next;
		j->next = NULL;
		if (j->deadline_ms <= now) {
			*late_tail = j;
			late_tail = &j->next;
		} else {
			*tail[j->kind] = j;
			tail[j->kind] = &j->next;
		}
	}
	snprintf(detail, sizeof(detail), "server %s: deadline passed while queued", w->srv->id);
	fail_jobs(late, PV_ETIMEOUT, 0, detail);
	if (head[JOB_PING])
		run_pings(w, head[JOB_PING]); /* pings and execs: only with nothing in flight */
	for (j = head[JOB_EXEC]; j; j = j->next)
		run_exec(w, j);
	free_jobs(head[JOB_EXEC]);
	/* Edits first, so dumps queued with them see their effect. */
	send_edits(w, head[JOB_EDIT]);
	if (head[JOB_DUMP] && (f = flight_new(w, JOB_DUMP, head[JOB_DUMP])))
		flight_send(w, f);
}

/*
 * What to send now (called locked): everything queued, unless batches are in
 * flight and the queue should wait -- for a free slot, for pings and execs
 * (they run on a channel of their own, between batches), or for company.
 */
static struct job *take_ready(struct worker *w)
{
	struct agentless *pool = w->pool;
	size_t cap = pool->cfg.no_batching ? 1 : MAX_INFLIGHT;
	struct job *list = w->head;
	uint64_t now = pv_now_ms();

	w->hold_until = 0;
	if (!list)
		return NULL;
	if (!pool->cfg.no_batching && !w->nflight && !w->queued_solo && w->queued < BATCH_FULL &&
	    w->crowded_ms && now < w->crowded_ms + CROWDED_MS &&
	    now < w->first_queued_ms + HOLD_IDLE_MS) {
		w->hold_until = w->first_queued_ms + HOLD_IDLE_MS;
		return NULL;
	}
	if (w->nflight) {
		/* Sent now, would the batch reach the server before it is free? */
		uint64_t half = w->ss.rtt_us / 2;
		uint64_t free_at = w->busy_until_us > half ? w->busy_until_us - half : 0;
		uint64_t until = (free_at + 999) / 1000, cap_at = w->first_queued_ms + HOLD_MAX_MS;

		if (w->queued_solo || w->nflight >= cap)
			return NULL;
		if (until > cap_at)
			until = cap_at;
		if (w->queued < BATCH_FULL && now < until) {
			w->hold_until = until;
			return NULL;
		}
	}
	if (pool->cfg.no_batching) {
		w->head = list->next;
		list->next = NULL;
		w->queued--;
		w->queued_solo -= list->kind == JOB_PING || list->kind == JOB_EXEC;
		w->first_queued_ms = now;
	} else {
		w->head = NULL;
		w->queued = w->queued_solo = 0;
	}
	if (!w->head)
		w->tail = &w->head;
	return list;
}

/* Wait for work with nothing in flight; on an idle timeout keep the session alive.  Locked. */
static void wait_for_work(struct worker *w)
{
	uint64_t period = (uint64_t)w->pool->cfg.keepalive_s * 1000u;
	struct timespec ts;

	while (!w->stop && !w->head) {
		if (!w->ss.ssh) {
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		if (pv_now_ms() >= w->ss.last_used_ms + period) {
			pthread_mutex_unlock(&w->mu);
			al_session_keepalive(&w->ss);
			w->ss.last_used_ms = pv_now_ms();
			pthread_mutex_lock(&w->mu);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)w->pool->cfg.keepalive_s;
		pthread_cond_timedwait(&w->cv, &w->mu, &ts);
	}
}

/* Idle, with the queue held for company: wait for its end or a submission.  Locked. */
static void wait_hold(struct worker *w)
{
	uint64_t now = pv_now_ms();
	struct timespec ts;

	if (w->hold_until <= now)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)((w->hold_until - now) / 1000);
	ts.tv_nsec += (long)((w->hold_until - now) % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&w->cv, &w->mu, &ts);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (;;) {
		struct job *list;
		char why[128];
		int stop, stop_err = 0;

		pthread_mutex_lock(&w->mu);
		if (!w->nflight)
			wait_for_work(w);
		stop = w->stop;
		if (stop) {
			list = w->head;
			w->head = NULL;
			w->tail = &w->head;
			stop_err = w->stop_err;
		} else {
			list = take_ready(w);
			if (!list && !w->nflight && w->hold_until)
				wait_hold(w);
		}
		pthread_mutex_unlock(&w->mu);
		if (stop) {
			if (stop_err == PV_ENOTFOUND)
				snprintf(why, sizeof(why), "server %s was removed from the fleet",
				         w->srv->id);
			else
				snprintf(why, sizeof(why), "agentless pool is shutting down");
			fail_jobs(list, stop_err, 0, why);
			w->hold_until = 0;
			while (w->nflight) /* bounded by their deadlines */
				await_answers(w);
			break;
		}
		if (list)
			dispatch(w, list);
		if (w->nflight)
			await_answers(w);
	}
	al_session_close(&w->ss);
	return NULL;
}

static int worker_start(struct agentless *pool, struct worker *w, const struct pv_server *srv)
{
	pthread_condattr_t ca;

	w->pool = pool;
	w->srv = srv;
	w->tail = &w->head;
	w->fl_tail = &w->fl_head;
	al_session_init(&w->ss, srv, &pool->cfg);
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake_fd < 0)
		return PV_EIO;
	if (pthread_condattr_init(&ca) != 0)
		return PV_ENOMEM;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
		return PV_ENOMEM;
	w->started = 1;
	return 0;
}

/* Signal the worker, whether it waits on its condvar or on answers.  Locked. */
static void worker_wake(struct worker *w)
{
	uint64_t one = 1;

	pthread_cond_signal(&w->cv);
	if (write(w->wake_fd, &one, sizeof(one)) < 0)
		one = 0; /* the counter is already non-zero: the worker will wake */
}

/* Make the worker fail what is queued with err, finish its round trips and exit.  Locked. */
static void worker_stop(struct worker *w, int err)
{
	w->stop = 1;
	w->stop_err = err;
	worker_wake(w);
}

static int check_identity(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return PV_ENOTFOUND;
	/* Like OpenSSH's sshkey_perm_ok: a readable private key is refused. */
	return (st.st_mode & 077) ? PV_EINVAL : 0;
}

int agentless_new(struct agentless **out, const struct pv_fleet *fleet,
                  const struct agentless_config *cfg)
{
	struct agentless *pool = NULL;
	size_t i;
	int r;

	*out = NULL;
	if (!fleet || !cfg || !cfg->identity || !cfg->known_hosts || cfg->op_timeout_ms < 0 ||
	    cfg->connect_timeout_ms < 0 || cfg->keepalive_s < 0)
		return PV_EINVAL;
	if ((r = check_identity(cfg->identity)) < 0)
		return r;
	pthread_once(&ssh_once, ssh_init);
	if (ssh_init_rc != 0)
		return PV_ECRYPTO;
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return PV_ENOMEM;
	pool->cfg = *cfg;
	pool->cfg.op_timeout_ms = cfg->op_timeout_ms ? cfg->op_timeout_ms : 10000;
	pool->cfg.connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 5000;
	pool->cfg.keepalive_s = cfg->keepalive_s ? cfg->keepalive_s : 15;
	pool->identity = strdup(cfg->identity);
	pool->known_hosts = strdup(cfg->known_hosts);
	pthread_mutex_init(&pool->add_mu, NULL);
	pool->workers =
	        fleet->n <= PV_FLEET_MAX ? calloc(PV_FLEET_MAX, sizeof(*pool->workers)) : NULL;
	r = PV_ENOMEM;
	if (!pool->identity || !pool->known_hosts || !pool->workers)
		goto out;
	pool->cfg.identity = pool->identity;
	pool->cfg.known_hosts = pool->known_hosts;
	for (i = 0; i < fleet->n; i++) {
		if ((r = worker_start(pool, &pool->workers[i], &fleet->servers[i])) < 0)
			goto out;
		pool->n++;
	}
	*out = pool;
	pool = NULL;
	r = 0;
out:
	agentless_free(pool);
	return r;
}

void agentless_free(struct agentless *pool)
{
	size_t i;

	if (!pool)
		return;
	for (i = 0; pool->workers && i < pool->n; i++) {
		struct worker *w = &pool->workers[i];

		pthread_mutex_lock(&w->mu);
		if (!w->stop)
			worker_stop(w, PV_EUNREACH);
		pthread_mutex_unlock(&w->mu);
	}
	for (i = 0; pool->workers && i < pool->n; i++) {
		struct worker *w = &pool->workers[i];

		if (w->started)
			pthread_join(w->thread, NULL);
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		if (w->wake_fd >= 0)
			close(w->wake_fd);
	}
	pthread_mutex_destroy(&pool->add_mu);
	free(pool->workers);
	free(pool->identity);
	free(pool->known_hosts);
	free(pool);
}

static struct worker *find_worker(struct agentless *pool, const char *server_id)
{
	size_t i, n = pool->n;

	for (i = 0; server_id && i < n; i++)
		if (!atomic_load(&pool->workers[i].removed) &&
		    strcmp(pool->workers[i].srv->id, server_id) == 0)
			return &pool->workers[i];
	return NULL;
}

int agentless_add_server(struct agentless *pool, const struct pv_server *srv)
{
	int r = PV_EFULL;

	if (!pool || !srv)
		return PV_EINVAL;
	pthread_mutex_lock(&pool->add_mu);
	if (find_worker(pool, srv->id))
		r = PV_EEXIST;
	else if (pool->n < PV_FLEET_MAX &&
	         (r = worker_start(pool, &pool->workers[pool->n], srv)) == 0)
		pool->n++;
	pthread_mutex_unlock(&pool->add_mu);
	return r;
}

int agentless_remove_server(struct agentless *pool, const char *server_id)
{
	struct worker *w;

	if (!pool || !server_id)
		return PV_EINVAL;
	pthread_mutex_lock(&pool->add_mu);
	if ((w = find_worker(pool, server_id))) {
		pthread_mutex_lock(&w->mu);
		atomic_store(&w->removed, 1);
		worker_stop(w, PV_ENOTFOUND);
		pthread_mutex_unlock(&w->mu);
	}
	pthread_mutex_unlock(&pool->add_mu);
	return w ? 0 : PV_ENOTFOUND;
}

int agentless_queue_depth(struct agentless *pool, const char *server_id, size_t *depth)
{
	struct worker *w = pool ? find_worker(pool, server_id) : NULL;
	const struct job *j;
	size_t n = 0;

	if (!w)
		return PV_ENOTFOUND;
	pthread_mutex_lock(&w->mu);
	for (j = w->head; j; j = j->next)
		n++;
	pthread_mutex_unlock(&w->mu);
	*depth = n;
	return 0;
}

/* Append the chain first..last in one critical section: one round trip takes them all. */
static int enqueue_chain(struct agentless *pool, const char *server_id, struct job *first,
                         struct job *last)
{
	struct worker *w = find_worker(pool, server_id);
	uint64_t deadline = pv_now_ms() + (uint64_t)pool->cfg.op_timeout_ms;
	struct job *j;

	if (w)
		pthread_mutex_lock(&w->mu);
	if (w && w->stop) { /* removed (or shutting down) since it was looked up: never queued */
		pthread_mutex_unlock(&w->mu);
		w = NULL;
	}
	if (!w) {
		while ((j = first)) {
			first = j->next;
			job_free(j);
		}
		return PV_ENOTFOUND;
	}
	if (!w->head)
		w->first_queued_ms = pv_now_ms();
	for (j = first; j; j = j->next) {
		if (!j->deadline_ms) /* an exec brings its own */
			j->deadline_ms = deadline;
		if (j->kind == JOB_EDIT) {
			j->counted = w;
			if (atomic_fetch_add(&w->edits_out, 1) > 0)
				w->crowded_ms = pv_now_ms();
		}
		w->queued++;
		w->queued_solo += j->kind == JOB_PING || j->kind == JOB_EXEC;
	}
	*w->tail = first;
	w->tail = &last->next;
	worker_wake(w);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

static int enqueue(struct agentless *pool, const char *server_id, struct job *j)
{
	return enqueue_chain(pool, server_id, j, j);
}

int agentless_submit(struct agentless *pool, const char *server_id,
                     const struct agentless_edit *edit, agentless_edit_cb cb, void *arg)
{
	struct worker *w;
	struct job *j;
	char err[128];

	if (!pool || !edit || !cb)
		return PV_EINVAL;
	if (!(w = find_worker(pool, server_id)))
		return PV_ENOTFOUND;
	if (al_edit_check(w->srv, edit, err, sizeof(err)) < 0)
		return PV_EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return PV_ENOMEM;
	j->kind = JOB_EDIT;
	j->edit = *edit;
	j->edit_cb = cb;
	j->arg = arg;
	return enqueue(pool, server_id, j);
}

int agentless_submit_batch(struct agentless *pool, const char *server_id,
                           const struct agentless_edit *edits, size_t n, agentless_edit_cb cb,
                           void *const *args)
{
	struct job *first = NULL, **tail = &first, *last = NULL, *j;
	struct worker *w;
	char err[128];
	size_t i;

	if (!pool || !edits || !n || !cb || !args)
		return PV_EINVAL;
	if (!(w = find_worker(pool, server_id)))
		return PV_ENOTFOUND;
	for (i = 0; i < n; i++)
		if (al_edit_check(w->srv, &edits[i], err, sizeof(err)) < 0)
			return PV_EINVAL;
	for (i = 0; i < n; i++, tail = &last->next) {
		if (!(last = calloc(1, sizeof(*last)))) {
			while ((j = first)) {
				first = j->next;
				job_free(j);
			}
			return PV_ENOMEM;
		}
		last->kind = JOB_EDIT;
		last->edit = edits[i];
		last->edit_cb = cb;
		last->arg = args[i];
		*tail = last;
	}
	return enqueue_chain(pool, server_id, first, last);
}

static int submit_read(struct agentless *pool, const char *server_id, enum job_kind kind,
                       const char *const *names, size_t n, agentless_dump_cb cb, void *arg)
{
	struct job *j;
	size_t i;

	if (!pool || !cb || (n && !names))
		return PV_EINVAL;
	for (i = 0; i < n; i++)
		if (!pv_peer_name_is_valid(names[i]))
			return PV_EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return PV_ENOMEM;
	for (i = 0; i < n; i++)
		if (al_buf_line(&j->psk_names, &names[i], 1) < 0) {
			job_free(j);
			return PV_ENOMEM;
		}
	j->kind = kind;
	j->dump_cb = cb;
	j->arg = arg;
	return enqueue(pool, server_id, j);
}

int agentless_dump(struct agentless *pool, const char *server_id, agentless_dump_cb cb, void *arg)
{
	return submit_read(pool, server_id, JOB_DUMP, NULL, 0, cb, arg);
}

int agentless_dump_psks(struct agentless *pool, const char *server_id, const char *const *names,
                        size_t n, agentless_dump_cb cb, void *arg)
{
	return submit_read(pool, server_id, JOB_DUMP, names, n, cb, arg);
}

int agentless_ping(struct agentless *pool, const char *server_id, agentless_dump_cb cb, void *arg)
{
	return submit_read(pool, server_id, JOB_PING, NULL, 0, cb, arg);
}

int agentless_exec(struct agentless *pool, const char *server_id, const char *cmd, const char *in,
                   size_t inlen, int timeout_ms, agentless_exec_cb cb, void *arg)
{
	struct job *j;

	if (!pool || !cmd || (inlen && !in) || timeout_ms <= 0 || !cb)
		return PV_EINVAL;
	if (!find_worker(pool, server_id))
		return PV_ENOTFOUND;
	j = calloc(1, sizeof(*j));
	if (!j || !(j->cmd = strdup(cmd)) ||
	    (inlen && al_buf_add(&j->in, in, inlen, SIZE_MAX) < 0)) {
		job_free(j);
		return PV_ENOMEM;
	}
	j->kind = JOB_EXEC;
	j->exec_cb = cb;
	j->arg = arg;
	j->deadline_ms = pv_now_ms() + (uint64_t)timeout_ms;
	return enqueue(pool, server_id, j);
}
