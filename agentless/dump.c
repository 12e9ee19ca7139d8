/* SPDX-License-Identifier: MIT */
/*
 * Strict parser of `wg show IFACE dump` (wireguard-tools src/show.c format):
 * interface line  private-key, public-key, listen-port, fwmark;
 * peer lines      public-key, preshared-key, endpoint, allowed-ips,
 *                 latest-handshake, rx, tx, persistent-keepalive.
 * Untrusted text from a server: exact field counts, numbers with end and
 * range checks, canonical keys.  The private key and PSKs are never stored
 * (the remote script masks them before they leave the server anyway).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentless_int.h"

#define MAX_FIELDS  8
#define MAX_PEERS   65536
#define MAX_LINELEN 4096

static int fail(char *err, size_t errlen, size_t lineno, const char *what)
{
	snprintf(err, errlen, "wg show dump: line %zu: %s", lineno, what);
	return PV_EINVAL;
}

/* Split line (NUL-terminated, modified) at tabs; returns the field count. */
static size_t split_tabs(char *line, char *fields[MAX_FIELDS + 1])
{
	size_t n = 0;

	for (;;) {
		char *tab = strchr(line, '\t');

		if (n <= MAX_FIELDS)
			fields[n] = line;
		n++;
		if (!tab)
			return n;
		*tab = '\0';
		line = tab + 1;
	}
}

/* Decimal unsigned, no sign, no spaces, fits in max. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int copy_field(char *dst, size_t dstlen, const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= dstlen || strpbrk(s, " \r\n"))
		return -1;
	memcpy(dst, s, n + 1);
	return 0;
}

static int parse_iface(struct agentless_dump *d, char **f, size_t nf, size_t lineno, char *err,
                       size_t errlen)
{
	uint64_t port, fwmark;

	if (nf != 4)
		return fail(err, errlen, lineno, "interface line needs 4 fields");
	if (!*f[0])
		return fail(err, errlen, lineno, "empty private-key field");
	if (!pv_key_is_valid_base64(f[1]) && strcmp(f[1], "(none)") != 0)
		return fail(err, errlen, lineno, "bad public key");
	if (parse_u64(f[2], 65535, &port) < 0)
		return fail(err, errlen, lineno, "bad listen port");
	if (strcmp(f[3], "off") != 0 && parse_u64(f[3], UINT32_MAX, &fwmark) < 0)
		return fail(err, errlen, lineno, "bad fwmark");
	snprintf(d->iface_pubkey, sizeof(d->iface_pubkey), "%s", f[1]);
	d->listen_port = (unsigned)port;
	return 0;
}

static int parse_peer(struct agentless_peer *p, char **f, size_t nf, size_t lineno, char *err,
                      size_t errlen)
{
	uint64_t hs, ka;

	if (nf != 8)
		return fail(err, errlen, lineno, "peer line needs 8 fields");
	if (!pv_key_is_valid_base64(f[0]))
		return fail(err, errlen, lineno, "bad peer public key");
	memcpy(p->pubkey, f[0], PV_KEY_B64_LEN + 1);
	if (!*f[1])
		return fail(err, errlen, lineno, "empty preshared-key field");
	if (copy_field(p->endpoint, sizeof(p->endpoint), f[2]) < 0)
		return fail(err, errlen, lineno, "bad endpoint");
	if (copy_field(p->allowed_ips, sizeof(p->allowed_ips), f[3]) < 0)
		return fail(err, errlen, lineno, "bad allowed-ips");
	if (parse_u64(f[4], INT64_MAX, &hs) < 0)
		return fail(err, errlen, lineno, "bad latest-handshake");
	p->latest_handshake = (int64_t)hs;
	if (parse_u64(f[5], UINT64_MAX, &p->rx_bytes) < 0)
		return fail(err, errlen, lineno, "bad transfer-rx");
	if (parse_u64(f[6], UINT64_MAX, &p->tx_bytes) < 0)
		return fail(err, errlen, lineno, "bad transfer-tx");
	if (strcmp(f[7], "off") != 0 && parse_u64(f[7], 65535, &ka) < 0)
		return fail(err, errlen, lineno, "bad persistent-keepalive");
	return 0;
}

void agentless_dump_free(struct agentless_dump *dump)
{
	if (!dump)
		return;
	free(dump->peers);
	free(dump);
}

int al_dump_parse(struct agentless_dump **out, const char *text, size_t len, char *err,
                  size_t errlen)
{
	struct agentless_dump *d = calloc(1, sizeof(*d));
	size_t lineno = 0, cap = 0, pos = 0;
	int r = PV_ENOMEM;

	*out = NULL;
	if (!d)
		goto out;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char line[MAX_LINELEN], *f[MAX_FIELDS + 1];
		size_t nf;

		lineno++;
		r = PV_EINVAL;
		if (n >= sizeof(line) || memchr(text + pos, '\0', n)) {
			fail(err, errlen, lineno, "line too long or contains NUL");
			goto out;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + (nl ? 1 : 0);
		nf = split_tabs(line, f);
		if (lineno == 1) {
			r = parse_iface(d, f, nf, lineno, err, errlen);
			if (r < 0)
				goto out;
			continue;
		}
		if (d->n == cap) {
			struct agentless_peer *np;

			cap = cap ? cap * 2 : 16;
			if (cap > MAX_PEERS) {
				fail(err, errlen, lineno, "too many peers");
				goto out;
			}
			np = realloc(d->peers, cap * sizeof(*np));
			r = PV_ENOMEM;
			if (!np)
				goto out;
			d->peers = np;
		}
		r = parse_peer(&d->peers[d->n], f, nf, lineno, err, errlen);
		if (r < 0)
			goto out;
		d->n++;
	}
	if (lineno == 0) {
		r = fail(err, errlen, 1, "no interface line");
		goto out;
	}
	*out = d;
	d = NULL;
	r = 0;
out:
	agentless_dump_free(d);
	return r;
}
