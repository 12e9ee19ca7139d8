/* SPDX-License-Identifier: MIT */
/*
 * vpnadm's server commands (docs/vpnadm.md): `server show|add|bootstrap|
 * drain|undrain|remove|reconcile|export`, each one admin call (the
 * reconcile of the whole fleet one per server, with progress on stderr).
 */
#include <stdio.h>
#include <string.h>

#include "vpnctl.h"

/* The SERVER positional, checked like the controller does; prints why not. */
static const char *server_arg(const struct vpnctl_args *args, const char *what)
{
	if (args->npos < 1 || !pv_server_id_is_valid(args->pos[0])) {
		vpnctl_err("%s: SERVER must be [a-z0-9-]{1,31}", what);
		return NULL;
	}
	return args->pos[0];
}

/* POST/DELETE path /api/admin/servers/ID[suffix]; the reply printed as JSON or by show(). */
static int server_call(const struct vpnctl_args *args, const char *what, const char *method,
                       const char *suffix, void (*show)(const json_t *reply))
{
	const char *id = server_arg(args, what);
	json_t *reply = NULL;
	char path[128];
	int r;

	if (!id)
		return VX_USAGE;
	snprintf(path, sizeof(path), "/api/admin/servers/%s%s", id, suffix);
	r = adm_call(what, method, path, NULL, &reply);
	if (r)
		return r;
	if (args->json || !show)
		return vpnctl_print_json(reply);
	show(reply);
	json_decref(reply);
	return VX_OK;
}

/* A health count of interface_detail: "-" before the server's first health pass (null). */
static void count_cell(char *buf, size_t len, const json_t *v)
{
	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else
		snprintf(buf, len, "-");
}

/* One line per WireGuard interface: port, subnets, leases of its 253, live and active peers. */
static void show_interfaces(const json_t *detail)
{
	const json_t *ifc;
	size_t i;

	json_array_foreach(detail, i, ifc)
	{
		const char *name = "?", *v4 = "", *v6 = "";
		json_int_t port = 0, used = 0, cap = 0;
		char live[24], active[24];

		json_unpack((json_t *)ifc, "{s?:s, s?:I, s?:s, s?:s, s?:I, s?:I}", "name", &name,
		            "port", &port, "ipv4", &v4, "ipv6", &v6, "leases_used", &used,
		            "capacity", &cap);
		count_cell(live, sizeof(live), json_object_get(ifc, "live_peers"));
		count_cell(active, sizeof(active), json_object_get(ifc, "active_peers"));
		printf("  %-6s       port %lld, %s, %s: %lld/%lld leased, %s live, %s active\n",
		       name, (long long)port, v4, v6, (long long)used, (long long)cap, live,
		       active);
	}
}

static void show_server(const json_t *s)
{
	const char *id = "?", *loc = "", *tier = "", *status = "?", *key = "", *src = "";
	const char *host = "", *fp = NULL, *sshhost = "";
	json_int_t port = 0, since = 0, checked = 0, peers = 0, live = 0, active = 0, rx = 0,
	           tx = 0, repairs = 0, rec = 0, sshport = 0;
	char r[24], t[24];

	json_unpack((json_t *)s,
	            "{s?:s, s?:s, s?:s, s?:s, s?:s, s?:s, s?:I, s?:I, s?:I, s?:I, s?:I, s?:I, "
	            "s?:I, s?:I, s?:I, s?:I, s?:s, s?:s, s?:{s?:s, s?:I}}",
	            "id", &id, "location", &loc, "tier", &tier, "status", &status, "public_key",
	            &key, "host", &host, "port", &port, "state_since", &since, "checked_at",
	            &checked, "load", &peers, "live_peers", &live, "active_peers", &active,
	            "rx_bytes", &rx, "tx_bytes", &tx, "repairs", &repairs, "reconciled_at", &rec,
	            "host_key_source", &src, "host_key_fingerprint", &fp, "ssh", "host", &sshhost,
	            "port", &sshport);
	cli_human_bytes(r, sizeof(r), (uint64_t)rx);
	cli_human_bytes(t, sizeof(t), (uint64_t)tx);
	printf("server:        %s (%s, %s)\n", id, loc, tier);
	printf("state:         %s since %lld\n", status, (long long)since);
	printf("last pass:     %lld\n", (long long)checked);
	printf("ssh:           %s port %lld, host key %s (%s)\n", sshhost, (long long)sshport,
	       fp ? fp : "-", src);
	printf("wireguard:     %s port %lld, key %s\n", host, (long long)port, key[0] ? key : "-");
	printf("peers:         %lld in the DB, %lld live, %lld active\n", (long long)peers,
	       (long long)live, (long long)active);
	show_interfaces(json_object_get(s, "interface_detail"));
	printf("transfer:      rx %s, tx %s\n", r, t);
	printf("last repairs:  %lld (at %lld)\n", (long long)repairs, (long long)rec);
}

