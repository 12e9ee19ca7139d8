/* SPDX-License-Identifier: MIT */
/*
 * The controller's configuration: one JSON file whose fields are listed in a
 * table, each also settable by a flag of the same name.  Errors name the
 * file (or flag) and the field, so an operator can fix them at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

enum field_type { F_STR, F_LONG, F_BOOL };

struct field {
	const char *name;
	enum field_type type;
	size_t off;
	long min, max; /* F_LONG range */
	const char *help;
};

#define STR(f, h)                                                                                  \
	{                                                                                          \
#f, F_STR, offsetof(struct ctl_config, f), 0, 0, h                                 \
	}
#define BOOL(f, h)                                                                                 \
	{                                                                                          \
#f, F_BOOL, offsetof(struct ctl_config, f), 0, 1, h                                \
	}
#define LONG(f, lo, hi, h)                                                                         \
	{                                                                                          \
#f, F_LONG, offsetof(struct ctl_config, f), lo, hi, h                              \
	}

static const struct field fields[] = {
        STR(http_listen, "plain HTTP listen address host:port (\"\" = none)"),
        STR(https_listen, "HTTPS listen address host:port (\"\" = none)"),
        STR(metrics_listen, "loopback address for /metrics without a token (\"\" = none)"),
        STR(tls_cert, "TLS certificate chain (PEM)"),
        STR(tls_key, "TLS private key (PEM)"),
        STR(db_path, "SQLite state file (one controller)"),
        STR(db_url, "PostgreSQL URL postgresql://… instead of db_path (several controllers, "
                    "docs/ha.md; password better in PGPASSFILE)"),
        STR(fleet_path, "fleet file (servers.json)"),
        STR(ssh_identity, "controller's SSH private key"),
        STR(known_hosts, "servers' SSH host keys (OpenSSH known_hosts)"),
        STR(secrets_file, "API secrets: current, then previous (mode 0600)"),
        STR(admin_token_file, "admin bearer token (mode 0600)"),
        STR(state_key_file, "key sealing the PSKs in the DB: `wg genpsk` output (mode 0600)"),
        STR(client_dns, "DNS line of client configs (\"\" = none)"),
        STR(client_allowed_ips, "AllowedIPs of client configs"),
        LONG(max_body_bytes, 64, 1048576, "largest request body"),
        LONG(max_header_bytes, 1024, 65536, "largest request header block"),
        LONG(client_timeout_s, 1, 3600, "idle/slow client timeout"),
        LONG(health_interval_s, 1, 86400, "period of the health pass"),
        LONG(push_timeout_ms, 100, 600000, "deadline of one SSH round trip"),
        LONG(connect_timeout_ms, 100, 600000, "SSH connect + handshake deadline"),
        LONG(request_timeout_s, 1, 3600, "deadline of one request's headers and body"),
        LONG(max_connections, 16, 1000000, "client connections in total (fits ulimit -n)"),
        LONG(max_connections_per_addr, 1, 1000000, "connections per IPv4 address or IPv6 /64"),
        LONG(auth_fail_max, 1, 1000000, "failed authentications per address and window"),
        LONG(auth_fail_window_s, 1, 86400, "window of auth_fail_max (and the 429's length)"),
        LONG(peer_max_idle_days, 0, 3650,
             "remove peers without a handshake for this long (0 = never)"),
        LONG(max_devices_basic, 1, 100000, "devices a Basic user may have peers for"),
        LONG(max_devices_pro, 1, 100000, "devices a Pro user may have peers for"),
        BOOL(allow_public_http, "allow http_listen off loopback (clear-text keys)"),
};

static const struct field *field_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

static char **str_slot(struct ctl_config *cfg, const struct field *f)
{
	return (char **)(void *)((char *)cfg + f->off);
}

static long *long_slot(struct ctl_config *cfg, const struct field *f)
{
	return (long *)(void *)((char *)cfg + f->off);
}

