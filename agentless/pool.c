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
 * - Each server has a queue guarded by a mutex and condvar.  Submitting
 *   appends and signals; it never touches the network.  The worker takes
 *   EVERYTHING queued as one batch: one exec of the constant remote script,
 *   one flock, one rewrite of wg0.conf, one `wg addconf` (remote.sh).  Edits
 *   that arrive while a round trip is in flight form the next batch, so the
 *   batch size grows with load and the round trip is paid once per batch.
 * - Completion callbacks run on the worker thread, in submission order; the
 *   controller bridges to libevent with event_active().
 * - Sessions open lazily on the first job, are kept alive with
 *   libssh2_keepalive_send while idle, and are closed on any libssh2 error or
 *   missed deadline; the next job reconnects (with backoff after failed
 *   connects, during which jobs fail fast with the last error).
 *
 * Exactly once across reconnects.  A batch sent on a warm session that turns
 * out dead may or may not have run on the server: the connection can die
 * after the script committed but before its result came back.  Every batch is
 * idempotent on the server: an add whose identical block is already there
 * changes nothing (and only re-applies the live peer if it is missing), a
 * remove of an absent block changes nothing, and the script finishes even if
 * the connection drops (it ignores SIGHUP/SIGPIPE).  So the pool re-sends such
 * a batch once on a fresh session; the server converges to one block and one
 * live peer per edit whether the first attempt ran or not.  `changed` then
 * reports what the re-send changed and `retried` is set, so a caller knows a
 * changed == 0 may mean "the lost first attempt did it".  A missed deadline is
 * not retried: the caller owns that decision (the health pass repairs drift).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libssh2.h>
#include <openssl/crypto.h>

#include "agentless_int.h"

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
};