int adm_server_show(const struct vpnctl_args *args)
{
	return server_call(args, "server show", "GET", "", show_server);
}

int adm_server_add(const struct vpnctl_args *args)
{
	json_t *entry, *reply = NULL;
	json_error_t je;
	int r;

	if (args->npos < 1) {
		vpnctl_err("server add: FILE (a servers.json entry with ssh.host_key) is required");
		return VX_USAGE;
	}
	entry = strcmp(args->pos[0], "-") == 0 ? json_loadf(stdin, 0, &je)
	                                       : json_load_file(args->pos[0], 0, &je);
	if (!json_is_object(entry)) {
		vpnctl_err("server add: %s:%d: not a JSON object: %s", args->pos[0], je.line,
		           je.text);
		json_decref(entry);
		return VX_USAGE;
	}
	r = adm_call("server add", "POST", "/api/admin/servers", entry, &reply);
	json_decref(entry);
	if (r)
		return r;
	if (args->json)
		return vpnctl_print_json(reply);
	printf("%s added; next: vpnadm server bootstrap %s\n",
	       json_string_value(json_object_get(reply, "added")),
	       json_string_value(json_object_get(reply, "added")));
	json_decref(reply);
	return VX_OK;
}

static void show_bootstrap(const json_t *reply)
{
	const json_t *b = json_object_get(reply, "bootstrap"), *c;
	const json_t *changed = json_object_get(b, "changed");
	size_t i;

	printf("%s bootstrapped: WireGuard key %s, port %lld, endpoint %s\n",
	       json_string_value(json_object_get(reply, "server")),
	       json_string_value(json_object_get(b, "server_public_key")),
	       (long long)json_integer_value(json_object_get(b, "listen_port")),
	       json_string_value(json_object_get(b, "endpoint")));
	json_array_foreach(changed, i, c)
	{
		printf("  changed: %s\n", json_string_value(c));
	}
}

int adm_server_bootstrap(const struct vpnctl_args *args)
{
	if (args->npos >= 1)
		vpnctl_progress(args,
		                "bootstrapping %s over the controller's SSH session "
		                "(a fresh server may take minutes)...",
		                args->pos[0]);
	return server_call(args, "server bootstrap", "POST", "/bootstrap", show_bootstrap);
}

static void show_drain(const json_t *reply)
{
	printf("%s: %s\n", json_string_value(json_object_get(reply, "server")),
	       json_is_true(json_object_get(reply, "draining"))
	               ? "draining (no new peers; existing ones keep working)"
	               : "taking new peers");
}

int adm_server_drain(const struct vpnctl_args *args)
{
	return server_call(args, "server drain", "POST", "/drain", show_drain);
}

int adm_server_undrain(const struct vpnctl_args *args)
{
	return server_call(args, "server undrain", "POST", "/undrain", show_drain);
}

static void show_removed(const json_t *reply)
{
	printf("%s removed (%lld peers revoked)\n",
	       json_string_value(json_object_get(reply, "removed")),
	       (long long)json_integer_value(json_object_get(reply, "revoked")));
}

int adm_server_remove(const struct vpnctl_args *args)
{
	return server_call(args, "server remove", "DELETE", args->force ? "?force=true" : "",
	                   show_removed);
}

