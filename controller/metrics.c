/* SPDX-License-Identifier: MIT */
/*
 * GET /metrics: the Prometheus text exposition format (version 0.0.4).
 * The counters and histograms live here, fed on the loop thread by every
 * reply (http.c) and every SQLite COMMIT (db/'s commit observer); the fleet
 * gauges are read from the DB and the SSH pool at scrape time.  What is
 * exposed is one table of metric families; a per-server gauge is one row
 * with a getter over the server's DB status.
 *
 * Label values are route paths from the route table, error codes from the
 * error table and server ids (servers.json allows [a-z0-9-] only), so none
 * needs escaping; a raw request path never becomes a label.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "agentless.h"
#include "controller.h"
#include "db.h"

/* Upper bounds in seconds, shared by every histogram (µs to 10 s). */
static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define N_BOUNDS (sizeof(bounds) / sizeof(bounds[0]))

struct hist {
	uint64_t le[N_BOUNDS]; /* non-cumulative; summed at exposition */
	uint64_t count;
	double sum;
};

/* One labelled series: a counter by (label, status or result) and/or a histogram. */
struct series {
	const char *label;  /* a route table path, "unmatched", or an operation name */
	const char *result; /* "ok" or an error code (static), for result counters */
	int status;
	uint64_t count;
	struct hist hist;
};

struct series_set {
	struct series *v;
	size_t n, cap;
};

struct ctl_metrics {
	struct series_set requests; /* by route and status */
	struct series_set latency;  /* histogram by route */
	struct series_set results;  /* provisions and revokes by result */
	struct hist commit;         /* SQLite COMMIT latency */
	uint64_t commit_failed;
	pthread_mutex_t ssh_mu; /* the pool's workers feed ssh */
	struct series_set ssh;  /* SSH round trip histogram by server id */
};

/* Routes whose requests are counted by result, as an operation. */
static const struct {
	const char *route, *op;
} ops[] = {
        {"/api/provision", "provision"},
        {"/api/revoke", "revoke"},
};

static void hist_add(struct hist *h, uint64_t us)
{
	double s = (double)us / 1e6;
	size_t i;

	for (i = 0; i < N_BOUNDS && s > bounds[i]; i++)
		;
	if (i < N_BOUNDS)
		h->le[i]++;
	h->count++;
	h->sum += s;
}

/* The series for (label, status, result), added when new; NULL on ENOMEM. */
static struct series *series_get(struct series_set *set, const char *label, int status,
                                 const char *result)
{
	struct series *grown;
	size_t i;

	for (i = 0; i < set->n; i++)
		if (strcmp(set->v[i].label, label) == 0 && set->v[i].status == status &&
		    strcmp(set->v[i].result, result) == 0)
			return &set->v[i];
	if (set->n == set->cap) {
		grown = realloc(set->v, (set->cap ? set->cap * 2 : 16) * sizeof(*grown));
		if (!grown)
			return NULL;
		set->v = grown;
		set->cap = set->cap ? set->cap * 2 : 16;
	}
	memset(&set->v[set->n], 0, sizeof(set->v[0]));
	set->v[set->n].label = label;
	set->v[set->n].status = status;
	set->v[set->n].result = result;
	return &set->v[set->n++];
}

static void commit_observed(void *arg, uint64_t us, int ok)
{
	struct ctl_metrics *m = arg;

	hist_add(&m->commit, us);
	if (!ok)
		m->commit_failed++;
}

void ctl_metrics_round_trip(void *arg, const char *server_id, uint64_t us, int err)
{
	struct ctl_metrics *m = arg;
	struct series *s;

	(void)err; /* a failed round trip took that long too */
	pthread_mutex_lock(&m->ssh_mu);
	/* server_id is the fleet slot's, which never moves: fine as a borrowed label. */
	if ((s = series_get(&m->ssh, server_id, 0, "")))
		hist_add(&s->hist, us);
	pthread_mutex_unlock(&m->ssh_mu);
}

int ctl_metrics_new(struct ctl *ctl)
{
	ctl->metrics = calloc(1, sizeof(*ctl->metrics));
	if (!ctl->metrics)
		return PV_ENOMEM;
	pthread_mutex_init(&ctl->metrics->ssh_mu, NULL);
	if (ctl->db)
		db_set_commit_observer(ctl->db, commit_observed, ctl->metrics);
	return 0;
}

