/* SPDX-License-Identifier: MIT */
/*
 * `vpnctl servers [--json]`: the tier's servers from the controller with
 * health and load, plus the latency measured here, in parallel (probe.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpnctl.h"

static json_t *server_json(const struct vpnctl_server *s)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:I, s:I, s:b, s:o}", "id", s->id,
	                 "location", s->location, "region", s->region, "tier", s->tier, "host",
	                 s->host, "port", (int)s->port, "status", s->status, "load",
	                 (json_int_t)s->load, "capacity", (json_int_t)s->capacity, "reachable",
	                 s->reachable, "latency_ms",
	                 s->reachable ? json_real((double)s->rtt_us / 1000.0) : json_null());
}

static int print_json(const struct vpnctl_fleet_view *v, long timeout_ms)
{
	json_t *arr = json_array(), *j;
	size_t i;

	for (i = 0; arr && i < v->n; i++)
		json_array_append_new(arr, server_json(&v->servers[i]));
	j = json_pack("{s:s, s:I, s:f, s:o}", "tier", v->tier, "probe_timeout_ms",
	              (json_int_t)timeout_ms, "probe_wall_ms", (double)v->probe_wall_us / 1000.0,
	              "servers", arr);
	return vpnctl_print_json(j);
}

void vpnctl_format_latency(char *buf, size_t len, const struct vpnctl_server *s)
{
	if (s->reachable)
		snprintf(buf, len, "%.1f ms", (double)s->rtt_us / 1000.0);
	else
		snprintf(buf, len, "unreachable");
}

static void print_row(const char *const cells[7])
{
	static const int widths[6] = {16, 24, 15, 6, 8, 9};

	cli_table_row(cells, widths, 7);
}

static void print_table(const struct vpnctl_fleet_view *v)
{
	static const char *const head[7] = {"SERVER", "LOCATION", "REGION", "TIER",
	                                    "HEALTH", "LOAD",     "LATENCY"};
	size_t i;

	print_row(head);
	for (i = 0; i < v->n; i++) {
		const struct vpnctl_server *s = &v->servers[i];
		char lat[32], load[48];
		const char *row[7] = {s->id, s->location, s->region, s->tier, s->status, load, lat};

		vpnctl_format_latency(lat, sizeof(lat), s);
		if (s->load >= 0 && s->capacity > 0)
			snprintf(load, sizeof(load), "%ld/%ld", s->load, s->capacity);
		else
			snprintf(load, sizeof(load), "-");
		print_row(row);
	}
}

int cmd_servers(const struct vpnctl_args *args)
{
	struct vpnctl_fleet_view v;
	struct vpnctl_conf c;
	int r = vpnctl_login_load(&c);

	if (r)
		return r;
	r = vpnctl_fetch_servers(&c, args, "servers", &v);
	vpnctl_conf_clear(&c);
	if (r)
		return r;
	if (args->json)
		r = print_json(&v, args->timeout_ms);
	else
		print_table(&v);
	free(v.servers);
	return r;
}