struct worker {
	struct agentless *pool;
	const struct pv_server *srv;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, **tail; /* guarded by mu */
	int stop;                 /* guarded by mu */
	struct al_session ss;     /* worker thread only */
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

static void job_finish(struct job *j, int err, int changed, int retried, const char *detail,
                       const struct agentless_dump *dump)
{
	if (j->kind == JOB_EDIT) {
		struct agentless_result res = {.err = err,
		                               .changed = err ? 0 : changed,
		                               .retried = retried,
		                               .detail = detail};

		j->edit_cb(&res, j->arg);
	} else if (j->kind == JOB_EXEC) {
		j->exec_cb(err, detail, -1, "", "", j->arg);
	} else {
		j->dump_cb(err, detail, err ? NULL : dump, j->arg);
	}
}

static void fail_jobs(struct job *list, int err, const char *detail)
{
	while (list) {
		struct job *next = list->next;

		job_finish(list, err, 0, 0, detail, NULL);
		job_free(list);
		list = next;
	}
}

/* Remote exit status / signal, as an error for every job of the exec. */
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

/* All queued edits of a server in one exec of the remote script. */
static void run_edits(struct worker *w, struct job *list)
{
	size_t n = list_len(list), i;
	struct agentless_edit *edits = calloc(n ? n : 1, sizeof(*edits));
	struct al_op_result *res = calloc(n ? n : 1, sizeof(*res));
	struct al_exec x = {.cmd = al_remote_script};
	struct al_buf in = {0};
	char detail[1024] = "";
	int r = PV_ENOMEM, retried = 0;
	struct job *j;

	if (!edits || !res)
		goto out;
	for (i = 0, j = list; j; j = j->next)
		edits[i++] = j->edit;
	r = al_batch_encode(&in, w->srv, edits, n);
	if (r < 0) {
		snprintf(detail, sizeof(detail), "server %s: cannot encode the batch", w->srv->id);
		goto out;
	}
	x.in = in.p;
	x.inlen = in.len;
	r = timed_run(w, &x, earliest_deadline(list), &retried, detail, sizeof(detail));
	if (r == 0)
		r = exec_status(w, &x, detail, sizeof(detail));
	if (r == 0 && al_batch_parse(x.out.p, x.err.p, n, res) < 0) {
		r = PV_EREMOTE;
		snprintf(detail, sizeof(detail),
		         "server %s: incomplete result from the remote edit: %s", w->srv->id,
		         x.err.len ? x.err.p : "(no stderr)");
	}
out:
	for (i = 0, j = list; j; j = j->next, i++) {
		char one[1024];
		int err = r ? r : res[i].err;

		if (!r && err)
			snprintf(one, sizeof(one), "server %s: peer %s: %s", w->srv->id,
			         j->edit.name, res[i].detail);
		job_finish(j, err, r ? 0 : res[i].changed, retried,
		           r     ? detail
		           : err ? one
		                 : "",
		           NULL);
	}
	al_buf_free(&in, 1);
	al_buf_free(&x.out, 0);
	al_buf_free(&x.err, 0);
	if (edits)
		OPENSSL_cleanse(edits, n * sizeof(*edits));
	free(edits);
	free(res);
}

/* Dumps or pings: one exec answers every queued request of the kind. */
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

static void run_reads(struct worker *w, struct job *list, enum job_kind kind)
{
	struct al_exec x = {.cmd = kind == JOB_DUMP ? al_remote_script : "true"};
	struct agentless_dump *dump = NULL;
	struct al_buf in = {0};
	char detail[1024] = "", perr[256];
	int r = 0, retried;
	struct job *j;

	if (kind == JOB_DUMP)
		r = al_dump_encode(&in, w->srv, list_psk_names(list));
	x.in = in.p;
	x.inlen = in.len;
	if (r == 0)
		r = timed_run(w, &x, earliest_deadline(list), &retried, detail, sizeof(detail));
	if (r == 0)
		r = exec_status(w, &x, detail, sizeof(detail));
	if (r == 0 && kind == JOB_DUMP &&
	    al_dump_parse(&dump, x.out.p ? x.out.p : "", x.out.len, perr, sizeof(perr)) < 0) {
		r = PV_EREMOTE;
		snprintf(detail, sizeof(detail), "server %s: %s", w->srv->id, perr);
	}
	for (j = list; j; j = j->next)
		job_finish(j, r, 0, 0, detail, dump);
	agentless_dump_free(dump);
	al_buf_free(&in, 0);
	al_buf_free(&x.out, 1); /* it may hold PSKs asked for */
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
		job_finish(j, r, 0, 0, detail, NULL);
	else
		j->exec_cb(0, "", x.exit_status, x.out.p ? x.out.p : "", x.err.p ? x.err.p : "",
		           j->arg);
	al_buf_free(&x.out, 0);
	al_buf_free(&x.err, 0);
}

static void free_jobs(struct job *list)
{
	while (list) {
		struct job *next = list->next;

		job_free(list);
		list = next;
	}
}

/*
 * Run a batch taken off the queue, split by kind (order kept within each):
 * edits first, so reads queued with them see their effect.
 */
static void run_batch(struct worker *w, struct job *list)
{
	struct job *head[JOB_KINDS] = {NULL}, **tail[JOB_KINDS];
	struct job *late = NULL, **late_tail = &late;
	uint64_t now = pv_now_ms();
	char detail[128];
	int k;

	for (k = 0; k < JOB_KINDS; k++)
		tail[k] = &head[k];
	while (list) {
		struct job *j = list;

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
	fail_jobs(late, PV_ETIMEOUT, detail);
	if (head[JOB_EDIT])
		run_edits(w, head[JOB_EDIT]);
	if (head[JOB_DUMP])
		run_reads(w, head[JOB_DUMP], JOB_DUMP);
	if (head[JOB_PING])
		run_reads(w, head[JOB_PING], JOB_PING);
	for (struct job *j = head[JOB_EXEC]; j; j = j->next)
		run_exec(w, j);
	for (k = 0; k < JOB_KINDS; k++)
		free_jobs(head[k]);
}

/* Wait for work; on an idle timeout keep the session alive.  Called locked. */
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

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (;;) {
		struct job *list;
		int stop;

		pthread_mutex_lock(&w->mu);
		wait_for_work(w);
		stop = w->stop;
		list = w->head;
		if (!stop && list && w->pool->cfg.no_batching) {
			w->head = list->next;
			list->next = NULL;
		} else {
			w->head = NULL;
		}
		if (!w->head)
			w->tail = &w->head;
		pthread_mutex_unlock(&w->mu);
		if (stop) {
			fail_jobs(list, PV_EUNREACH, "agentless pool is shutting down");
			break;
		}
		run_batch(w, list);
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
	al_session_init(&w->ss, srv, &pool->cfg);
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
	r = check_identity(cfg->identity);
	if (r < 0)
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
		r = worker_start(pool, &pool->workers[i], &fleet->servers[i]);
		if (r < 0)
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
		w->stop = 1;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
	for (i = 0; pool->workers && i < pool->n; i++) {
		struct worker *w = &pool->workers[i];

		if (w->started)
			pthread_join(w->thread, NULL);
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
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
		if (strcmp(pool->workers[i].srv->id, server_id) == 0)
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

	if (!w) {
		while ((j = first)) {
			first = j->next;
			job_free(j);
		}
		return PV_ENOTFOUND;
	}
	for (j = first; j; j = j->next)
		if (!j->deadline_ms) /* an exec brings its own */
			j->deadline_ms = deadline;
	pthread_mutex_lock(&w->mu);
	*w->tail = first;
	w->tail = &last->next;
	pthread_cond_signal(&w->cv);
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
	struct job *j;
	char err[128];

	if (!pool || !edit || !cb || al_edit_check(edit, err, sizeof(err)) < 0)
		return PV_EINVAL;
	if (!find_worker(pool, server_id))
		return PV_ENOTFOUND;
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
	char err[128];
	size_t i;

	if (!pool || !edits || !n || !cb || !args)
		return PV_EINVAL;
	for (i = 0; i < n; i++)
		if (al_edit_check(&edits[i], err, sizeof(err)) < 0)
			return PV_EINVAL;
	if (!find_worker(pool, server_id))
		return PV_ENOTFOUND;
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
