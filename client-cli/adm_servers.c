/* SPDX-License-Identifier: MIT */
/*
 * `vpnadm servers [--json]`: the fleet from GET /api/admin/servers, one row
 * per server (state coloured when stdout is a terminal, load, live peers,
 * peers with a recent handshake, transfer, age of the last health pass).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vpnctl.h"

/* "up" in green, "down" in red, anything else in yellow: on a terminal only. */
static void state_cell(char *buf, size_t len, const char *state, int colour)
{
	const char *c = strcmp(state, "up") == 0 ? "32" : strcmp(state, "down") == 0 ? "31" : "33";

	if (colour)
		snprintf(buf, len, "\033[%sm%s\033[0m", c, state);
	else
		snprintf(buf, len, "%s", state);
}

static void print_table(const json_t *servers)
{
	static const char *const head[] = {"SERVER", "LOCATION", "TIER", "STATE", "LOAD",
	                                   "LIVE",   "ACTIVE",   "RX",   "TX",    "LAST PASS"};
	static const int widths[] = {16, 22, 6, 8, 9, 5, 7, 10, 10};
	int colour = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
	const json_t *s;
	size_t i;

	cli_table_row(head, widths, 10);
	json_array_foreach(servers, i, s)
	{
		const char *id = "?", *loc = "", *tier = "", *status = "unknown";
		json_int_t load = 0, cap = 0, live = 0, active = 0, rx = 0, tx = 0, checked = 0;
		char state[32], lo[32], li[16], ac[16], r[24], t[24], last[32];
		const char *row[10] = {id, loc, tier, state, lo, li, ac, r, t, last};

		json_unpack((json_t *)s,
		            "{s?:s, s?:s, s?:s, s?:s, s?:I, s?:I, s?:I, s?:I, s?:I, s?:I, s?:I}",
		            "id", &id, "location", &loc, "tier", &tier, "status", &status, "load",
		            &load, "capacity", &cap, "live_peers", &live, "active_peers", &active,
		            "rx_bytes", &rx, "tx_bytes", &tx, "checked_at", &checked);
		row[0] = id;
		row[1] = loc;
		row[2] = tier;
		state_cell(state, sizeof(state), status, colour);
		snprintf(lo, sizeof(lo), "%lld/%lld", (long long)load, (long long)cap);
		snprintf(li, sizeof(li), "%lld", (long long)live);
		snprintf(ac, sizeof(ac), "%lld", (long long)active);
		cli_human_bytes(r, sizeof(r), (uint64_t)rx);
		cli_human_bytes(t, sizeof(t), (uint64_t)tx);
		if (checked > 0)
			snprintf(last, sizeof(last), "%llds ago",
			         (long long)(time(NULL) - (time_t)checked));
		else
			snprintf(last, sizeof(last), "never");
		cli_table_row(row, widths, 10);
	}
}

int adm_servers(const struct vpnctl_args *args)
{
	json_t *reply = NULL;
	int r = adm_call("servers", "GET", "/api/admin/servers", NULL, &reply);

	if (r)
		return r;
	if (args->json)
		return vpnctl_print_json(reply);
	print_table(json_object_get(reply, "servers"));
	json_decref(reply);
	return VX_OK;
}
