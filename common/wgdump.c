/* SPDX-License-Identifier: MIT */
/*
 * The one parser of `wg show IFACE dump` (wireguard-tools src/show.c), used
 * by the controller on a server's dump and by vpnctl on its own interface:
 *   interface line  private-key, public-key, listen-port, fwmark
 *   peer lines      public-key, preshared-key, endpoint, allowed-ips,
 *                   latest-handshake, rx, tx, persistent-keepalive
 * wg prints the fwmark as "0x%x" or "off", and the keepalive in decimal
 * seconds or "off".  The text is untrusted (a server's) and holds secrets (a
 * private key, PSKs): exact field counts, numbers with end and range checks,
 * canonical keys; the secret fields are never copied and the working copy of
 * each line is cleansed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "pv.h"

#define MAX_FIELDS  8
#define MAX_PEERS   65536
#define MAX_LINELEN 8192

static int fail(char *err, size_t errlen, size_t lineno, const char *what)
{
	snprintf(err, errlen, "wg show dump: line %zu: %s", lineno, what);
	return PV_EINVAL;
}

/* Split line (modified in place) at tabs; returns the field count. */
static size_t split_tabs(char *line, char *fields[MAX_FIELDS])
{
	size_t n = 0;

	for (;;) {
		char *tab = strchr(line, '\t');

		if (n < MAX_FIELDS)
			fields[n] = line;
		n++;
		if (!tab)
			return n;
		*tab = '\0';
		line = tab + 1;
	}
}

/* "off" or a number in base (wg's fwmark "0x1a", keepalive "25"). */
static int parse_off_or(const char *s, int base, uint64_t max, uint64_t *out)
{
	*out = 0;
	if (strcmp(s, "off") == 0)
		return 0;
	if (base == 16) {
		if (strncmp(s, "0x", 2) != 0)
			return PV_EINVAL;
		s += 2;
	}
	return pv_parse_u64(s, base, max, out);
}

static int text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	return n > 0 && n < max && !strpbrk(s, " \r");
}

static int parse_iface(struct pv_wg_dump *d, char **f, size_t nf, char *err, size_t errlen)
{
	uint64_t port, mark;

	if (nf != 4)
		return fail(err, errlen, 1, "interface line needs 4 fields");
	if (!*f[0])
		return fail(err, errlen, 1, "empty private-key field");
	if (strcmp(f[1], "(none)") != 0 && !pv_key_is_valid_base64(f[1]))
		return fail(err, errlen, 1, "bad public key");
	if (pv_parse_u64(f[2], 10, 65535, &port) < 0)
		return fail(err, errlen, 1, "bad listen port");
	if (parse_off_or(f[3], 16, UINT32_MAX, &mark) < 0)
		return fail(err, errlen, 1, "bad fwmark (want 0x<hex> or off)");
	snprintf(d->pubkey, sizeof(d->pubkey), "%s", strcmp(f[1], "(none)") ? f[1] : "");
	d->listen_port = (unsigned)port;
	d->fwmark = (uint32_t)mark;
	return 0;
}

static int parse_peer(struct pv_wg_peer *p, char **f, size_t nf, size_t lineno, char *err,
                      size_t errlen)
{
	uint64_t hs, ka;

	if (nf != 8)
		return fail(err, errlen, lineno, "peer line needs 8 fields");
	if (!pv_key_is_valid_base64(f[0]))
		return fail(err, errlen, lineno, "bad peer public key");
	if (!*f[1])
		return fail(err, errlen, lineno, "empty preshared-key field");
	if (!text_ok(f[2], sizeof(p->endpoint)))
		return fail(err, errlen, lineno, "bad endpoint");
	if (!text_ok(f[3], MAX_LINELEN))
		return fail(err, errlen, lineno, "bad allowed-ips");
	if (pv_parse_u64(f[4], 10, INT64_MAX, &hs) < 0)
		return fail(err, errlen, lineno, "bad latest-handshake");
	if (pv_parse_u64(f[5], 10, UINT64_MAX, &p->rx_bytes) < 0)
		return fail(err, errlen, lineno, "bad transfer-rx");
	if (pv_parse_u64(f[6], 10, UINT64_MAX, &p->tx_bytes) < 0)
		return fail(err, errlen, lineno, "bad transfer-tx");
	if (parse_off_or(f[7], 10, 65535, &ka) < 0)
		return fail(err, errlen, lineno, "bad persistent-keepalive");
	p->allowed_ips = strdup(f[3]);
	if (!p->allowed_ips)
		return PV_ENOMEM;
	memcpy(p->pubkey, f[0], PV_KEY_B64_LEN + 1);
	snprintf(p->endpoint, sizeof(p->endpoint), "%s", f[2]);
	p->latest_handshake = (int64_t)hs;
	p->keepalive = (unsigned)ka;
	return 0;
}

void pv_wg_dump_free(struct pv_wg_dump *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++)
		free(d->peers[i].allowed_ips);
	free(d->peers);
	free(d);
}

static int grow(struct pv_wg_dump *d, size_t *cap)
{
	struct pv_wg_peer *np;
	size_t want = *cap ? *cap * 2 : 16;

	if (d->n < *cap)
		return 0;
	if (want > MAX_PEERS)
		return PV_EINVAL;
	np = realloc(d->peers, want * sizeof(*np));
	if (!np)
		return PV_ENOMEM;
	d->peers = np;
	*cap = want;
	return 0;
}

/* Parse line number lineno (NUL-terminated copy) into d. */
static int parse_line(struct pv_wg_dump *d, size_t *cap, char *line, size_t lineno, char *err,
                      size_t errlen)
{
	char *f[MAX_FIELDS];
	size_t nf = split_tabs(line, f);
	int r;

	if (lineno == 1)
		return parse_iface(d, f, nf, err, errlen);
	if ((r = grow(d, cap)) < 0)
		return r == PV_EINVAL ? fail(err, errlen, lineno, "too many peers") : r;
	memset(&d->peers[d->n], 0, sizeof(d->peers[d->n]));
	if ((r = parse_peer(&d->peers[d->n], f, nf, lineno, err, errlen)) < 0)
		return r;
	d->n++;
	return 0;
}

int pv_wg_dump_parse(struct pv_wg_dump **out, const char *text, size_t len, char *err,
                     size_t errlen)
{
	struct pv_wg_dump *d = calloc(1, sizeof(*d));
	char *line = malloc(MAX_LINELEN);
	size_t lineno = 0, cap = 0, pos = 0;
	int r = PV_ENOMEM;

	*out = NULL;
	if (!d || !line)
		goto out;
	while ((r = pv_line_next(text, len, &pos, line, MAX_LINELEN)) > 0)
		if ((r = parse_line(d, &cap, line, ++lineno, err, errlen)) < 0)
			goto out;
	if (r < 0) {
		r = fail(err, errlen, lineno + 1, "line too long or contains NUL");
		goto out;
	}
	if (lineno == 0) {
		r = fail(err, errlen, 1, "no interface line");
		goto out;
	}
	*out = d;
	d = NULL;
	r = 0;
out:
	if (line)
		OPENSSL_clear_free(line, MAX_LINELEN);
	pv_wg_dump_free(d);
	return r;
}
