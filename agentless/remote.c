/* SPDX-License-Identifier: MIT */
/*
 * The batch protocol of the remote script (remote.sh): validating edits,
 * encoding them onto the channel's stdin, parsing the per-op result lines.
 * Nothing from a user ever reaches a command line: the exec command is the
 * constant script, and this file only writes validated tokens to stdin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "agentless_int.h"

int al_buf_add(struct al_buf *b, const void *data, size_t n, size_t max)
{
	if (b->len + n + 1 > max)
		return PV_EINVAL;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		/* Not realloc: the old block may hold PSK lines, cleansed before it is freed. */
		p = malloc(cap);
		if (!p)
			return PV_ENOMEM;
		if (b->p) {
			memcpy(p, b->p, b->len + 1);
			OPENSSL_cleanse(b->p, b->cap);
			free(b->p);
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int al_buf_line(struct al_buf *b, const char *const *parts, size_t n)
{
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < n; i++)
		r = al_buf_add(b, parts[i], strlen(parts[i]), SIZE_MAX);
	return r < 0 ? r : al_buf_add(b, "\n", 1, SIZE_MAX);
}

void al_buf_free(struct al_buf *b, int secret)
{
	if (b->p && secret)
		OPENSSL_cleanse(b->p, b->cap);
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int al_edit_check(const struct pv_server *srv, const struct agentless_edit *e, char *err,
                  size_t errlen)
{
	if (e->op != AGENTLESS_ADD && e->op != AGENTLESS_REMOVE) {
		snprintf(err, errlen, "edit: unknown operation %d", (int)e->op);
		return PV_EINVAL;
	}
	if (!memchr(e->name, '\0', sizeof(e->name)) || !pv_peer_name_is_valid(e->name)) {
		snprintf(err, errlen,
		         "edit: field \"name\": not a peer name ([A-Za-z0-9_-]{1,15})");
		return PV_EINVAL;
	}
	if (!memchr(e->pubkey, '\0', sizeof(e->pubkey)) || !pv_key_is_valid_base64(e->pubkey)) {
		snprintf(err, errlen, "edit %s: field \"pubkey\": not a canonical WireGuard key",
		         e->name);
		return PV_EINVAL;
	}
	if (e->op == AGENTLESS_ADD && !pv_lease_valid(srv, e->host)) {
		snprintf(err, errlen,
		         "edit %s: field \"host\": lease %u is not host 2..254 of an interface",
		         e->name, e->host);
		return PV_EINVAL;
	}
	if (pv_lease_iface(e->host) >= (srv ? srv->n_ifaces : PV_IFACES_MAX)) {
		snprintf(err, errlen, "edit %s: field \"host\": lease %u names no interface",
		         e->name, e->host);
		return PV_EINVAL;
	}
	return 0;
}

int al_peer_addrs(const struct pv_server *srv, unsigned host, char v4[32], char v6[64])
{
	char a4[PV_ADDR4_MAX], a6[PV_ADDR6_MAX];
	int r = pv_peer_addrs(srv, host, a4, a6);

	if (r < 0)
		return r;
	snprintf(v4, 32, "%s/32", a4);
	snprintf(v6, 64, "%s/128", a6);
	return 0;
}

static int encode_header(struct al_buf *in, const struct pv_server *srv, size_t k, const char *mode)
{
	const char *header[] = {"privatevpn-batch 1"}, *iface[] = {"iface ", srv->ifaces[k].name};

	if (al_buf_line(in, header, 1) < 0 || al_buf_line(in, iface, 2) < 0)
		return PV_ENOMEM;
	return al_buf_line(in, &mode, 1);
}

static int encode_end(struct al_buf *in)
{
	const char *end = "end";

	return al_buf_line(in, &end, 1);
}

/* "add NAME KEY V4 V6" + "psk PSK", or "del NAME KEY". */
static int encode_edit(struct al_buf *in, const struct pv_server *srv,
                       const struct agentless_edit *e)
{
	char psk[PV_KEY_B64_LEN + 1], v4[32], v6[64];
	const char *del[] = {"del ", e->name, " ", e->pubkey};
	const char *add[] = {"add ", e->name, " ", e->pubkey, " ", v4, " ", v6};
	const char *psk_line[] = {"psk ", psk};
	int r;

	if (e->op == AGENTLESS_REMOVE)
		return al_buf_line(in, del, 4);
	if ((r = al_peer_addrs(srv, e->host, v4, v6)) < 0)
		return r;
	pv_key_to_base64(psk, e->psk);
	r = al_buf_line(in, add, 8);
	if (r == 0)
		r = al_buf_line(in, psk_line, 2);
	OPENSSL_cleanse(psk, sizeof(psk));
	return r;
}

int al_batch_encode(struct al_buf *in, const struct pv_server *srv,
                    const struct agentless_edit *edits, size_t n)
{
	unsigned k = n ? pv_lease_iface(edits[0].host) : 0;
	char err[128];
	size_t i;
	int r;

	if (k >= srv->n_ifaces)
		return PV_EINVAL;
	r = encode_header(in, srv, k, "edit");
	for (i = 0; r == 0 && i < n; i++) {
		r = al_edit_check(srv, &edits[i], err, sizeof(err));
		if (r == 0 && pv_lease_iface(edits[i].host) != k)
			r = PV_EINVAL;
		if (r == 0)
			r = encode_edit(in, srv, &edits[i]);
	}
	return r < 0 ? r : encode_end(in);
}

/* One interface's dump request. */
static int encode_dump(struct al_buf *in, const struct pv_server *srv, size_t k,
                       const char *psk_names)
{
	int r = encode_header(in, srv, k, "dump");
	const char *p = psk_names;

	while (r == 0 && *p) {
		size_t n = strcspn(p, "\n");
		char name[PV_PEER_NAME_MAX + 1];
		const char *line[] = {"psk ", name};

		snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : 0), p);
		if (pv_peer_name_is_valid(name))
			r = al_buf_line(in, line, 2);
		p += n + (p[n] ? 1 : 0);
	}
	return r < 0 ? r : encode_end(in);
}

