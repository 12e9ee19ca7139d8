/* SPDX-License-Identifier: MIT */
/*
 * Lease allocation throughput of db/: reserve every address of SERVERS
 * servers (253 each, round robin), one BEGIN IMMEDIATE transaction per
 * lease, first with synchronous=FULL (what the controller runs) and then
 * with NORMAL as the baseline, on fresh files in DIR (default $TMPDIR or
 * /var/tmp; use a disk-backed directory: fsync on tmpfs is free).  Then
 * release and re-reserve each lease of a full server (the lowest-gap path).
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

#define CAPACITY (DB_HOST_MAX - DB_HOST_MIN + 1)

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
		        "\"wireguard\":{\"host\":\"192.0.2.%u\",\"port\":51820,\"interface\":\"wg0\","
		        "\"ipv4\":\"10.7.0.0/24\",\"ipv6\":\"fddd:2c4:2c4:2c4::/64\"},"
		        "\"ssh\":{\"host\":\"192.0.2.%u\",\"port\":22,\"user\":\"root\"}}",
		        i ? "," : "", i + 1, i + 1, i + 1);
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
	rmdir(dir);
out:
	pv_fleet_free(b.fleet);
	free(b.keys);
	return r;
}
