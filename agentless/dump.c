/* SPDX-License-Identifier: MIT */
/*
 * What the remote script's dump mode returns (remote.sh): the server's
 * `wg show IFACE dump` with its secrets masked, parsed by the one dump
 * parser in common/, then a "privatevpn-conf" line and one line per [Peer]
 * section of IFACE.conf:
 *     peer <TAB> NAME <TAB> PUBKEY <TAB> ALLOWEDIPS
 * NAME is the BEGIN_PEER block's name or "(none)" for a section outside any
 * block; PUBKEY and ALLOWEDIPS are "(none)" when the section has none.
 * Last, "pskof <TAB> NAME <TAB> PSK" for each block whose PSK the request
 * asked for (kept in dump->psks, cleansed when freed).
 * Untrusted text: every field is checked; nothing but names, keys and
 * addresses is kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "agentless_int.h"

#define CONF_MARK   "\nprivatevpn-conf\n"
#define MAX_BLOCKS  65536
#define MAX_LINELEN 8192

void agentless_dump_free(struct agentless_dump *dump)
{
	size_t i;

	if (!dump)
		return;
	pv_wg_dump_free(dump->live);
	for (i = 0; i < dump->nblocks; i++)
		free(dump->blocks[i].allowed_ips);
	free(dump->blocks);
	if (dump->psks)
		OPENSSL_clear_free(dump->psks, dump->npsks * sizeof(*dump->psks));
	free(dump);
}

static int conf_fail(char *err, size_t errlen, size_t lineno, const char *what)
{
	snprintf(err, errlen, "wg0.conf listing: line %zu: %s", lineno, what);
	return PV_EINVAL;
}

/* "peer NAME KEY IPS" (tab-separated, modified in place) into b. */
static int parse_block(struct agentless_block *b, char *line, size_t lineno, char *err,
                       size_t errlen)
{
	char *f[4], *p = line;
	size_t n;

	for (n = 0; n < 4; n++) {
		f[n] = p;
		p = strchr(p, '\t');
		if (!p)
			break;
		*p++ = '\0';
	}
	if (n != 3 || strcmp(f[0], "peer") != 0)
		return conf_fail(err, errlen, lineno, "want: peer NAME KEY ALLOWEDIPS");
	if (strcmp(f[1], "(none)") != 0 && !pv_peer_name_is_valid(f[1]))
		return conf_fail(err, errlen, lineno, "bad block name");
	if (strcmp(f[2], "(none)") != 0 && !pv_key_is_valid_base64(f[2]))
		return conf_fail(err, errlen, lineno, "bad public key");
	if (!*f[3] || strpbrk(f[3], " \r\t"))
		return conf_fail(err, errlen, lineno, "bad allowed-ips");
	b->allowed_ips = strdup(strcmp(f[3], "(none)") ? f[3] : "");
	if (!b->allowed_ips)
		return PV_ENOMEM;
	snprintf(b->name, sizeof(b->name), "%s", strcmp(f[1], "(none)") ? f[1] : "");
	snprintf(b->pubkey, sizeof(b->pubkey), "%s", strcmp(f[2], "(none)") ? f[2] : "");
	return 0;
}

/* "pskof NAME PSK": one PSK the request asked for (line modified in place). */
static int parse_psk(struct agentless_dump *d, char *line, size_t lineno, char *err, size_t errlen)
{
	char *name = line + 6, *psk = strchr(name, '\t');
	struct agentless_psk *np;
	int r = PV_EINVAL;

	if (!psk)
		return conf_fail(err, errlen, lineno, "want: pskof NAME PSK");
	*psk++ = '\0';
	if (!pv_peer_name_is_valid(name))
		return conf_fail(err, errlen, lineno, "bad block name");
	np = realloc(d->psks, (d->npsks + 1) * sizeof(*np));
	if (!np)
		return PV_ENOMEM;
	d->psks = np;
	memset(&np[d->npsks], 0, sizeof(*np));
	memcpy(np[d->npsks].name, name, strlen(name) + 1); /* checked: at most 15 */
	if (pv_key_from_base64(np[d->npsks].psk, psk) == 0) {
		d->npsks++;
		r = 0;
	}
	OPENSSL_cleanse(psk, strlen(psk));
	return r < 0 ? conf_fail(err, errlen, lineno, "bad PSK") : 0;
}

static int parse_blocks(struct agentless_dump *d, const char *text, size_t len, char *err,
                        size_t errlen)
{
	size_t pos = 0, lineno = 0, cap = 0;
	char line[MAX_LINELEN];
	int r;

	while ((r = pv_line_next(text, len, &pos, line, sizeof(line))) > 0) {
		lineno++;
		if (strncmp(line, "pskof\t", 6) == 0) {
			r = parse_psk(d, line, lineno, err, errlen);
			OPENSSL_cleanse(line, sizeof(line));
			if (r < 0)
				return r;
			continue;
		}
		if (d->nblocks == cap) {
			struct agentless_block *nb;

			cap = cap ? cap * 2 : 16;
			if (cap > MAX_BLOCKS)
				return conf_fail(err, errlen, lineno, "too many peers");
			nb = realloc(d->blocks, cap * sizeof(*nb));
			if (!nb)
				return PV_ENOMEM;
			d->blocks = nb;
		}
		memset(&d->blocks[d->nblocks], 0, sizeof(d->blocks[0]));
		if ((r = parse_block(&d->blocks[d->nblocks], line, lineno, err, errlen)) < 0)
			return r;
		d->nblocks++;
	}
	return r < 0 ? conf_fail(err, errlen, lineno + 1, "line too long or contains NUL") : 0;
}