void ctl_metrics_free(struct ctl *ctl)
{
	if (!ctl->metrics)
		return;
	if (ctl->db)
		db_set_commit_observer(ctl->db, NULL, NULL);
	free(ctl->metrics->requests.v);
	free(ctl->metrics->latency.v);
	free(ctl->metrics->results.v);
	free(ctl->metrics->ssh.v);
	pthread_mutex_destroy(&ctl->metrics->ssh_mu);
	free(ctl->metrics);
	ctl->metrics = NULL;
}

void ctl_metrics_request(struct ctl *ctl, const struct ctl_req *rq, int status, uint64_t us)
{
	struct ctl_metrics *m = ctl->metrics;
	const char *route = rq->route ? rq->route : "unmatched";
	struct series *s;
	size_t i;

	/* Counting is best effort: out of memory loses a sample, never a reply. */
	if (!m)
		return;
	if ((s = series_get(&m->requests, route, status, "")))
		s->count++;
	if ((s = series_get(&m->latency, route, 0, "")))
		hist_add(&s->hist, us);
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (!rq->route || strcmp(ops[i].route, rq->route) != 0)
			continue;
		s = series_get(&m->results, ops[i].op, 0,
		               status < 300 ? "ok"
		               : rq->code   ? rq->code
		                            : "internal");
		if (s)
			s->count++;
	}
}

/* ---- exposition -------------------------------------------------------------- */

/* What one scrape reads once and every family shares. */
struct scrape {
	struct ctl *ctl;
	struct evbuffer *out;
	struct db_server_status *servers; /* non-retired, owned */
	size_t n;
	struct db_peer *peers; /* ACTIVE peers of the whole fleet, owned */
	size_t npeers;
	int64_t now; /* unix seconds of the scrape */
};

struct family;
typedef void (*emit_fn)(struct scrape *sc, const struct family *f);
/* A per-server value; the sample is left out when it returns 0. */
typedef int (*server_value_fn)(struct scrape *sc, const struct db_server_status *srv, double *v);

struct family {
	const char *name, *type, *help;
	emit_fn emit;
	server_value_fn server_value; /* for emit_per_server */
};

static void emit_hist(struct evbuffer *out, const char *name, const char *labels,
                      const struct hist *h)
{
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i < N_BOUNDS; i++) {
		cum += h->le[i];
		evbuffer_add_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
		                    *labels ? "," : "", bounds[i], (unsigned long long)cum);
	}
	evbuffer_add_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
	                    *labels ? "," : "", (unsigned long long)h->count);
	evbuffer_add_printf(out, "%s_sum%s%s%s %.6f\n", name, *labels ? "{" : "", labels,
	                    *labels ? "}" : "", h->sum);
	evbuffer_add_printf(out, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels,
	                    *labels ? "}" : "", (unsigned long long)h->count);
}

static void emit_requests(struct scrape *sc, const struct family *f)
{
	const struct series_set *set = &sc->ctl->metrics->requests;
	size_t i;

	for (i = 0; i < set->n; i++)
		evbuffer_add_printf(sc->out, "%s{route=\"%s\",status=\"%d\"} %llu\n", f->name,
		                    set->v[i].label, set->v[i].status,
		                    (unsigned long long)set->v[i].count);
}

static void emit_latency(struct scrape *sc, const struct family *f)
{
	const struct series_set *set = &sc->ctl->metrics->latency;
	char labels[96];
	size_t i;

	for (i = 0; i < set->n; i++) {
		snprintf(labels, sizeof(labels), "route=\"%s\"", set->v[i].label);
		emit_hist(sc->out, f->name, labels, &set->v[i].hist);
	}
}

static void emit_results(struct scrape *sc, const struct family *f)
{
	const struct series_set *set = &sc->ctl->metrics->results;
	size_t i;

	for (i = 0; i < set->n; i++)
		evbuffer_add_printf(sc->out, "%s{op=\"%s\",result=\"%s\"} %llu\n", f->name,
		                    set->v[i].label, set->v[i].result,
		                    (unsigned long long)set->v[i].count);
}

