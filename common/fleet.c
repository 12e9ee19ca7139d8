/* SPDX-License-Identifier: MIT */
/*
 * The fleet file (servers.json, schema in docs/servers-json.md): parsed with
 * jansson, every field whitelisted and checked, and every error names the
 * file, the entry and the field so an operator can fix it without guessing.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "pv.h"

#define FLEET_MAX_BYTES (1u << 20)

/* Where we are in the file, for error messages. */
struct fleet_ctx {
	const char *what; /* file name */
	size_t index;     /* entry number */
	const char *id;   /* entry id once known */
	char *err;
	size_t errlen;
};

static int fail(struct fleet_ctx *c, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int fail(struct fleet_ctx *c, const char *field, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (c->id)
		snprintf(c->err, c->errlen, "%s: servers[%zu] (\"%s\"): field \"%s\": %s", c->what,
		         c->index, c->id, field, why);
	else
		snprintf(c->err, c->errlen, "%s: servers[%zu]: field \"%s\": %s", c->what, c->index,
		         field, why);
	return PV_EINVAL;
}

static int charset_ok(const char *s, const char *extra, int allow_upper)
{
	for (; *s; s++) {
		char ch = *s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    (allow_upper && ch >= 'A' && ch <= 'Z') || strchr(extra, ch))
			continue;
		return 0;
	}
	return 1;
}

static int is_host_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-';
}

/* RFC 1123 host name whose last label is not all digits (RFC 3696 §2). */
static int hostname_ok(const char *s)
{
	size_t len = strlen(s), label = 0;
	const char *last = s, *p;

	if (len == 0 || len > 253)
		return 0;
	for (p = s; *p; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-')
				return 0;
			label = 0;
			last = p + 1;
			continue;
		}
		if (!is_host_char(*p) || (label == 0 && *p == '-') || ++label > 63)
			return 0;
	}
	if (label == 0 || p[-1] == '-')
		return 0;
	return strspn(last, "0123456789") != strlen(last);
}

static int host_ok(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1 ||
	       hostname_ok(s);
}

/* "a.b.c.0/24" or "x::/64": the lease model numbers hosts 2..254 in both. */
static int subnet_ok(const char *s, int family)
{
	unsigned char buf[16];
	const char *want = family == AF_INET ? "/24" : "/64";
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t n;

	if (!slash || strcmp(slash, want) != 0)
		return 0;
	n = (size_t)(slash - s);
	if (n == 0 || n >= sizeof(addr))
		return 0;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(family, addr, buf) != 1)
		return 0;
	/* Host bits must be zero. */
	if (family == AF_INET)
		return buf[3] == 0;
	for (n = 8; n < 16; n++)
		if (buf[n])
			return 0;
	return 1;
}

static int get_str(struct fleet_ctx *c, json_t *obj, const char *key, const char *field, char *dst,
                   size_t dstlen)
{
	json_t *v = json_object_get(obj, key);
	size_t len;

	if (!v)
		return fail(c, field, "missing");
	if (!json_is_string(v))
		return fail(c, field, "must be a string");
	len = json_string_length(v);
	if (len == 0 || len >= dstlen)
		return fail(c, field, "must be 1..%zu characters", dstlen - 1);
	if (strlen(json_string_value(v)) != len)
		return fail(c, field, "contains a NUL byte");
	memcpy(dst, json_string_value(v), len + 1);
	return 0;
}

static int get_port(struct fleet_ctx *c, json_t *obj, const char *field, uint16_t *dst)
{
	json_t *v = json_object_get(obj, "port");

	if (!v)
		return fail(c, field, "missing");
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
		return fail(c, field, "must be an integer 1..65535");
	*dst = (uint16_t)json_integer_value(v);
	return 0;
}

/* Refuse keys outside the schema: a typo must not silently become a default. */
static int only_keys(struct fleet_ctx *c, json_t *obj, const char *prefix,
                     const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		const char *const *a;
		char field[64];

		for (a = allowed; *a; a++)
			if (strcmp(*a, key) == 0)
				break;
		if (*a)
			continue;
		snprintf(field, sizeof(field), "%s%s", prefix, key);
		return fail(c, field, "unknown field");
	}
	return 0;
}

