/* SPDX-License-Identifier: MIT */
/*
 * bench_agentless_push: what a peer edit costs over the pooled sessions, on a
 * real fleet (run in the controller namespace; bench/agentless.sh does it).
 * Prints, measured in the same run:
 *   floor       `true` on a warm pooled session
 *   pooled add  one add per round trip on a warm session (vs the floor)
 *   fresh ssh   one add through a new `ssh` process (what scripts pay)
 *   adds/s      batching on vs off, to one server and across the fleet
 * Figures only; nothing is asserted.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentless_int.h"

struct bench {
	const char *fleet_path, *identity, *known_hosts;
	struct pv_fleet *fleet;
	int rounds, per_server;
	unsigned phase;
};

static void die(const char *what, int err, const char *detail)
{
	fprintf(stderr, "bench_agentless_push: %s: %s %s\n", what, pv_strerror(err),
	        detail ? detail : "");
	exit(1);
}

static struct agentless *pool_new(const struct bench *b, int no_batching)
{
	struct agentless_config cfg = {.identity = b->identity,
	                               .known_hosts = b->known_hosts,
	                               .op_timeout_ms = 120000,
	                               .no_batching = no_batching};
	struct agentless *pool = NULL;
	int r = agentless_new(&pool, b->fleet, &cfg);

	if (r < 0)
		die("agentless_new", r, b->identity);
	return pool;
}

static struct agentless_edit make_edit(unsigned phase, unsigned i, enum agentless_op op)
{
	struct agentless_edit e;
	uint8_t key[PV_KEY_LEN] = {0};

	memset(&e, 0, sizeof(e));
	e.op = op;
	snprintf(e.name, sizeof(e.name), "bench%u-%u", phase % 100, i % 1000);
	/* Deterministic per (phase, i), so a remove finds its add's key. */
	key[0] = (uint8_t)phase;
	key[1] = (uint8_t)i;
	key[2] = (uint8_t)(i >> 8);
	pv_key_to_base64(e.pubkey, key);
	pv_psk_generate(e.psk);
	e.host = 2 + i;
	return e;
}

static double ms_since(uint64_t t0)
{
	return (double)(pv_now_us() - t0) / 1000.0;
}

static double bench_ping(struct agentless *pool, const char *id, int n)
{
	char detail[512];
	uint64_t t0;
	int i, r;

	r = agentless_ping_wait(pool, id, detail, sizeof(detail)); /* warm up */
	if (r < 0)
		die("ping", r, detail);
	t0 = pv_now_us();
	for (i = 0; i < n; i++)
		if ((r = agentless_ping_wait(pool, id, detail, sizeof(detail))) < 0)
			die("ping", r, detail);
	return ms_since(t0) / n;
}

static double sequential_edits(struct agentless *pool, const char *id, unsigned phase, int n,
                               enum agentless_op op)
{
	char detail[512];
	uint64_t t0 = pv_now_us();
	int i, r, changed;

	for (i = 0; i < n; i++) {
		struct agentless_edit e = make_edit(phase, (unsigned)i, op);

		if ((r = agentless_submit_wait(pool, id, &e, &changed, detail, sizeof(detail))) < 0)
			die("edit", r, detail);
	}
	return ms_since(t0) / n;
}

/* ---- fresh ssh per edit -------------------------------------------------- */

static double fresh_ssh_add(const struct bench *b, const struct pv_server *srv, unsigned phase,
                            unsigned i)
{
	struct agentless_edit e = make_edit(phase, i, AGENTLESS_ADD);
	struct al_buf in = {0};
	char target[128], port[8], kh[512];
	int pipefd[2], status;
	uint64_t t0;
	pid_t pid;

	if (al_batch_encode(&in, srv, &e, 1) < 0 || pipe(pipefd) < 0)
		die("fresh ssh", PV_EIO, "encode/pipe");
	snprintf(target, sizeof(target), "%s@%s", srv->ssh_user, srv->ssh_host);
	snprintf(port, sizeof(port), "%u", (unsigned)srv->ssh_port);
	snprintf(kh, sizeof(kh), "UserKnownHostsFile=%s", b->known_hosts);
	t0 = pv_now_us();
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[0], 0);
		close(pipefd[0]);
		close(pipefd[1]);
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execlp("ssh", "ssh", "-q", "-i", b->identity, "-p", port, "-o", kh, "-o",
		       "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", target,
		       al_remote_command, (char *)NULL);
		_exit(127);
	}
	close(pipefd[0]);
	if (write(pipefd[1], in.p, in.len) != (ssize_t)in.len)
		die("fresh ssh", PV_EIO, "write");
	close(pipefd[1]);
	al_buf_free(&in, 1);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("fresh ssh", PV_EREMOTE, "ssh exited non-zero");
	return ms_since(t0);
}

/* ---- throughput -------------------------------------------------------------- */

struct counter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pending, failed;
};