static void emit_ssh(struct scrape *sc, const struct family *f)
{
	struct ctl_metrics *m = sc->ctl->metrics;
	char labels[64];
	size_t i;

	pthread_mutex_lock(&m->ssh_mu);
	for (i = 0; i < m->ssh.n; i++) {
		snprintf(labels, sizeof(labels), "server=\"%s\"", m->ssh.v[i].label);
		emit_hist(sc->out, f->name, labels, &m->ssh.v[i].hist);
	}
	pthread_mutex_unlock(&m->ssh_mu);
}

static void emit_usage(struct scrape *sc, const struct family *f)
{
	uint64_t rx = 0, tx = 0;

	if (db_usage_totals(sc->ctl->db, &rx, &tx) < 0)
		return;
	evbuffer_add_printf(sc->out, "%s{direction=\"rx\"} %llu\n%s{direction=\"tx\"} %llu\n",
	                    f->name, (unsigned long long)rx, f->name, (unsigned long long)tx);
}

static void emit_commit(struct scrape *sc, const struct family *f)
{
	emit_hist(sc->out, f->name, "", &sc->ctl->metrics->commit);
}

static void emit_commit_failed(struct scrape *sc, const struct family *f)
{
	evbuffer_add_printf(sc->out, "%s %llu\n", f->name,
	                    (unsigned long long)sc->ctl->metrics->commit_failed);
}

static void emit_per_server(struct scrape *sc, const struct family *f)
{
	double v;
	size_t i;

	for (i = 0; i < sc->n; i++)
		if (f->server_value(sc, &sc->servers[i], &v))
			evbuffer_add_printf(sc->out, "%s{server=\"%s\"} %.17g\n", f->name,
			                    sc->servers[i].id, v);
}

static int server_up(struct scrape *sc, const struct db_server_status *s, double *v)
{
	(void)sc;
	*v = s->up > 0;
	return s->up >= 0; /* never checked: no sample rather than a false 0 */
}

static int server_active_peers(struct scrape *sc, const struct db_server_status *s, double *v)
{
	size_t i, n = 0;

	for (i = 0; i < sc->npeers; i++)
		n += strcmp(sc->peers[i].server_id, s->id) == 0;
	*v = (double)n;
	return 1;
}

static int server_live_peers(struct scrape *sc, const struct db_server_status *s, double *v)
{
	(void)sc;
	*v = s->live_peers;
	return s->up >= 0;
}

static int server_leases_used(struct scrape *sc, const struct db_server_status *s, double *v)
{
	(void)sc;
	*v = s->peers;
	return 1;
}

static int server_leases_free(struct scrape *sc, const struct db_server_status *s, double *v)
{
	(void)sc;
	*v = s->capacity - s->peers;
	return 1;
}

static int server_capacity(struct scrape *sc, const struct db_server_status *s, double *v)
{
	(void)sc;
	*v = s->capacity;
	return 1;
}

static int server_last_check(struct scrape *sc, const struct db_server_status *s, double *v)
{
	(void)sc;
	*v = (double)s->checked_at;
	return s->checked_at > 0;
}

static int server_check_age(struct scrape *sc, const struct db_server_status *s, double *v)
{
	*v = (double)(sc->now - s->checked_at);
	return s->checked_at > 0;
}

static int server_handshakes(struct scrape *sc, const struct db_server_status *s, double *v)
{
	(void)sc;
	*v = s->active_peers;
	return s->up >= 0;
}

static int server_rx(struct scrape *sc, const struct db_server_status *s, double *v)
{
	(void)sc;
	*v = (double)s->rx_bytes;
	return s->up >= 0;
}

static int server_tx(struct scrape *sc, const struct db_server_status *s, double *v)
{
	(void)sc;
	*v = (double)s->tx_bytes;
	return s->up >= 0;
}

static int server_repairs(struct scrape *sc, const struct db_server_status *s, double *v)
{
	(void)sc;
	*v = s->repairs;
	return s->reconciled_at > 0;
}

static int server_draining(struct scrape *sc, const struct db_server_status *s, double *v)
{
	(void)sc;
	*v = s->draining;
	return 1;
}

static int server_queue(struct scrape *sc, const struct db_server_status *s, double *v)
{
	size_t depth;

	if (agentless_queue_depth(sc->ctl->pool, s->id, &depth) < 0)
		return 0;
	*v = (double)depth;
	return 1;
}

