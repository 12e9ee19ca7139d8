/* SPDX-License-Identifier: MIT */
/*
 * Lease allocation throughput of db/: reserve every address of SERVERS
 * servers (253 each, round robin), one BEGIN IMMEDIATE transaction per
 * lease, first with synchronous=FULL (what the controller runs) and then
 * with NORMAL as the baseline, on fresh files in DIR (default $TMPDIR or
 * /var/tmp; use a disk-backed directory: fsync on tmpfs is free).  Then
 * release and re-reserve each lease of a full server (the lowest-gap path).
 * Then growth: the cost of one lease (reserve + delete on a server holding
 * GROWTH_PROBE leases) as the file grows from 10 to 65,000 leases over 258
 * servers, next to the 10-lease figure of the same run (synchronous=NORMAL,
 * so the fsync, a constant per commit shown above, does not hide it).
 * Prints leases/s; never asserts timing.
 *
 *   bench_db_lease [DIR] [SERVERS]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "pv.h"

#define CAPACITY ((unsigned)PV_HOSTS_PER_IF)

struct mode {
	const char *name;
	unsigned flags;
};

static const struct mode modes[] = {
        {"FULL", 0},
        {"NORMAL", DB_OPEN_SYNC_NORMAL},
};

/* A fleet of n Pro servers "b1".."bn" from JSON, through the real parser. */
static struct pv_fleet *bench_fleet(unsigned n)
{
	size_t cap = 64 + (size_t)n * 300, len = 0;
	char *json = malloc(cap), err[256];
	struct pv_fleet *f = NULL;
	unsigned i;

	if (!json)
		return NULL;
	len += (size_t)snprintf(json + len, cap - len, "{\"version\":1,\"servers\":[");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(
		        json + len, cap - len,
		        "%s{\"id\":\"b%u\",\"location\":\"L\",\"region\":\"R\",\"tier\":\"pro\","
		        "\"wireguard\":{\"host\":\"198.18.%u.%u\",\"port\":51820,\"interface\":\"wg0\","
		        "\"ipv4\":\"10.7.0.0/24\",\"ipv6\":\"fddd:2c4:2c4:2c4::/64\"},"
		        "\"ssh\":{\"host\":\"198.18.%u.%u\",\"port\":22,\"user\":\"root\"}}",
		        i ? "," : "", i + 1, i / 250, i % 250 + 1, i / 250, i % 250 + 1);
	snprintf(json + len, cap - len, "]}");
	if (pv_fleet_parse(&f, json, strlen(json), "bench fleet", err, sizeof(err)) < 0)
		fprintf(stderr, "bench: %s\n", err);
	free(json);
	return f;
}

/* What every mode runs on: the fleet and the keys, made before any clock starts. */
struct bench {
	struct pv_fleet *fleet;
	char (*keys)[PV_KEY_B64_LEN + 1]; /* real X25519 public keys, base64 */
	unsigned total;                   /* leases that fill the fleet */
};

static int bench_keys(struct bench *b, unsigned n)
{
	uint8_t priv[PV_KEY_LEN], pub[PV_KEY_LEN];
	unsigned i;

	b->keys = calloc(n, sizeof(*b->keys));
	if (!b->keys)
		return PV_ENOMEM;
	for (i = 0; i < n; i++) {
		if (pv_keypair_generate(priv, pub) < 0)
			return PV_ECRYPTO;
		pv_key_to_base64(b->keys[i], pub);
	}
	return 0;
}

/* The database and its WAL and shared-memory files. */
static void remove_db_files(const char *path)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	char f[700];
	size_t i;

	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (snprintf(f, sizeof(f), "%s%s", path, suffixes[i]) < (int)sizeof(f))
			unlink(f);
}

static int fail(struct db *db, const char *what, int r)
{
	fprintf(stderr, "bench: %s: %s: %s\n", what, pv_strerror(r), db_errmsg(db));
	return r;
}

/* Fill every server, then churn one full server; prints the rates. */
static int run_mode(const char *dir, const struct mode *m, const struct bench *b)
{
	struct db *db = NULL;
	struct db_peer p;
	char path[600];
	uint64_t t0, us;
	const struct pv_fleet *fleet = b->fleet;
	unsigned i, total = b->total;
	int r;

	if (snprintf(path, sizeof(path), "%s/lease-%s.db", dir, m->name) >= (int)sizeof(path)) {
		fprintf(stderr, "bench: directory name %s is too long\n", dir);
		return PV_EINVAL;
	}
	if ((r = db_open_flags(&db, path, m->flags)) < 0 || (r = db_servers_sync(db, fleet)) < 0 ||
	    (r = db_user_upsert(db, "bench", PV_TIER_PRO, 1)) < 0) {
		r = fail(db, path, r);
		goto out;
	}
	t0 = pv_now_us();
	for (i = 0; i < total; i++)
		if ((r = db_peer_reserve(db, "bench", "d", fleet->servers[i % fleet->n].id,
		                         b->keys[i], NULL, &p)) < 0) {
			r = fail(db, "reserve", r);
			goto out;
		}
	us = pv_now_us() - t0;
	printf("synchronous=%-6s reserve: %u leases on %zu servers in %.3f s: %.0f leases/s "
	       "(%.1f us/lease)\n",
	       m->name, total, fleet->n, (double)us / 1e6, total * 1e6 / (double)us,
	       (double)us / total);
	/* Churn: free the lowest lease of the full server b1 and take it back, CAPACITY times. */
	t0 = pv_now_us();
	for (i = 0; i < CAPACITY; i++) {
		int64_t id = (int64_t)(i * fleet->n) + 1; /* b1's peers: ids 1, 1+n, ... */

		if ((r = db_peer_delete(db, id)) < 0 ||
		    (r = db_peer_reserve(db, "bench", "d", "b1", b->keys[total + i], NULL, &p)) <
		            0) {
			r = fail(db, "churn", r);
			goto out;
		}
	}
	us = pv_now_us() - t0;
	printf("synchronous=%-6s churn:   %u delete+reserve pairs on a full server: %.0f pairs/s "
	       "(%.1f us/pair)\n",
	       m->name, CAPACITY, CAPACITY * 1e6 / (double)us, (double)us / CAPACITY);
	r = 0;
out:
	db_close(db);
	remove_db_files(path);
	return r;
}