static int set_str(struct ctl_config *cfg, const struct field *f, const char *v)
{
	char **slot = str_slot(cfg, f);
	char *copy = strdup(v);

	if (!copy)
		return PV_ENOMEM;
	free(*slot);
	*slot = copy;
	return 0;
}

static int *bool_slot(struct ctl_config *cfg, const struct field *f)
{
	return (int *)(void *)((char *)cfg + f->off);
}

static int set_long(struct ctl_config *cfg, const struct field *f, long v, const char *where,
                    char *err, size_t errlen)
{
	if (v < f->min || v > f->max) {
		ctl_errf(err, errlen, "%s: field \"%s\": %ld is out of range %ld..%ld", where,
		         f->name, v, f->min, f->max);
		return PV_EINVAL;
	}
	*long_slot(cfg, f) = v;
	return 0;
}

struct ctl_config *ctl_config_new(void)
{
	struct ctl_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	cfg->client_allowed_ips = strdup("0.0.0.0/0, ::/0");
	if (!cfg->client_allowed_ips) {
		free(cfg);
		return NULL;
	}
	cfg->max_body_bytes = 8192;
	cfg->max_header_bytes = 8192;
	cfg->client_timeout_s = 30;
	cfg->health_interval_s = 60;
	cfg->push_timeout_ms = 10000;
	cfg->connect_timeout_ms = 5000;
	cfg->request_timeout_s = 10;
	cfg->max_connections = 4096;
	cfg->max_connections_per_addr = 64;
	cfg->auth_fail_max = 20;
	cfg->max_devices_basic = 5;
	cfg->max_devices_pro = 10;
	cfg->auth_fail_window_s = 60;
	return cfg;
}

void ctl_config_free(struct ctl_config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (fields[i].type == F_STR)
			free(*str_slot(cfg, &fields[i]));
	free(cfg);
}

static int load_field(struct ctl_config *cfg, const struct field *f, json_t *v, const char *path,
                      char *err, size_t errlen)
{
	if (f->type == F_STR) {
		if (!json_is_string(v)) {
			ctl_errf(err, errlen, "%s: field \"%s\" must be a string", path, f->name);
			return PV_EINVAL;
		}
		return set_str(cfg, f, json_string_value(v));
	}
	if (f->type == F_BOOL) {
		if (!json_is_boolean(v)) {
			ctl_errf(err, errlen, "%s: field \"%s\" must be true or false", path,
			         f->name);
			return PV_EINVAL;
		}
		*bool_slot(cfg, f) = json_is_true(v);
		return 0;
	}
	if (!json_is_integer(v)) {
		ctl_errf(err, errlen, "%s: field \"%s\" must be an integer", path, f->name);
		return PV_EINVAL;
	}
	return set_long(cfg, f, (long)json_integer_value(v), path, err, errlen);
}

int ctl_config_load(struct ctl_config *cfg, const char *path, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root, *v;
	const char *key;
	int r = PV_EINVAL;

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root && json_error_code(&je) == json_error_cannot_open_file) {
		ctl_errf(err, errlen, "config %s: %s", path, je.text);
		return PV_EIO;
	}
	if (!root) {
		ctl_errf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
		return PV_EINVAL;
	}
	if (!json_is_object(root)) {
		ctl_errf(err, errlen, "%s: top level must be a JSON object", path);
		goto out;
	}
	json_object_foreach(root, key, v)
	{
		const struct field *f = field_find(key);

		if (!f) {
			ctl_errf(err, errlen, "%s: unknown field \"%s\"", path, key);
			goto out;
		}
		if ((r = load_field(cfg, f, v, path, err, errlen)) < 0)
			goto out;
	}
	r = 0;
out:
	json_decref(root);
	return r;
}

