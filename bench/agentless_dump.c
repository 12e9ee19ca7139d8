/* SPDX-License-Identifier: MIT */
/*
 * bench_agentless_dump: what reading a server's state costs over the pooled
 * sessions, the floor under one reconcile pass (bench/reconcile.sh runs it in
 * the controller namespace).  Prints, per server, the median and slowest of
 * ROUNDS warm dumps (`wg show dump` plus wg0.conf's peer sections), then the
 * median wall time of ROUNDS dumps of every server at once.  Figures only;
 * nothing is asserted.
 *
 *   bench_agentless_dump --fleet F --identity K --known-hosts H [--rounds N]
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentless.h"

struct all_done {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t pending;
	int failed;
};

static void die(const char *what, int err, const char *detail)
{
	fprintf(stderr, "bench_agentless_dump: %s: %s %s\n", what, pv_strerror(err),
	        detail ? detail : "");
	exit(1);
}

static double ms_since(uint64_t t0)
{
	return (double)(pv_now_us() - t0) / 1000.0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts v in place; returns its median. */
static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* One warm dump; its peer and block counts go to *peers and *blocks. */
static double one_dump(struct agentless *pool, const char *id, size_t *peers, size_t *blocks)
{
	struct agentless_dump *d = NULL;
	char detail[512];
	uint64_t t0 = pv_now_us();
	double ms;
	int r = agentless_dump_wait(pool, id, &d, detail, sizeof(detail));

	if (r < 0)
		die(id, r, detail);
	ms = ms_since(t0);
	*peers = d->live->n;
	*blocks = d->nblocks;
	agentless_dump_free(d);
	return ms;
}

static void dump_done(int err, const char *detail, const struct agentless_dump *dump, void *arg)
{
	struct all_done *c = arg;

	(void)dump;
	pthread_mutex_lock(&c->mu);
	if (err && !c->failed++)
		fprintf(stderr, "bench_agentless_dump: a dump failed: %s\n", detail);
	if (--c->pending == 0)
		pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* Every server's dump at once; the wall time until the last one answers. */
static double dump_all(struct agentless *pool, const struct pv_fleet *fleet)
{
	struct all_done c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, fleet->n, 0};
	uint64_t t0 = pv_now_us();
	size_t s;
	int r;

	for (s = 0; s < fleet->n; s++)
		if ((r = agentless_dump(pool, fleet->servers[s].id, dump_done, &c)) < 0)
			die(fleet->servers[s].id, r, "dump not queued");
	pthread_mutex_lock(&c.mu);
	while (c.pending)
		pthread_cond_wait(&c.cv, &c.mu);
	pthread_mutex_unlock(&c.mu);
	if (c.failed)
		die("dump_all", PV_EREMOTE, "see above");
	return ms_since(t0);
}

static void per_server(struct agentless *pool, const struct pv_fleet *fleet, int rounds)
{
	double *ms = calloc((size_t)rounds, sizeof(*ms)), worst = 0, med;
	const char *worst_id = "";
	size_t s, peers = 0, blocks = 0;
	int i;

	if (!ms)
		die("calloc", PV_ENOMEM, NULL);
	printf("%-16s %6s %6s %12s %12s\n", "server", "peers", "blocks", "warm p50 ms",
	       "warm max ms");
	for (s = 0; s < fleet->n; s++) {
		const char *id = fleet->servers[s].id;

		one_dump(pool, id, &peers, &blocks); /* opens the session */
		for (i = 0; i < rounds; i++)
			ms[i] = one_dump(pool, id, &peers, &blocks);
		med = median(ms, rounds);
		printf("%-16s %6zu %6zu %12.1f %12.1f\n", id, peers, blocks, med, ms[rounds - 1]);
		if (med > worst) {
			worst = med;
			worst_id = id;
		}
	}
	printf("slowest single server, warm dump p50: %.1f ms (%s)\n", worst, worst_id);
	for (i = 0; i < rounds; i++)
		ms[i] = dump_all(pool, fleet);
	med = median(ms, rounds); /* sorts: ms[rounds - 1] is the slowest after it */
	printf("all %zu servers at once, warm: p50 %.1f ms, max %.1f ms\n", fleet->n, med,
	       ms[rounds - 1]);
	free(ms);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"fleet", required_argument, NULL, 'f'},
	                                     {"identity", required_argument, NULL, 'i'},
	                                     {"known-hosts", required_argument, NULL, 'k'},
	                                     {"rounds", required_argument, NULL, 'r'},
	                                     {NULL, 0, NULL, 0}};
	const char *fleet_path = NULL;
	struct agentless_config cfg = {.op_timeout_ms = 120000};
	struct pv_fleet *fleet = NULL;
	struct agentless *pool = NULL;
	char err[512], *end;
	int ch, r, rounds = 5;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			fleet_path = optarg;
			break;
		case 'i':
			cfg.identity = optarg;
			break;
		case 'k':
			cfg.known_hosts = optarg;
			break;
		case 'r':
			rounds = (int)strtol(optarg, &end, 10);
			if (*end)
				rounds = 0;
			break;
		default:
			rounds = 0;
		}
	}
	if (!fleet_path || !cfg.identity || !cfg.known_hosts || rounds < 1 || rounds > 1000) {
		fprintf(stderr,
		        "usage: bench_agentless_dump --fleet F --identity K --known-hosts H "
		        "[--rounds 1..1000]\n");
		return 2;
	}
	if (pv_fleet_load(&fleet, fleet_path, err, sizeof(err)) < 0)
		die("fleet", PV_EINVAL, err);
	if ((r = agentless_new(&pool, fleet, &cfg)) < 0)
		die("agentless_new", r, cfg.identity);
	per_server(pool, fleet, rounds);
	agentless_free(pool);
	pv_fleet_free(fleet);
	return 0;
}