#define GROWTH_SERVERS 258u /* 258 x 253 >= 65,000 leases */
#define GROWTH_PROBE   5u   /* leases on the measured server */
#define GROWTH_PAIRS   500u

/* A distinct, valid key per n (a bench needs no real X25519 pair here). */
static const char *growth_key(unsigned n)
{
	static char b64[PV_KEY_B64_LEN + 1];
	uint8_t key[PV_KEY_LEN];

	memset(key, 0x6b, sizeof(key));
	memcpy(key, &n, sizeof(n));
	pv_key_to_base64(b64, key);
	return b64;
}

/* Fill the other servers (one group transaction) until the file holds total leases. */
static int growth_fill(struct db *db, const struct pv_fleet *fleet, unsigned *filled,
                       unsigned total)
{
	struct db_peer p;
	int r = db_group_begin(db);

	for (; r == 0 && *filled < total; (*filled)++)
		r = db_peer_reserve(db, "bench", "d",
		                    fleet->servers[1 + *filled % (fleet->n - 1)].id,
		                    growth_key(*filled), NULL, &p);
	return r < 0 ? r : db_group_commit(db);
}

/* Microseconds per reserve + delete on b1, the probe server. */
static int growth_probe(struct db *db, double *us_per_pair)
{
	uint64_t t0 = pv_now_us();
	struct db_peer p;
	unsigned i;
	int r = 0;

	for (i = 0; r == 0 && i < GROWTH_PAIRS; i++)
		if ((r = db_peer_reserve(db, "bench", "d", "b1", growth_key(1000000 + i), NULL,
		                         &p)) == 0)
			r = db_peer_delete(db, p.id);
	*us_per_pair = (double)(pv_now_us() - t0) / GROWTH_PAIRS;
	return r;
}

static int growth(const char *dir)
{
	static const unsigned levels[] = {10, 100, 1000, 10000, 65000};
	struct pv_fleet *fleet = bench_fleet(GROWTH_SERVERS);
	struct db *db = NULL;
	struct db_peer p;
	double base = 0, us;
	char path[600];
	unsigned filled = GROWTH_PROBE, i;
	int r = PV_ENOMEM;

	snprintf(path, sizeof(path), "%s/lease-growth.db", dir);
	if (!fleet || (r = db_open_flags(&db, path, DB_OPEN_SYNC_NORMAL)) < 0 ||
	    (r = db_servers_sync(db, fleet)) < 0 ||
	    (r = db_user_upsert(db, "bench", PV_TIER_PRO, 1)) < 0)
		goto out;
	for (i = 0; r == 0 && i < GROWTH_PROBE; i++)
		r = db_peer_reserve(db, "bench", "d", "b1", growth_key(2000000 + i), NULL, &p);
	for (i = 0; r == 0 && i < sizeof(levels) / sizeof(levels[0]); i++) {
		if ((r = growth_fill(db, fleet, &filled, levels[i])) < 0 ||
		    (r = growth_probe(db, &us)) < 0)
			break;
		base = base > 0 ? base : us;
		printf("growth: %6u leases on %u servers: reserve+delete on a server with %u "
		       "leases: %6.1f us/pair (%.2fx the %u-lease figure)\n",
		       filled, GROWTH_SERVERS, GROWTH_PROBE, us, us / base, levels[0]);
	}
out:
	if (r < 0)
		fail(db, "growth", r);
	db_close(db);
	remove_db_files(path);
	pv_fleet_free(fleet);
	return r;
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	const char *base = argc > 1 && *argv[1] ? argv[1] : tmp && *tmp ? tmp : "/var/tmp";
	unsigned long servers = 4;
	struct bench b = {NULL, NULL, 0};
	char dir[512], *end;
	size_t i;
	int r = 1;

	if (argc > 2) {
		servers = strtoul(argv[2], &end, 10);
		if (*end || servers < 1 || servers > 100) {
			fprintf(stderr, "usage: bench_db_lease [DIR] [SERVERS 1..100]\n");
			return 2;
		}
	}
	b.total = (unsigned)servers * CAPACITY;
	b.fleet = bench_fleet((unsigned)servers);
	if (!b.fleet || bench_keys(&b, b.total + CAPACITY) < 0) {
		fprintf(stderr, "bench: cannot make the fleet or the keys\n");
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s/pv-bench-db-XXXXXX", base);
	if (!mkdtemp(dir)) {
		perror(dir);
		goto out;
	}
	for (i = 0, r = 0; r == 0 && i < sizeof(modes) / sizeof(modes[0]); i++)
		r = run_mode(dir, &modes[i], &b) < 0;
	if (r == 0)
		r = growth(dir) < 0;
	rmdir(dir);
out:
	pv_fleet_free(b.fleet);
	free(b.keys);
	return r;
}