/* The fields of one interface, named prefix + key in errors ("wireguard.ipv4"). */
static int parse_iface(struct fleet_ctx *c, json_t *obj, const char *prefix, struct pv_iface *ifc)
{
	char f_if[64], f_port[64], f_v4[64], f_v6[64];
	int r;

	snprintf(f_if, sizeof(f_if), "%sinterface", prefix);
	snprintf(f_port, sizeof(f_port), "%sport", prefix);
	snprintf(f_v4, sizeof(f_v4), "%sipv4", prefix);
	snprintf(f_v6, sizeof(f_v6), "%sipv6", prefix);
	if ((r = get_port(c, obj, f_port, &ifc->port)) < 0)
		return r;
	if ((r = get_str(c, obj, "interface", f_if, ifc->name, sizeof(ifc->name))) < 0)
		return r;
	if ((r = get_str(c, obj, "ipv4", f_v4, ifc->subnet4, sizeof(ifc->subnet4))) < 0)
		return r;
	if ((r = get_str(c, obj, "ipv6", f_v6, ifc->subnet6, sizeof(ifc->subnet6))) < 0)
		return r;
	/* wg-quick's own rule for interface names. */
	if (!pv_iface_is_valid(ifc->name))
		return fail(c, f_if, "must match [A-Za-z0-9_=+.-]{1,15}");
	if (!subnet_ok(ifc->subnet4, AF_INET))
		return fail(c, f_v4, "must be an IPv4 network with prefix /24");
	if (!subnet_ok(ifc->subnet6, AF_INET6))
		return fail(c, f_v6, "must be an IPv6 network with prefix /64");
	return 0;
}

/*
 * Interface k against those before it: names, ports and subnets are the
 * server's own.  Every subnet is a whole /24 or /64, so two overlap exactly
 * when they are equal.
 */
static int check_iface_unique(struct fleet_ctx *c, const struct pv_server *s, size_t k)
{
	const struct pv_iface *a = &s->ifaces[k];
	char field[64];
	size_t i;

	for (i = 0; i < k; i++) {
		const struct pv_iface *b = &s->ifaces[i];
		const char *what = strcmp(a->name, b->name) == 0         ? "interface"
		                   : a->port == b->port                  ? "port"
		                   : strcmp(a->subnet4, b->subnet4) == 0 ? "ipv4"
		                   : strcmp(a->subnet6, b->subnet6) == 0 ? "ipv6"
		                                                         : NULL;

		if (!what)
			continue;
		snprintf(field, sizeof(field), "wireguard.interfaces[%zu].%s", k, what);
		return fail(c, field, "same as wireguard.interfaces[%zu] (subnets may not overlap)",
		            i);
	}
	return 0;
}

/* "interfaces": [{interface, port, ipv4, ipv6}, ...], wg0 first. */
static int parse_iface_list(struct fleet_ctx *c, json_t *list, struct pv_server *s)
{
	static const char *const keys[] = {"interface", "port", "ipv4", "ipv6", NULL};
	char prefix[48];
	size_t k;
	int r;

	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > PV_IFACES_MAX)
		return fail(c, "wireguard.interfaces", "must be an array of 1..%d objects",
		            PV_IFACES_MAX);
	for (k = 0; k < json_array_size(list); k++) {
		json_t *e = json_array_get(list, k);

		snprintf(prefix, sizeof(prefix), "wireguard.interfaces[%zu].", k);
		if (!json_is_object(e))
			return fail(c, "wireguard.interfaces", "entry %zu must be an object", k);
		if ((r = only_keys(c, e, prefix, keys)) < 0)
			return r;
		if ((r = parse_iface(c, e, prefix, &s->ifaces[k])) < 0)
			return r;
		if ((r = check_iface_unique(c, s, k)) < 0)
			return r;
		s->n_ifaces = k + 1;
	}
	return 0;
}

/*
 * Either the single interface ("port", "interface", "ipv4", "ipv6" in
 * "wireguard" itself) or the list ("interfaces"), never both.
 */
static int parse_wireguard(struct fleet_ctx *c, json_t *wg, struct pv_server *s)
{
	static const char *const keys[] = {"host", "port",       "interface", "ipv4",
	                                   "ipv6", "interfaces", NULL};
	static const char *const single[] = {"port", "interface", "ipv4", "ipv6"};
	json_t *list;
	size_t i;
	int r;

	if (!json_is_object(wg))
		return fail(c, "wireguard", "must be an object");
	if ((r = only_keys(c, wg, "wireguard.", keys)) < 0)
		return r;
	if ((r = get_str(c, wg, "host", "wireguard.host", s->wg_host, sizeof(s->wg_host))) < 0)
		return r;
	if (!host_ok(s->wg_host))
		return fail(c, "wireguard.host", "not an IP address or host name");
	list = json_object_get(wg, "interfaces");
	if (!list) {
		s->n_ifaces = 1;
		return parse_iface(c, wg, "wireguard.", &s->ifaces[0]);
	}
	for (i = 0; i < sizeof(single) / sizeof(single[0]); i++)
		if (json_object_get(wg, single[i]))
			return fail(c, "wireguard.interfaces",
			            "cannot be combined with wireguard.%s: list every interface "
			            "in wireguard.interfaces",
			            single[i]);
	return parse_iface_list(c, list, s);
}