int ctl_config_set(struct ctl_config *cfg, const char *name, const char *value, char *err,
                   size_t errlen)
{
	const struct field *f = field_find(name);
	char *end;
	long v;

	if (!f) {
		ctl_errf(err, errlen, "unknown option --%s", name);
		return PV_EINVAL;
	}
	if (f->type == F_STR)
		return set_str(cfg, f, value);
	if (f->type == F_BOOL) {
		if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
			ctl_errf(err, errlen, "flag --%s: \"%s\" is not true or false", name,
			         value);
			return PV_EINVAL;
		}
		*bool_slot(cfg, f) = strcmp(value, "true") == 0;
		return 0;
	}
	errno = 0;
	v = strtol(value, &end, 10);
	if (errno || end == value || *end) {
		ctl_errf(err, errlen, "flag --%s: \"%s\" is not an integer", name, value);
		return PV_EINVAL;
	}
	return set_long(cfg, f, v, "flag", err, errlen);
}

/* The flag spelling of a field: "db_path" -> "--db-path". */
static void flag_name(char *out, size_t outlen, const struct field *f)
{
	size_t j;

	snprintf(out, outlen, "--%s", f->name);
	for (j = 2; out[j]; j++)
		if (out[j] == '_')
			out[j] = '-';
}

/* What a flag takes, by field type, for --help and the man page. */
static const char *const type_names[] = {[F_STR] = "STR", [F_LONG] = "N", [F_BOOL] = "BOOL"};

void ctl_config_usage(void)
{
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		char flag[42];

		flag_name(flag, sizeof(flag), &fields[i]);
		fprintf(stderr, "  %-26s %-4s %s\n", flag, type_names[fields[i].type],
		        fields[i].help);
	}
}

void ctl_config_man(FILE *f)
{
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		char flag[42], help[160];

		flag_name(flag, sizeof(flag), &fields[i]);
		if (fields[i].type == F_LONG)
			snprintf(help, sizeof(help), "%s, %ld..%ld; config field \"%s\"",
			         fields[i].help, fields[i].min, fields[i].max, fields[i].name);
		else
			snprintf(help, sizeof(help), "%s; config field \"%s\"", fields[i].help,
			         fields[i].name);
		pv_man_item(f, flag, type_names[fields[i].type], help);
	}
}

static int is_set(const char *s)
{
	return s && *s;
}

int ctl_listen_parse(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon, *h = s;
	size_t hl;
	char *end;
	unsigned long p;

	if (!s)
		return PV_EINVAL;
	colon = strrchr(s, ':');
	if (!colon)
		return PV_EINVAL;
	hl = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hl < 3 || s[hl - 1] != ']')
			return PV_EINVAL;
		h = s + 1;
		hl -= 2;
	} else if (memchr(s, ':', hl)) {
		return PV_EINVAL; /* bare IPv6 needs brackets */
	}
	if (hl == 0 || hl >= hostlen)
		return PV_EINVAL;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p > 65535 || colon[1] == '-' || colon[1] == '+')
		return PV_EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)p;
	return 0;
}

static int check_listen(const char *name, const char *v, char *err, size_t errlen)
{
	char host[64];
	uint16_t port;

	if (is_set(v) && ctl_listen_parse(v, host, sizeof(host), &port) < 0) {
		ctl_errf(err, errlen, "field \"%s\": \"%s\" is not host:port or [v6]:port", name,
		         v);
		return PV_EINVAL;
	}
	return 0;
}

/* 1 when a listen address's host is a loopback literal: 127.0.0.0/8 or ::1 (a name could resolve
 * elsewhere). */
static int listen_is_loopback(const char *v)
{
	unsigned char a[sizeof(struct in6_addr)];
	char host[64];
	uint16_t port;

	if (ctl_listen_parse(v, host, sizeof(host), &port) < 0)
		return 0;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	return inet_pton(AF_INET6, host, a) == 1 && IN6_IS_ADDR_LOOPBACK((struct in6_addr *)a);
}

