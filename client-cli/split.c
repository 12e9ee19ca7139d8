/* SPDX-License-Identifier: MIT */
/*
 * Split tunnelling: the AllowedIPs of the tunnel computed exactly from the
 * controller's list, --include, --exclude and --allow-lan.  Sets of CIDRs are
 * kept as disjoint prefixes; subtracting a prefix from a larger one replaces
 * it by the siblings along the path to it, which is the minimal complement
 * (0.0.0.0/0 minus 10.0.0.0/8 is 0.0.0.0/5, 8.0.0.0/7, 11.0.0.0/8, ...).
 * The WireGuard endpoint and the controller are always taken out again, so
 * the tunnel's own packets and vpnctl's API calls never enter the tunnel.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "vpnctl.h"

/* RFC 1918, link-local, multicast and broadcast; IPv6 ULA, link-local, multicast. */
static const char *const lan_ranges[] = {
        "10.0.0.0/8",         "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "224.0.0.0/4",
        "255.255.255.255/32", "fc00::/7",      "fe80::/10",      "ff00::/8",
};

static unsigned bits_of(int family)
{
	return family == AF_INET ? 32u : 128u;
}

static int bit_at(const uint8_t *addr, unsigned i)
{
	return (addr[i / 8u] >> (7u - i % 8u)) & 1;
}

/* Zero every bit from position `from` on. */
static void clear_from(uint8_t *addr, unsigned from, unsigned total)
{
	unsigned i;

	for (i = from; i < total; i++)
		addr[i / 8u] &= (uint8_t) ~(0x80u >> (i % 8u));
}

int vpnctl_cidr_contains(const struct pv_cidr *outer, const struct pv_cidr *inner)
{
	unsigned i;

	if (outer->family != inner->family || outer->prefix > inner->prefix)
		return 0;
	for (i = 0; i < outer->prefix; i++)
		if (bit_at(outer->addr, i) != bit_at(inner->addr, i))
			return 0;
	return 1;
}

static int cidr_cmp(const void *pa, const void *pb)
{
	const struct pv_cidr *a = pa, *b = pb;
	int c;

	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	c = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (c)
		return c;
	return a->prefix < b->prefix ? -1 : a->prefix > b->prefix;
}

void vpnctl_cidr_normalize(struct pv_cidr *set, size_t *n)
{
	size_t i, j, out = 0;

	for (i = 0; i < *n; i++)
		clear_from(set[i].addr, set[i].prefix, bits_of(set[i].family));
	qsort(set, *n, sizeof(*set), cidr_cmp);
	/* Sorted by address then prefix: a covering entry comes before what it covers. */
	for (i = 0; i < *n; i++) {
		for (j = 0; j < out; j++)
			if (vpnctl_cidr_contains(&set[j], &set[i]))
				break;
		if (j == out)
			set[out++] = set[i];
	}
	*n = out;
}

int vpnctl_cidr_subtract(struct pv_cidr *set, size_t *n, size_t max, const struct pv_cidr *x)
{
	size_t i = 0;
	unsigned p;

	while (i < *n) {
		struct pv_cidr c = set[i];

		if (vpnctl_cidr_contains(x, &c)) {
			set[i] = set[--*n];
			continue;
		}
		if (!vpnctl_cidr_contains(&c, x)) {
			i++;
			continue;
		}
		/* c strictly contains x: c becomes the siblings of x's path below c. */
		if (*n - 1 + (x->prefix - c.prefix) > max)
			return PV_EINVAL;
		set[i] = set[--*n];
		for (p = c.prefix; p < x->prefix; p++) {
			struct pv_cidr piece = *x;

			piece.addr[p / 8u] ^= (uint8_t)(0x80u >> (p % 8u));
			clear_from(piece.addr, p + 1, bits_of(x->family));
			piece.prefix = p + 1;
			set[(*n)++] = piece;
		}
		break; /* the set is disjoint: no other entry meets x */
	}
	qsort(set, *n, sizeof(*set), cidr_cmp);
	return 0;
}

int vpnctl_cidr_intersect(struct pv_cidr *out, size_t *n, size_t max, const struct pv_cidr *a,
                          size_t na, const struct pv_cidr *b, size_t nb)
{
	size_t i, j;

	*n = 0;
	for (i = 0; i < na; i++)
		for (j = 0; j < nb; j++) {
			const struct pv_cidr *inner = vpnctl_cidr_contains(&a[i], &b[j])   ? &b[j]
			                              : vpnctl_cidr_contains(&b[j], &a[i]) ? &a[i]
			                                                                   : NULL;

			if (!inner)
				continue;
			if (*n == max)
				return PV_EINVAL;
			out[(*n)++] = *inner;
		}
	vpnctl_cidr_normalize(out, n);
	return 0;
}

/* Subtract every entry of xs from set, except the parts inside keep. */
static int subtract_all_but(struct pv_cidr *set, size_t *n, size_t max, const struct pv_cidr *xs,
                            size_t nx, const struct pv_cidr *keep, size_t nkeep)
{
	struct pv_cidr pieces[VPNCTL_MAX_ALLOWED];
	size_t i, j, np;
	int r;

	for (i = 0; i < nx; i++) {
		pieces[0] = xs[i];
		np = 1;
		for (j = 0; j < nkeep; j++)
			if ((r = vpnctl_cidr_subtract(pieces, &np, VPNCTL_MAX_ALLOWED, &keep[j])) <
			    0)
				return r;
		for (j = 0; j < np; j++)
			if ((r = vpnctl_cidr_subtract(set, n, max, &pieces[j])) < 0)
				return r;
	}
	return 0;
}