int pv_hostkey_parse(const char *s, unsigned char blob[PV_HOSTKEY_BLOB_LEN])
{
	static const char type[] = "ssh-ed25519";
	/* The blob: uint32 length + "ssh-ed25519", uint32 length + 32 key bytes. */
	static const unsigned char head[] = {0,   0,   0,   11,  's', 's', 'h', '-', 'e', 'd',
	                                     '2', '5', '5', '1', '9', 0,   0,   0,   32};
	unsigned char out[3 * 68 / 4];
	const char *b64;
	size_t len;

	if (!s || strncmp(s, type, sizeof(type) - 1) != 0 || s[sizeof(type) - 1] != ' ')
		return 0;
	b64 = s + sizeof(type);
	len = strlen(b64);
	/* 51 bytes are exactly 68 base64 characters, without padding. */
	if (len != 68 || strspn(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                             "0123456789+/") != 68)
		return 0;
	if (EVP_DecodeBlock(out, (const unsigned char *)b64, 68) != 51 ||
	    memcmp(out, head, sizeof(head)) != 0)
		return 0;
	if (blob)
		memcpy(blob, out, PV_HOSTKEY_BLOB_LEN);
	return 1;
}

/* Optional "host_key": pinned in addition to known_hosts. */
static int get_hostkey(struct fleet_ctx *c, json_t *ssh, struct pv_server *s)
{
	int r;

	if (!json_object_get(ssh, "host_key"))
		return 0;
	if ((r = get_str(c, ssh, "host_key", "ssh.host_key", s->ssh_hostkey,
	                 sizeof(s->ssh_hostkey))) < 0)
		return r;
	if (!pv_hostkey_parse(s->ssh_hostkey, NULL))
		return fail(c, "ssh.host_key",
		            "must be \"ssh-ed25519 <base64 key>\" without a comment");
	return 0;
}

static int parse_ssh(struct fleet_ctx *c, json_t *ssh, struct pv_server *s)
{
	static const char *const keys[] = {"host", "port", "user", "host_key", NULL};
	int r;

	if (!json_is_object(ssh))
		return fail(c, "ssh", "must be an object");
	if ((r = only_keys(c, ssh, "ssh.", keys)) < 0 ||
	    (r = get_str(c, ssh, "host", "ssh.host", s->ssh_host, sizeof(s->ssh_host))) < 0 ||
	    (r = get_port(c, ssh, "ssh.port", &s->ssh_port)) < 0 ||
	    (r = get_str(c, ssh, "user", "ssh.user", s->ssh_user, sizeof(s->ssh_user))) < 0)
		return r;
	if (!host_ok(s->ssh_host))
		return fail(c, "ssh.host", "not an IP address or host name");
	if (!charset_ok(s->ssh_user, "_-", 0) || s->ssh_user[0] == '-')
		return fail(c, "ssh.user", "must match [a-z0-9_][a-z0-9_-]*");
	return get_hostkey(c, ssh, s);
}

static int parse_server(struct fleet_ctx *c, json_t *e, struct pv_server *s)
{
	static const char *const keys[] = {"id",  "location",  "region", "tier",
	                                   "ssh", "wireguard", NULL};
	char tier[16];
	int r;

	if (!json_is_object(e))
		return fail(c, "(entry)", "must be an object");
	if ((r = get_str(c, e, "id", "id", s->id, sizeof(s->id))) < 0)
		return r;
	if (!pv_server_id_is_valid(s->id))
		return fail(c, "id", "must match [a-z0-9-]{1,31}");
	c->id = s->id;
	if ((r = only_keys(c, e, "", keys)) < 0 ||
	    (r = get_str(c, e, "location", "location", s->location, sizeof(s->location))) < 0 ||
	    (r = get_str(c, e, "region", "region", s->region, sizeof(s->region))) < 0 ||
	    (r = get_str(c, e, "tier", "tier", tier, sizeof(tier))) < 0)
		return r;
	s->tier = pv_tier_parse(tier);
	if (s->tier == PV_TIER_NONE)
		return fail(c, "tier", "unknown tier \"%s\" (expected Basic or Pro)", tier);
	if ((r = parse_wireguard(c, json_object_get(e, "wireguard"), s)) < 0)
		return r;
	return parse_ssh(c, json_object_get(e, "ssh"), s);
}