int al_dump_encode(struct al_buf *in, const struct pv_server *srv, const char *psk_names)
{
	size_t k;
	int r;

	for (k = 0; k < srv->n_ifaces; k++)
		if ((r = encode_dump(in, srv, k, psk_names)) < 0)
			return r;
	return 0;
}

/* A "0"/"1" result flag, or -1. */
static int flag(char c)
{
	return c == '0' ? 0 : c == '1' ? 1 : -1;
}

/* "IDX ok F LA LD" or "IDX error CODE TEXT"; records the op, flags live needs. */
static void parse_op_line(const char *line, size_t n, struct al_op_result *res, int *seen,
                          unsigned char *live_add, unsigned char *live_del)
{
	char *end;
	unsigned long idx = strtoul(line, &end, 10);

	if (end == line || *end != ' ' || idx < 1 || idx > n || seen[idx - 1])
		return;
	seen[idx - 1] = 1;
	res += idx - 1;
	if (strlen(end) == 9 && strncmp(end, " ok ", 4) == 0 && flag(end[4]) >= 0 &&
	    end[5] == ' ' && flag(end[6]) >= 0 && end[7] == ' ' && flag(end[8]) >= 0) {
		res->err = 0;
		res->changed = flag(end[4]) || flag(end[6]) || flag(end[8]);
		live_add[idx - 1] = (unsigned char)flag(end[6]);
		live_del[idx - 1] = (unsigned char)flag(end[8]);
		return;
	}
	if (strncmp(end, " error conflict ", 16) == 0) {
		res->err = PV_EEXIST;
		snprintf(res->detail, sizeof(res->detail), "%s", end + 16);
	} else if (strncmp(end, " error inuse ", 13) == 0) {
		res->err = PV_EINUSE;
		snprintf(res->detail, sizeof(res->detail), "%s", end + 13);
	} else {
		res->err = PV_EREMOTE;
		snprintf(res->detail, sizeof(res->detail), "malformed result line");
	}
}

/*
 * A decimal number at *p ended by sep (' ' or '\0'), at most INT64_MAX;
 * moves *p past the separator.
 */
static int parse_count(const char **p, char sep, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (x > ((uint64_t)INT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	if (*s != sep)
		return -1;
	*v = x;
	*p = sep ? s + 1 : s;
	return 0;
}

/* "final IDX HANDSHAKE RX TX": a removed live peer's counters (see al_batch_parse). */
static void parse_final_line(const char *line, size_t n, struct al_op_result *res)
{
	const char *p = line + 6;
	uint64_t idx, hs, rx, tx;

	if (parse_count(&p, ' ', &idx) < 0 || parse_count(&p, ' ', &hs) < 0 ||
	    parse_count(&p, ' ', &rx) < 0 || parse_count(&p, '\0', &tx) < 0 || idx < 1 || idx > n ||
	    res[idx - 1].final.seen)
		return;
	res[idx - 1].final = (struct agentless_final){
	        .seen = 1, .latest_handshake = (int64_t)hs, .rx_bytes = rx, .tx_bytes = tx};
}

static void fail_live(struct al_op_result *res, size_t n, const unsigned char *flags,
                      const char *what, const char *errtext)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!flags[i] || res[i].err)
			continue;
		res[i].err = PV_EREMOTE;
		snprintf(res[i].detail, sizeof(res[i].detail), "%s failed: %s", what,
		         errtext && *errtext ? errtext : "(no stderr)");
	}
}