int vpnctl_split_apply(struct pv_cidr *allowed, size_t *n, size_t max,
                       const struct vpnctl_split *sp, const struct pv_cidr *tunnel, size_t ntunnel,
                       const struct pv_cidr *bypass, size_t nbypass)
{
	struct pv_cidr lan[sizeof(lan_ranges) / sizeof(lan_ranges[0])];
	struct pv_cidr want[VPNCTL_MAX_SPLIT + VPNCTL_MAX_ADDRS], base[VPNCTL_MAX_ALLOWED];
	size_t i, nwant, nbase;
	int r;

	vpnctl_cidr_normalize(allowed, n);
	if (sp->n_include) {
		/* Only these, and the tunnel's own subnets, within what the controller allows. */
		memcpy(want, sp->include, sp->n_include * sizeof(*want));
		nwant = sp->n_include;
		memcpy(want + nwant, tunnel, ntunnel * sizeof(*want));
		nwant += ntunnel;
		nbase = *n;
		memcpy(base, allowed, nbase * sizeof(*base));
		if ((r = vpnctl_cidr_intersect(allowed, n, max, base, nbase, want, nwant)) < 0)
			return r;
	}
	if ((r = subtract_all_but(allowed, n, max, sp->exclude, sp->n_exclude, tunnel, ntunnel)) <
	    0)
		return r;
	if (sp->allow_lan) {
		for (i = 0; i < sizeof(lan) / sizeof(lan[0]); i++)
			pv_cidr_parse(&lan[i], lan_ranges[i], PV_CIDR_NETWORK);
		if ((r = subtract_all_but(allowed, n, max, lan, sizeof(lan) / sizeof(lan[0]),
		                          tunnel, ntunnel)) < 0)
			return r;
	}
	return subtract_all_but(allowed, n, max, bypass, nbypass, tunnel, ntunnel);
}

int vpnctl_split_active(const struct vpnctl_split *sp)
{
	return sp->n_include || sp->n_exclude || sp->allow_lan;
}

int vpnctl_resolve_host(const char *host, struct pv_cidr *out, size_t max, size_t *n)
{
	struct addrinfo hints, *res = NULL, *ai;

	*n = 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return PV_EUNREACH;
	for (ai = res; ai && *n < max; ai = ai->ai_next) {
		struct pv_cidr *c = &out[*n];

		memset(c, 0, sizeof(*c));
		c->family = ai->ai_family;
		if (ai->ai_family == AF_INET)
			memcpy(c->addr, &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr, 4);
		else if (ai->ai_family == AF_INET6)
			memcpy(c->addr, &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr,
			       16);
		else
			continue;
		c->prefix = bits_of(c->family);
		(*n)++;
	}
	freeaddrinfo(res);
	return *n ? 0 : PV_EUNREACH;
}

/* The controller's host from its URL, without IPv6 brackets. */
static int api_host(const char *url, char *host, size_t len)
{
	CURLU *u = curl_url();
	char *h = NULL;
	int r = PV_EINVAL;
	size_t n;

	if (!u)
		return PV_ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK) {
		n = strlen(h);
		if (n > 2 && h[0] == '[' && h[n - 1] == ']')
			r = snprintf(host, len, "%.*s", (int)(n - 2), h + 1) < (int)len ? 0
			                                                                : PV_EINVAL;
		else
			r = snprintf(host, len, "%s", h) < (int)len ? 0 : PV_EINVAL;
	}
	curl_free(h);
	curl_url_cleanup(u);
	return r;
}

int vpnctl_split_for_tunnel(struct vpnctl_tunnel_spec *s, const struct vpnctl_split *sp,
                            const char *api_url, char *err, size_t errlen)
{
	struct pv_cidr tunnel[VPNCTL_MAX_ADDRS], bypass[32];
	char host[VPNCTL_ENDPOINT_LEN];
	size_t i, nb = 0, k;

	for (i = 0; i < s->n_address; i++) {
		tunnel[i] = s->address[i];
		clear_from(tunnel[i].addr, tunnel[i].prefix, bits_of(tunnel[i].family));
	}
	if (vpnctl_endpoint_host(host, sizeof(host), s->endpoint) < 0 ||
	    vpnctl_resolve_host(host, bypass, 16, &nb) < 0) {
		snprintf(err, errlen,
		         "cannot resolve the endpoint %s to keep it outside the tunnel",
		         s->endpoint);
		return PV_EUNREACH;
	}
	if (api_host(api_url, host, sizeof(host)) < 0 ||
	    vpnctl_resolve_host(host, bypass + nb, 16, &k) < 0) {
		snprintf(err, errlen,
		         "cannot resolve the controller (%s) to keep it outside the tunnel",
		         api_url);
		return PV_EUNREACH;
	}
	nb += k;
	if (vpnctl_split_apply(s->allowed, &s->n_allowed, VPNCTL_MAX_ALLOWED, sp, tunnel,
	                       s->n_address, bypass, nb) < 0) {
		snprintf(err, errlen, "the split rules need more than %d AllowedIPs entries",
		         VPNCTL_MAX_ALLOWED);
		return PV_EINVAL;
	}
	if (s->n_allowed == 0) {
		snprintf(err, errlen, "the split rules leave nothing to send through the tunnel");
		return PV_EINVAL;
	}
	return 0;
}