int al_dump_parse(struct agentless_dump **out, const char *text, size_t len, char *err,
                  size_t errlen)
{
	struct agentless_dump *d = calloc(1, sizeof(*d));
	const char *mark = text ? memmem(text, len, CONF_MARK, strlen(CONF_MARK)) : NULL;
	size_t live_len = mark ? (size_t)(mark - text) + 1 : len;
	int r = PV_ENOMEM;

	*out = NULL;
	if (!d)
		goto out;
	if (!mark) {
		r = conf_fail(err, errlen, 0, "no privatevpn-conf section (old remote script?)");
		goto out;
	}
	if ((r = pv_wg_dump_parse(&d->live, text, live_len, err, errlen)) < 0)
		goto out;
	mark += strlen(CONF_MARK);
	if ((r = parse_blocks(d, mark, len - (size_t)(mark - text), err, errlen)) < 0)
		goto out;
	*out = d;
	d = NULL;
	r = 0;
out:
	agentless_dump_free(d);
	return r;
}

/* Grow *arr (n items of size sz) by m items; 0 or PV_ENOMEM (then *arr is unchanged). */
static int grow(void **arr, size_t n, size_t m, size_t sz)
{
	void *p;

	if (m == 0)
		return 0;
	p = realloc(*arr, (n + m) * sz);
	if (!p)
		return PV_ENOMEM;
	*arr = p;
	return 0;
}

int al_dump_merge(struct agentless_dump **acc, struct agentless_dump *part, unsigned iface)
{
	struct agentless_dump *a = *acc;
	size_t i;

	for (i = 0; i < part->live->n; i++)
		part->live->peers[i].iface = iface;
	for (i = 0; i < part->nblocks; i++)
		part->blocks[i].iface = iface;
	if (!a) {
		*acc = part;
		return 0;
	}
	/* Clients get one server key: an interface with another would refuse their handshakes. */
	if (strcmp(part->live->pubkey, a->live->pubkey) != 0) {
		agentless_dump_free(part);
		return PV_EINVAL;
	}
	if (grow((void **)&a->live->peers, a->live->n, part->live->n, sizeof(*a->live->peers)) < 0)
		goto nomem;
	if (grow((void **)&a->blocks, a->nblocks, part->nblocks, sizeof(*a->blocks)) < 0)
		goto nomem;
	/* PSKs: a fresh array (the old one is cleansed when freed, never left in a realloc). */
	if (part->npsks) {
		struct agentless_psk *psks = malloc((a->npsks + part->npsks) * sizeof(*psks));

		if (!psks)
			goto nomem;
		if (a->npsks)
			memcpy(psks, a->psks, a->npsks * sizeof(*psks));
		memcpy(psks + a->npsks, part->psks, part->npsks * sizeof(*psks));
		if (a->psks)
			OPENSSL_clear_free(a->psks, a->npsks * sizeof(*a->psks));
		a->psks = psks;
		a->npsks += part->npsks;
	}
	/* Ownership of the allowed_ips strings moves to a. */
	memcpy(a->live->peers + a->live->n, part->live->peers,
	       part->live->n * sizeof(*part->live->peers));
	a->live->n += part->live->n;
	part->live->n = 0;
	memcpy(a->blocks + a->nblocks, part->blocks, part->nblocks * sizeof(*part->blocks));
	a->nblocks += part->nblocks;
	part->nblocks = 0;
	agentless_dump_free(part);
	return 0;
nomem:
	agentless_dump_free(part);
	return PV_ENOMEM;
}

int agentless_dump_dup(struct agentless_dump **out, const struct agentless_dump *src)
{
	struct agentless_dump *d = calloc(1, sizeof(*d));
	size_t i;
	int r = PV_ENOMEM;

	*out = NULL;
	if (!d || !(d->live = calloc(1, sizeof(*d->live))))
		goto out;
	*d->live = *src->live;
	d->live->n = 0;
	d->live->peers = src->live->n ? calloc(src->live->n, sizeof(*d->live->peers)) : NULL;
	d->blocks = src->nblocks ? calloc(src->nblocks, sizeof(*d->blocks)) : NULL;
	if ((src->live->n && !d->live->peers) || (src->nblocks && !d->blocks))
		goto out;
	for (; d->live->n < src->live->n; d->live->n++) {
		struct pv_wg_peer *p = &d->live->peers[d->live->n];

		*p = src->live->peers[d->live->n];
		if (!(p->allowed_ips = strdup(p->allowed_ips)))
			goto out;
	}
	if (src->npsks) {
		if (!(d->psks = malloc(src->npsks * sizeof(*d->psks))))
			goto out;
		memcpy(d->psks, src->psks, src->npsks * sizeof(*d->psks));
		d->npsks = src->npsks;
	}
	for (i = 0; i < src->nblocks; i++, d->nblocks++) {
		d->blocks[i] = src->blocks[i];
		if (!(d->blocks[i].allowed_ips = strdup(src->blocks[i].allowed_ips)))
			goto out;
	}
	*out = d;
	d = NULL;
	r = 0;
out:
	agentless_dump_free(d);
	return r;
}
