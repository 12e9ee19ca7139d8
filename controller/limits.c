/* SPDX-License-Identifier: MIT */
/*
 * Per-client-address state: how many connections an address holds and how
 * many failed authentications it made in the current window.  One bounded
 * open-addressing table (linear probing, backward-shift deletion) keyed by
 * the address (IPv4, or the /64 of an IPv6 address, since one IPv6 client
 * owns a whole /64).  Memory is fixed at startup whatever the clients do.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>

#include "controller.h"

/* Addresses tracked for failed authentication only, beyond the live connections. */
#define AUTH_TRACK_MAX 8192

struct addr_entry {
	unsigned char key[16];
	unsigned char used;
	uint32_t conns;
	uint32_t fails;
	int64_t window_end; /* monotonic seconds; failures before it count */
	int64_t logged_end; /* window whose block was logged */
};

struct ctl_addrs {
	struct addr_entry *e;
	size_t cap, n; /* cap a power of two, n used */
	size_t max_conns_per_addr;
	long fail_max, fail_window_s;
	int full_logged;
};

int64_t ctl_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

int ctl_addr_key(unsigned char key[16], const struct sockaddr *sa)
{
	memset(key, 0, 16);
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		key[10] = key[11] = 0xff; /* ::ffff:a.b.c.d */
		memcpy(key + 12, &in->sin_addr, 4);
		return 0;
	}
	if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

		memcpy(key, &in6->sin6_addr, 16);
		/* A v4-mapped address is one IPv4 client; any other is keyed by its /64. */
		if (!IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			memset(key + 8, 0, 8);
		return 0;
	}
	return PV_EINVAL;
}

void ctl_addr_name(char *buf, size_t len, const struct sockaddr *sa)
{
	const void *a = NULL;

	if (sa && sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa && sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (!a || !evutil_inet_ntop(sa->sa_family, a, buf, len))
		snprintf(buf, len, "?");
}

struct ctl_addrs *ctl_addrs_new(size_t max_conns, long per_addr, long fail_max, long window_s)
{
	struct ctl_addrs *t = calloc(1, sizeof(*t));
	size_t cap = 1024;

	if (!t)
		return NULL;
	/* At most half full when every connection and tracked failure is in. */
	while (cap < 2 * (max_conns + AUTH_TRACK_MAX))
		cap *= 2;
	t->e = calloc(cap, sizeof(*t->e));
	if (!t->e) {
		free(t);
		return NULL;
	}
	t->cap = cap;
	t->max_conns_per_addr = (size_t)per_addr;
	t->fail_max = fail_max;
	t->fail_window_s = window_s;
	return t;
}

void ctl_addrs_free(struct ctl_addrs *t)
{
	if (!t)
		return;
	free(t->e);
	free(t);
}

static size_t key_hash(const unsigned char key[16], size_t cap)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	size_t i;

	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return (size_t)(h & (cap - 1));
}

static struct addr_entry *find(struct ctl_addrs *t, const unsigned char key[16])
{
	size_t i = key_hash(key, t->cap);

	for (; t->e[i].used; i = (i + 1) & (t->cap - 1))
		if (memcmp(t->e[i].key, key, 16) == 0)
			return &t->e[i];
	return NULL;
}

/* Remove entry at slot i, shifting later members of its probe run back. */
static void remove_at(struct ctl_addrs *t, size_t i)
{
	size_t mask = t->cap - 1, j = i;

	t->e[i].used = 0;
	t->n--;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!t->e[j].used)
			return;
		home = key_hash(t->e[j].key, t->cap);
		/* Move e[j] into the hole when its home is not in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->e[i] = t->e[j];
			t->e[j].used = 0;
			i = j;
		}
	}
}

static int idle(const struct addr_entry *e, int64_t now)
{
	return e->conns == 0 && e->window_end <= now;
}

static void release_if_idle(struct ctl_addrs *t, struct addr_entry *e)
{
	if (idle(e, ctl_mono_s()))
		remove_at(t, (size_t)(e - t->e));
}

/* Drop every entry that holds nothing any more. */
static void sweep(struct ctl_addrs *t)
{
	int64_t now = ctl_mono_s();
	size_t i = 0;

	while (i < t->cap) {
		if (t->e[i].used && idle(&t->e[i], now))
			remove_at(t, i); /* slot i may now hold a shifted entry */
		else
			i++;
	}
}

/* The entry of key, created when absent; NULL when the table is full. */
static struct addr_entry *get(struct ctl_addrs *t, const unsigned char key[16])
{
	struct addr_entry *e = find(t, key);
	size_t i;

	if (e)
		return e;
	if (t->n + 1 > t->cap / 2)
		sweep(t);
	if (t->n + 1 > t->cap / 2)
		return NULL;
	i = key_hash(key, t->cap);
	while (t->e[i].used)
		i = (i + 1) & (t->cap - 1);
	memset(&t->e[i], 0, sizeof(t->e[i]));
	memcpy(t->e[i].key, key, 16);
	t->e[i].used = 1;
	t->n++;
	return &t->e[i];
}

int ctl_addrs_conn_add(struct ctl_addrs *t, const unsigned char key[16])
{
	struct addr_entry *e = get(t, key);

	if (!e)
		return PV_EBUSY;
	if (e->conns >= t->max_conns_per_addr) {
		release_if_idle(t, e);
		return PV_EBUSY;
	}
	e->conns++;
	return 0;
}

void ctl_addrs_conn_del(struct ctl_addrs *t, const unsigned char key[16])
{
	struct addr_entry *e = find(t, key);

	if (!e || e->conns == 0)
		return;
	e->conns--;
	release_if_idle(t, e);
}

long ctl_addrs_auth_blocked(struct ctl_addrs *t, const unsigned char key[16])
{
	struct addr_entry *e = find(t, key);
	int64_t now = ctl_mono_s();

	if (!e || e->window_end <= now || e->fails < (uint32_t)t->fail_max)
		return 0;
	return (long)(e->window_end - now);
}

int ctl_addrs_auth_failed(struct ctl_addrs *t, const unsigned char key[16], long *retry_s)
{
	struct addr_entry *e = get(t, key);
	int64_t now = ctl_mono_s();

	*retry_s = 0;
	if (!e) {
		if (!t->full_logged)
			ctl_log("auth limiter: address table full; failures of new addresses "
			        "are not counted until entries expire");
		t->full_logged = 1;
		return 0;
	}
	t->full_logged = 0;
	if (e->window_end <= now) {
		e->window_end = now + t->fail_window_s;
		e->fails = 0;
	}
	e->fails++;
	if (e->fails < (uint32_t)t->fail_max)
		return 0;
	*retry_s = (long)(e->window_end - now);
	/* 1 = this failure started the block: the caller logs it once per window. */
	if (e->logged_end == e->window_end)
		return 2;
	e->logged_end = e->window_end;
	return 1;
}