static void show_repairs(const json_t *r)
{
	printf("%s: restored %lld, removed %lld, reserved %lld, released %lld, failed %lld\n",
	       json_string_value(json_object_get(r, "server_id")),
	       (long long)json_integer_value(json_object_get(r, "restored")),
	       (long long)json_integer_value(json_object_get(r, "removed")),
	       (long long)json_integer_value(json_object_get(r, "reserved")),
	       (long long)json_integer_value(json_object_get(r, "released")),
	       (long long)json_integer_value(json_object_get(r, "failed")));
}

/* Every server in turn, a progress line each; the first failure is the exit code. */
static int reconcile_all(const struct vpnctl_args *args)
{
	json_t *list = NULL, *all = json_array(), *servers, *s;
	size_t i, n;
	int r = adm_call("server reconcile", "GET", "/api/admin/servers", NULL, &list), first = 0;

	if (r) {
		json_decref(all);
		return r;
	}
	servers = json_object_get(list, "servers");
	n = json_array_size(servers);
	json_array_foreach(servers, i, s)
	{
		const char *id = json_string_value(json_object_get(s, "id"));
		json_t *reply = NULL;
		char path[128];

		vpnctl_progress(args, "[%zu/%zu] reconciling %s...", i + 1, n, id ? id : "?");
		snprintf(path, sizeof(path), "/api/admin/servers/%s/reconcile", id ? id : "?");
		r = adm_call("server reconcile", "POST", path, NULL, &reply);
		if (r && !first)
			first = r;
		if (!r && !args->json)
			show_repairs(reply);
		if (!r)
			json_array_append_new(all, reply);
	}
	json_decref(list);
	if (args->json)
		r = vpnctl_print_json(json_pack("{s:o}", "servers", all));
	else
		json_decref(all);
	return first ? first : r;
}

int adm_server_reconcile(const struct vpnctl_args *args)
{
	if (args->npos == 0)
		return reconcile_all(args);
	return server_call(args, "server reconcile", "POST", "/reconcile", show_repairs);
}

int adm_server_export(const struct vpnctl_args *args)
{
	json_t *reply = NULL;
	int r = adm_call("server export", "GET", "/api/admin/servers/export", NULL, &reply);

	(void)args;
	return r ? r : vpnctl_print_json(reply);
}

/* ---- usage ---------------------------------------------------------------------- */

static void print_usage_rows(const json_t *reply)
{
	static const char *const head[] = {"USER", "DAY", "RX", "TX"};
	static const int widths[] = {24, 12, 12};
	const json_t *days = json_object_get(reply, "days"), *d;
	size_t i;

	cli_table_row(head, widths, 4);
	json_array_foreach(days, i, d)
	{
		char rx[24], tx[24];
		const char *row[4] = {json_string_value(json_object_get(d, "user")),
		                      json_string_value(json_object_get(d, "day")), rx, tx};

		cli_human_bytes(rx, sizeof(rx),
		                (uint64_t)json_integer_value(json_object_get(d, "rx_bytes")));
		cli_human_bytes(tx, sizeof(tx),
		                (uint64_t)json_integer_value(json_object_get(d, "tx_bytes")));
		cli_table_row(row, widths, 4);
	}
}

int adm_usage(const struct vpnctl_args *args)
{
	json_t *reply = NULL;
	char path[256];
	int r;

	if (args->npos >= 1 && !pv_user_id_is_valid(args->pos[0])) {
		vpnctl_err("usage: USER must be [A-Za-z0-9.-]{1,64}");
		return VX_USAGE;
	}
	snprintf(path, sizeof(path), "/api/admin/usage?from=%s&to=%s%s%s",
	         args->from ? args->from : "0000-01-01", args->to ? args->to : "9999-12-31",
	         args->npos ? "&user=" : "", args->npos ? args->pos[0] : "");
	r = adm_call("usage", "GET", path, NULL, &reply);
	if (r)
		return r;
	if (args->json)
		return vpnctl_print_json(reply);
	print_usage_rows(reply);
	json_decref(reply);
	return VX_OK;
}