int al_batch_parse(const char *out, const char *errtext, size_t n, struct al_op_result *res)
{
	int *seen = calloc(n ? n : 1, sizeof(*seen));
	unsigned char *live_add = calloc(n ? n : 1, 2);
	unsigned char *live_del = live_add ? live_add + (n ? n : 1) : NULL;
	int done = 0, add_failed = 0, del_failed = 0, r = PV_ENOMEM;
	const char *p = out ? out : "";
	size_t i;

	if (!seen || !live_add)
		goto out;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[512];

		snprintf(line, sizeof(line), "%.*s", (int)len, p);
		if (strcmp(line, "done") == 0)
			done = 1;
		else if (strcmp(line, "live-add error") == 0)
			add_failed = 1;
		else if (strcmp(line, "live-del error") == 0)
			del_failed = 1;
		else if (line[0] >= '1' && line[0] <= '9')
			parse_op_line(line, n, res, seen, live_add, live_del);
		else if (strncmp(line, "final ", 6) == 0)
			parse_final_line(line, n, res);
		p += len + (nl ? 1 : 0);
	}
	r = PV_EREMOTE;
	if (!done)
		goto out;
	for (i = 0; i < n; i++) {
		if (!seen[i]) {
			res[i].err = PV_EREMOTE;
			snprintf(res[i].detail, sizeof(res[i].detail), "no result for this edit");
		}
	}
	if (add_failed)
		fail_live(res, n, live_add, "wg addconf", errtext);
	if (del_failed)
		fail_live(res, n, live_del, "wg set ... remove", errtext);
	for (i = 0; i < n; i++)
		if (res[i].err)
			res[i].final.seen = 0;
	r = 0;
out:
	free(seen);
	free(live_add);
	return r;
}

/* Is the line at p (len bytes) one of the edit protocol's own lines? */
static int is_result_line(const char *p, size_t len)
{
	return (len && p[0] >= '1' && p[0] <= '9') || (len == 4 && !memcmp(p, "done", 4)) ||
	       (len >= 5 && !memcmp(p, "live-", 5)) || (len >= 6 && !memcmp(p, "final ", 6));
}

void al_answer_stray(const char *ans, char *err, size_t errlen)
{
	const char *p = ans ? ans : "";
	size_t used = 0;

	if (errlen)
		err[0] = '\0';
	while (*p) {
		size_t len = strcspn(p, "\n");

		if (!is_result_line(p, len) && used + 1 < errlen) {
			int w = snprintf(err + used, errlen - used, "%s%.*s", used ? "; " : "",
			                 (int)len, p);

			used = w < 0                       ? used
			       : used + (size_t)w < errlen ? used + (size_t)w
			                                   : errlen - 1;
		}
		p += len + (p[len] ? 1 : 0);
	}
}

int al_answer_take(struct al_buf *buf, size_t *scan, struct al_buf *out, int *status)
{
	static const char mark[] = "privatevpn-end ";
	const size_t mlen = sizeof(mark) - 1;
	size_t at = *scan;

	while (at < buf->len) {
		const char *line = buf->p + at, *nl = memchr(line, '\n', buf->len - at);
		size_t len, rest;
		char *end;
		long st;

		if (!nl)
			return 0; /* the line is still arriving */
		len = (size_t)(nl - line);
		if (len < mlen || memcmp(line, mark, mlen) != 0) {
			at += len + 1;
			*scan = at;
			continue;
		}
		st = strtol(line + mlen, &end, 10);
		if (end == line + mlen || end != nl || st < 0 || st > 255)
			return PV_EREMOTE;
		out->len = 0;
		if (al_buf_add(out, buf->p, at, SIZE_MAX) < 0)
			return PV_ENOMEM;
		*status = (int)st;
		rest = buf->len - (at + len + 1);
		/* Answers may hold PSKs (dump): wipe what moves out of the buffer. */
		memmove(buf->p, nl + 1, rest);
		OPENSSL_cleanse(buf->p + rest, buf->len - rest);
		buf->len = rest;
		if (buf->cap)
			buf->p[rest] = '\0';
		*scan = 0;
		return 1;
	}
	return 0;
}