static void count_done(const struct agentless_result *res, void *arg)
{
	struct counter *c = arg;

	pthread_mutex_lock(&c->mu);
	if (res->err) {
		if (!c->failed)
			fprintf(stderr, "bench: edit failed: %s\n", res->detail);
		c->failed++;
	}
	if (--c->pending == 0)
		pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* Submit n edits to each of the first nservers at once; returns edits/s. */
static double burst(struct bench *b, struct agentless *pool, size_t nservers, int n,
                    enum agentless_op op, unsigned phase)
{
	struct counter c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	uint64_t t0 = pv_now_us();
	size_t s;
	int i, r;

	c.pending = (int)nservers * n;
	for (i = 0; i < n; i++) {
		struct agentless_edit e = make_edit(phase, (unsigned)i, op);

		for (s = 0; s < nservers; s++)
			if ((r = agentless_submit(pool, b->fleet->servers[s].id, &e, count_done,
			                          &c)) < 0)
				die("submit", r, b->fleet->servers[s].id);
	}
	pthread_mutex_lock(&c.mu);
	while (c.pending)
		pthread_cond_wait(&c.cv, &c.mu);
	pthread_mutex_unlock(&c.mu);
	if (c.failed)
		die("burst", PV_EREMOTE, "some edits failed");
	return (double)nservers * n * 1000.0 / ms_since(t0);
}

static void warm_all(struct agentless *pool, const struct pv_fleet *fleet, size_t nservers)
{
	size_t s;

	for (s = 0; s < nservers; s++)
		bench_ping(pool, fleet->servers[s].id, 1);
}

static void throughput(struct bench *b, size_t nservers, const char *label)
{
	int n_off = b->per_server < 20 ? b->per_server : 20;
	double on, off, rm;
	struct agentless *pool = pool_new(b, 0), *solo = pool_new(b, 1);

	warm_all(pool, b->fleet, nservers);
	warm_all(solo, b->fleet, nservers);
	b->phase++;
	on = burst(b, pool, nservers, b->per_server, AGENTLESS_ADD, b->phase);
	rm = burst(b, pool, nservers, b->per_server, AGENTLESS_REMOVE, b->phase);
	/* Unbatched, every edit is a round trip: fewer of them say as much. */
	b->phase++;
	off = burst(b, solo, nservers, n_off, AGENTLESS_ADD, b->phase);
	burst(b, solo, nservers, n_off, AGENTLESS_REMOVE, b->phase);
	printf("%-24s batching on %7.0f adds/s (%d/server; removes %5.0f/s)   off %6.0f adds/s "
	       "(%d/server)   x%.1f\n",
	       label, on, b->per_server, rm, off, n_off, on / off);
	agentless_free(pool);
	agentless_free(solo);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"fleet", required_argument, NULL, 'f'},
	                                     {"identity", required_argument, NULL, 'i'},
	                                     {"known-hosts", required_argument, NULL, 'k'},
	                                     {"rounds", required_argument, NULL, 'n'},
	                                     {"per-server", required_argument, NULL, 'p'},
	                                     {NULL, 0, NULL, 0}};
	struct bench b = {.rounds = 100, .per_server = 200};
	struct agentless *pool;
	char err[512], label[64];
	double floor_ms, add_ms, fresh_ms = 0;
	const struct pv_server *s0;
	int ch, i, fresh_n;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			b.fleet_path = optarg;
			break;
		case 'i':
			b.identity = optarg;
			break;
		case 'k':
			b.known_hosts = optarg;
			break;
		case 'n':
			b.rounds = (int)strtol(optarg, NULL, 10);
			break;
		case 'p':
			b.per_server = (int)strtol(optarg, NULL, 10);
			break;
		default:
			return 2;
		}
	}
	if (!b.fleet_path || !b.identity || !b.known_hosts || b.rounds < 1 || b.rounds > 250 ||
	    b.per_server < 1 || b.per_server > 250) {
		fprintf(stderr, "usage: bench_agentless_push --fleet F --identity K --known-hosts "
		                "KH [--rounds 1..250] [--per-server 1..250]\n");
		return 2;
	}
	if (pv_fleet_load(&b.fleet, b.fleet_path, err, sizeof(err)) < 0)
		die("fleet", PV_EINVAL, err);
	s0 = &b.fleet->servers[0];
	pool = pool_new(&b, 1);

	floor_ms = bench_ping(pool, s0->id, b.rounds);
	b.phase++;
	add_ms = sequential_edits(pool, s0->id, b.phase, b.rounds, AGENTLESS_ADD);
	sequential_edits(pool, s0->id, b.phase, b.rounds, AGENTLESS_REMOVE);
	b.phase++;
	fresh_n = b.rounds < 20 ? b.rounds : 20;
	for (i = 0; i < fresh_n; i++)
		fresh_ms += fresh_ssh_add(&b, s0, b.phase, (unsigned)i);
	fresh_ms /= fresh_n;
	sequential_edits(pool, s0->id, b.phase, fresh_n, AGENTLESS_REMOVE);
	agentless_free(pool);

	printf("server %s, %d rounds, %d edits per server per burst\n", s0->id, b.rounds,
	       b.per_server);
	printf("%-34s %8.2f ms\n", "floor: `true` on a warm session", floor_ms);
	printf("%-34s %8.2f ms   %.2fx floor\n", "pooled add (1 edit/round trip)", add_ms,
	       add_ms / floor_ms);
	printf("%-34s %8.2f ms   pooled is %.1fx faster\n", "fresh ssh process per add", fresh_ms,
	       fresh_ms / add_ms);
	throughput(&b, 1, "one server:");
	snprintf(label, sizeof(label), "across %zu servers:", b.fleet->n);
	throughput(&b, b.fleet->n, label);
	pv_fleet_free(b.fleet);
	return 0;
}