/* Plain HTTP carries API keys and configs in clear: loopback unless allowed. */
static int check_http_local(const struct ctl_config *cfg, char *err, size_t errlen)
{
	if (!is_set(cfg->http_listen) || cfg->allow_public_http ||
	    listen_is_loopback(cfg->http_listen))
		return 0;
	ctl_errf(err, errlen,
	         "field \"http_listen\": \"%s\" is not a loopback address; plain HTTP sends "
	         "API keys and WireGuard keys in clear: use https_listen, or set "
	         "\"allow_public_http\": true if a proxy on this network terminates TLS",
	         cfg->http_listen);
	return PV_EINVAL;
}

/* metrics_listen serves /metrics without a token: only on a loopback address. */
static int check_metrics_local(const struct ctl_config *cfg, char *err, size_t errlen)
{
	if (!is_set(cfg->metrics_listen) || listen_is_loopback(cfg->metrics_listen))
		return 0;
	ctl_errf(err, errlen,
	         "field \"metrics_listen\": \"%s\" is not a loopback host:port (127.0.0.0/8 or "
	         "[::1]); off loopback, scrape /metrics on the main listener with the admin token",
	         cfg->metrics_listen);
	return PV_EINVAL;
}

/* Exactly one state database: a SQLite file or a PostgreSQL URL (never echoed: a password). */
static int check_db(const struct ctl_config *cfg, char *err, size_t errlen)
{
	if (!is_set(cfg->db_path) && !is_set(cfg->db_url)) {
		ctl_errf(err, errlen,
		         "field \"db_path\" is required (or \"db_url\"; config file or flag)");
		return PV_EINVAL;
	}
	if (is_set(cfg->db_path) && is_set(cfg->db_url)) {
		ctl_errf(err, errlen,
		         "fields \"db_path\" and \"db_url\" exclude each other: one controller on "
		         "a SQLite file, or several on one PostgreSQL database (docs/ha.md)");
		return PV_EINVAL;
	}
	if (is_set(cfg->db_url) && strncmp(cfg->db_url, "postgresql://", 13) != 0 &&
	    strncmp(cfg->db_url, "postgres://", 11) != 0) {
		ctl_errf(err, errlen,
		         "field \"db_url\" must start with postgresql:// or postgres:// (not "
		         "echoed: it may hold a password)");
		return PV_EINVAL;
	}
	return 0;
}

int ctl_config_check(const struct ctl_config *cfg, char *err, size_t errlen)
{
	static const char *const required[] = {
	        "fleet_path",       "ssh_identity",       "known_hosts",   "secrets_file",
	        "admin_token_file", "client_allowed_ips", "state_key_file"};
	size_t i;
	int r;

	if ((r = check_db(cfg, err, errlen)) < 0)
		return r;
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		const struct field *f = field_find(required[i]);

		if (!is_set(*str_slot((struct ctl_config *)cfg, f))) {
			ctl_errf(err, errlen, "field \"%s\" is required (config file or flag)",
			         f->name);
			return PV_EINVAL;
		}
	}
	if (!is_set(cfg->http_listen) && !is_set(cfg->https_listen)) {
		ctl_errf(err, errlen, "field \"http_listen\" or \"https_listen\" is required");
		return PV_EINVAL;
	}
	if (check_listen("http_listen", cfg->http_listen, err, errlen) < 0 ||
	    check_listen("https_listen", cfg->https_listen, err, errlen) < 0 ||
	    check_listen("metrics_listen", cfg->metrics_listen, err, errlen) < 0 ||
	    check_http_local(cfg, err, errlen) < 0 || check_metrics_local(cfg, err, errlen) < 0)
		return PV_EINVAL;
	if (is_set(cfg->https_listen) && (!is_set(cfg->tls_cert) || !is_set(cfg->tls_key))) {
		ctl_errf(err, errlen, "field \"https_listen\" needs \"tls_cert\" and \"tls_key\"");
		return PV_EINVAL;
	}
	return 0;
}
