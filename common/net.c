/* SPDX-License-Identifier: MIT */
/*
 * IP addresses and CIDR blocks as strict values: parse (inet_pton plus a
 * canonical prefix length, nothing else on the line), format (inet_ntop, so
 * what is written is never the input text), and comma-separated lists in
 * wg-quick's syntax.  vpnctl checks every address the controller sends with
 * these; the controller can check its configured lists the same way.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "pv.h"

static unsigned family_bits(int family)
{
	return family == AF_INET ? 32u : 128u;
}

/* "0".."max" without sign, blanks or leading zeros. */
static int parse_prefix(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 3 || strspn(s, "0123456789") != n || (n > 1 && s[0] == '0'))
		return PV_EINVAL;
	for (; *s; s++)
		v = v * 10u + (unsigned)(*s - '0');
	if (v > max)
		return PV_EINVAL;
	*out = v;
	return 0;
}

/* 1 if every bit of addr after the first `prefix` bits is zero. */
static int host_bits_zero(const struct pv_cidr *c)
{
	unsigned bytes = family_bits(c->family) / 8u, i;

	for (i = 0; i < bytes; i++) {
		unsigned keep = c->prefix >= (i + 1) * 8u ? 8u
		                : c->prefix > i * 8u      ? c->prefix - i * 8u
		                                          : 0u;
		uint8_t mask = (uint8_t)(keep ? 0xffu << (8u - keep) : 0u);

		if (c->addr[i] & (uint8_t)~mask)
			return 0;
	}
	return 1;
}

int pv_cidr_parse(struct pv_cidr *out, const char *s, unsigned flags)
{
	char buf[PV_CIDR_STRLEN];
	const char *slash;
	struct pv_cidr c;
	size_t n = strlen(s);

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	if (n == 0 || n >= sizeof(buf))
		return PV_EINVAL;
	memcpy(buf, s, n + 1);
	slash = strchr(buf, '/');
	if (slash)
		buf[slash - buf] = '\0';
	c.family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(c.family, buf, c.addr) != 1)
		return PV_EINVAL;
	if (slash ? (flags & PV_CIDR_NO_PREFIX) != 0 : (flags & PV_CIDR_BARE) == 0)
		return PV_EINVAL;
	if (!slash)
		c.prefix = family_bits(c.family);
	else if (parse_prefix(buf + (slash - buf) + 1, family_bits(c.family), &c.prefix) < 0)
		return PV_EINVAL;
	if ((flags & PV_CIDR_NETWORK) && !host_bits_zero(&c))
		return PV_EINVAL;
	*out = c;
	return 0;
}

int pv_cidr_format(char *out, size_t len, const struct pv_cidr *c, int with_prefix)
{
	char addr[INET6_ADDRSTRLEN];
	int n;

	if ((c->family != AF_INET && c->family != AF_INET6) ||
	    !inet_ntop(c->family, c->addr, addr, sizeof(addr)))
		return PV_EINVAL;
	n = with_prefix ? snprintf(out, len, "%s/%u", addr, c->prefix)
	                : snprintf(out, len, "%s", addr);
	return n >= 0 && (size_t)n < len ? 0 : PV_EINVAL;
}

int pv_cidr_list_parse(struct pv_cidr *out, size_t max, size_t *n, const char *list, unsigned flags)
{
	const char *p = list;

	*n = 0;
	while (*p == ' ')
		p++;
	if (!*p)
		return (flags & PV_CIDR_LIST_EMPTY) ? 0 : PV_EINVAL;
	for (;;) {
		char item[PV_CIDR_STRLEN];
		size_t len = strcspn(p, ", ");
		int r;

		if (*n == max || len == 0 || len >= sizeof(item))
			return PV_EINVAL;
		memcpy(item, p, len);
		item[len] = '\0';
		if ((r = pv_cidr_parse(&out[*n], item, flags)) < 0)
			return r;
		(*n)++;
		p += len;
		while (*p == ' ')
			p++;
		if (!*p)
			return 0;
		if (*p++ != ',')
			return PV_EINVAL;
		while (*p == ' ')
			p++;
	}
}

int pv_cidr_list_format(char *out, size_t len, const struct pv_cidr *c, size_t n, int with_prefix)
{
	size_t used = 0, i;

	if (len == 0)
		return PV_EINVAL;
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i) {
			if (len - used < 3)
				return PV_EINVAL;
			memcpy(out + used, ", ", 3);
			used += 2;
		}
		if (pv_cidr_format(out + used, len - used, &c[i], with_prefix) < 0)
			return PV_EINVAL;
		used += strlen(out + used);
	}
	return 0;
}