static const struct family families[] = {
        {"pv_http_requests_total", "counter", "HTTP requests answered, by route and status",
         emit_requests, NULL},
        {"pv_http_request_duration_seconds", "histogram",
         "Time from a request's dispatch to its reply, by route", emit_latency, NULL},
        {"pv_operations_total", "counter",
         "Provision and revoke requests by result: ok or the error code", emit_results, NULL},
        {"pv_sqlite_commit_duration_seconds", "histogram",
         "Duration of SQLite COMMITs of explicit transactions", emit_commit, NULL},
        {"pv_sqlite_commit_failures_total", "counter", "SQLite COMMITs that failed",
         emit_commit_failed, NULL},
        {"pv_server_up", "gauge", "1 if the last health pass reached the server, else 0",
         emit_per_server, server_up},
        {"pv_server_peers", "gauge", "ACTIVE peers of the server in the DB", emit_per_server,
         server_active_peers},
        {"pv_server_live_peers", "gauge",
         "Peers on the server's interfaces at the last health pass", emit_per_server,
         server_live_peers},
        {"pv_server_leases_used", "gauge", "Addresses leased on the server (peers in any state)",
         emit_per_server, server_leases_used},
        {"pv_server_leases_free", "gauge", "Addresses still free on the server", emit_per_server,
         server_leases_free},
        {"pv_server_capacity", "gauge", "Peers the server holds: 253 per WireGuard interface",
         emit_per_server, server_capacity},
        {"pv_server_last_check_timestamp_seconds", "gauge",
         "Unix time of the server's last health check", emit_per_server, server_last_check},
        {"pv_server_last_check_age_seconds", "gauge",
         "Seconds since the server's last health check", emit_per_server, server_check_age},
        {"pv_server_handshake_peers", "gauge",
         "Peers with a handshake in the last 180 s at the last health pass", emit_per_server,
         server_handshakes},
        {"pv_server_rx_bytes", "gauge",
         "Bytes received from the server's live peers (their counters at the last pass)",
         emit_per_server, server_rx},
        {"pv_server_tx_bytes", "gauge",
         "Bytes sent to the server's live peers (their counters at the last pass)", emit_per_server,
         server_tx},
        {"pv_server_repairs", "gauge", "What the server's last reconcile repaired", emit_per_server,
         server_repairs},
        {"pv_server_draining", "gauge", "1 while the server is draining (no new peers)",
         emit_per_server, server_draining},
        {"pv_ssh_round_trip_seconds", "histogram",
         "SSH round trips of the pool by server (edits, dumps, pings; a reconnect included)",
         emit_ssh, NULL},
        {"pv_usage_bytes_total", "counter",
         "Transfer of every user's peers as the health passes counted it (server view)", emit_usage,
         NULL},
        {"pv_ssh_queue_depth", "gauge",
         "SSH jobs queued for the server's worker, the round trip in flight not counted",
         emit_per_server, server_queue},
};

void api_metrics(struct ctl_req *rq)
{
	struct ctl *ctl = rq->ctl;
	struct db_peer_filter active = {NULL, NULL, NULL, DB_PEER_ACTIVE};
	struct scrape sc = {ctl, evbuffer_new(), NULL, 0, NULL, 0, (int64_t)time(NULL)};
	size_t i;
	int r;

	if (!sc.out) {
		ctl_reply_error(rq, PV_ENOMEM, "out of memory");
		return;
	}
	if ((r = db_servers_list(ctl->db, &sc.servers, &sc.n)) < 0 ||
	    (r = db_peers_list(ctl->db, &active, &sc.peers, &sc.npeers)) < 0) {
		ctl_log("metrics: %s", db_errmsg(ctl->db));
		ctl_reply_error(rq, r, "state database error");
		goto out;
	}
	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		evbuffer_add_printf(sc.out, "# HELP %s %s\n# TYPE %s %s\n", families[i].name,
		                    families[i].help, families[i].name, families[i].type);
		families[i].emit(&sc, &families[i]);
	}
	ctl_reply_text(rq, 200, "text/plain; version=0.0.4; charset=utf-8", sc.out);
out:
	free(sc.servers);
	free(sc.peers);
	evbuffer_free(sc.out);
}