/* The port of s that some interface of o shares, or 0. */
static unsigned shared_port(const struct pv_server *s, const struct pv_server *o)
{
	size_t i, j;

	for (i = 0; i < s->n_ifaces; i++)
		for (j = 0; j < o->n_ifaces; j++)
			if (s->ifaces[i].port == o->ifaces[j].port)
				return s->ifaces[i].port;
	return 0;
}

static int check_unique(struct fleet_ctx *c, const struct pv_server *all, size_t n)
{
	const struct pv_server *s = &all[n];
	unsigned port;
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(all[i].id, s->id) == 0)
			return fail(c, "id", "duplicate of servers[%zu]", i);
		if (strcmp(all[i].wg_host, s->wg_host) != 0)
			continue;
		port = shared_port(s, &all[i]);
		if (port)
			return fail(c, "wireguard.host", "endpoint %s:%u duplicates servers[%zu]",
			            s->wg_host, port, i);
	}
	return 0;
}

static int parse_top(struct fleet_ctx *c, json_t *root, json_t **servers)
{
	json_t *v;
	const char *key;

	if (!json_is_object(root)) {
		snprintf(c->err, c->errlen, "%s: top level must be an object", c->what);
		return PV_EINVAL;
	}
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "comment") != 0 && strcmp(key, "version") != 0 &&
		    strcmp(key, "servers") != 0) {
			snprintf(c->err, c->errlen, "%s: unknown top-level field \"%s\"", c->what,
			         key);
			return PV_EINVAL;
		}
	}
	v = json_object_get(root, "version");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		snprintf(c->err, c->errlen, "%s: field \"version\": must be 1", c->what);
		return PV_EINVAL;
	}
	*servers = json_object_get(root, "servers");
	if (!json_is_array(*servers) || json_array_size(*servers) == 0 ||
	    json_array_size(*servers) > PV_FLEET_MAX) {
		snprintf(c->err, c->errlen,
		         "%s: field \"servers\": must be an array of 1..%d entries", c->what,
		         PV_FLEET_MAX);
		return PV_EINVAL;
	}
	return 0;
}

int pv_fleet_parse(struct pv_fleet **out, const char *json, size_t len, const char *what, char *err,
                   size_t errlen)
{
	struct fleet_ctx c = {.what = what, .err = err, .errlen = errlen};
	struct pv_fleet *fleet = NULL;
	json_t *root, *servers = NULL;
	json_error_t jerr;
	int r;

	*out = NULL;
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errlen, "%s:%d:%d: %s", what, jerr.line, jerr.column, jerr.text);
		return PV_EINVAL;
	}
	if ((r = parse_top(&c, root, &servers)) < 0)
		goto out;
	r = PV_ENOMEM;
	fleet = calloc(1, sizeof(*fleet));
	if (!fleet)
		goto out;
	fleet->servers = calloc(json_array_size(servers), sizeof(*fleet->servers));
	if (!fleet->servers)
		goto out;
	for (c.index = 0; c.index < json_array_size(servers); c.index++) {
		c.id = NULL;
		r = parse_server(&c, json_array_get(servers, c.index), &fleet->servers[c.index]);
		if (r == 0)
			r = check_unique(&c, fleet->servers, c.index);
		if (r < 0)
			goto out;
		fleet->n++;
	}
	*out = fleet;
	fleet = NULL;
	r = 0;
out:
	pv_fleet_free(fleet);
	json_decref(root);
	return r;
}

int pv_fleet_load(struct pv_fleet **out, const char *path, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = pv_file_read(&text, &len, path, FLEET_MAX_BYTES, 0)) < 0) {
		snprintf(err, errlen, "%s: cannot read fleet file: %s%s", path, pv_strerror(r),
		         r == PV_EINVAL ? " (larger than 1 MiB or not a regular file)" : "");
		return r;
	}
	r = pv_fleet_parse(out, text, len, path, err, errlen);
	free(text);
	return r;
}

void pv_fleet_free(struct pv_fleet *fleet)
{
	if (!fleet)
		return;
	free(fleet->servers);
	free(fleet);
}

const struct pv_server *pv_fleet_find(const struct pv_fleet *fleet, const char *id)
{
	size_t i;

	if (!fleet || !id)
		return NULL;
	for (i = 0; i < fleet->n; i++)
		if (strcmp(fleet->servers[i].id, id) == 0)
			return &fleet->servers[i];
	return NULL;
}
