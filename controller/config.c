/* SPDX-License-Identifier: MIT */
/*
 * The controller's configuration: one JSON file whose fields are listed in a
 * table, each also settable by a flag of the same name.  Errors name the
 * file (or flag) and the field, so an operator can fix them at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

enum field_type { F_STR, F_LONG };

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
#define LONG(f, lo, hi, h)                                                                         \
	{                                                                                          \
#f, F_LONG, offsetof(struct ctl_config, f), lo, hi, h                              \
	}

static const struct field fields[] = {
        STR(http_listen, "plain HTTP listen address host:port (\"\" = none)"),
        STR(https_listen, "HTTPS listen address host:port (\"\" = none)"),
        STR(tls_cert, "TLS certificate chain (PEM)"),
        STR(tls_key, "TLS private key (PEM)"),
        STR(db_path, "SQLite state file"),
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
	errno = 0;
	v = strtol(value, &end, 10);
	if (errno || end == value || *end) {
		ctl_errf(err, errlen, "flag --%s: \"%s\" is not an integer", name, value);
		return PV_EINVAL;
	}
	return set_long(cfg, f, v, "flag", err, errlen);
}

void ctl_config_usage(void)
{
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		char flag[40];
		size_t j;

		snprintf(flag, sizeof(flag), "%s", fields[i].name);
		for (j = 0; flag[j]; j++)
			if (flag[j] == '_')
				flag[j] = '-';
		fprintf(stderr, "  --%-20s %s %s\n", flag, fields[i].type == F_STR ? "STR" : "N  ",
		        fields[i].help);
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

int ctl_config_check(const struct ctl_config *cfg, char *err, size_t errlen)
{
	static const char *const required[] = {
	        "db_path",      "fleet_path",       "ssh_identity",      "known_hosts",
	        "secrets_file", "admin_token_file", "client_allowed_ips", "state_key_file"};
	size_t i;

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
	    check_listen("https_listen", cfg->https_listen, err, errlen) < 0)
		return PV_EINVAL;
	if (is_set(cfg->https_listen) && (!is_set(cfg->tls_cert) || !is_set(cfg->tls_key))) {
		ctl_errf(err, errlen, "field \"https_listen\" needs \"tls_cert\" and \"tls_key\"");
		return PV_EINVAL;
	}
	return 0;
}
