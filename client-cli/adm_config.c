/* SPDX-License-Identifier: MIT */
/*
 * `vpnadm user config USER [SERVER] --device NAME`: support staff set up a
 * user's phone.  POST /api/admin/users/USER/config provisions a peer for
 * that user in the server-made key mode (the controller keeps no private
 * key and writes an audit row without secrets); the config is delivered
 * like `vpnctl export` does (export.c).  Without SERVER the controller's
 * least loaded healthy server of the user's tier is taken: from the support
 * desk, latency says nothing about where the phone is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpnctl.h"

/* The "up" server of USER's tier with the lowest share of its capacity in use. */
static int pick_server(const struct vpnctl_args *args, const char *user, char *id, size_t len)
{
	struct vpnctl_server *s = NULL;
	json_t *u = NULL, *fleet = NULL;
	const char *tier = NULL;
	char path[160];
	size_t i, n = 0, best = SIZE_MAX;
	int r;

	snprintf(path, sizeof(path), "/api/admin/users/%s", user);
	r = adm_call("user config", "GET", path, NULL, &u);
	if (r == VX_OK)
		r = adm_call("user config", "GET", "/api/admin/servers", NULL, &fleet);
	if (r)
		goto out;
	if (json_unpack(u, "{s:s}", "tier", &tier) < 0 || vpnctl_servers_parse(fleet, &s, &n) < 0) {
		vpnctl_err("user config: the controller's user or servers reply is malformed");
		r = VX_NETWORK;
		goto out;
	}
	for (i = 0; i < n; i++)
		if (strcmp(s[i].status, "up") == 0 && s[i].capacity > 0 &&
		    pv_tier_allows(pv_tier_parse(tier), pv_tier_parse(s[i].tier)) &&
		    (best == SIZE_MAX ||
		     s[i].load * s[best].capacity < s[best].load * s[i].capacity))
			best = i;
	if (best == SIZE_MAX) {
		vpnctl_err("user config: no server of the %s tier is up (see `vpnadm servers`)",
		           tier);
		r = VX_NETWORK;
		goto out;
	}
	snprintf(id, len, "%s", s[best].id);
	vpnctl_progress(args, "Picked %s (%s), the least loaded %s-tier server that is up",
	                s[best].id, s[best].location, tier);
out:
	free(s);
	json_decref(u);
	json_decref(fleet);
	return r;
}

int adm_user_config(const struct vpnctl_args *args)
{
	struct cli_export x = {.png_fd = -1, .out_fd = -1};
	json_t *body = NULL, *reply = NULL;
	char server[32], path[160];
	int r;

	if (args->npos < 1 || !pv_user_id_is_valid(args->pos[0]) || !args->device ||
	    (args->npos == 2 && !pv_server_id_is_valid(args->pos[1]))) {
		vpnctl_err("user config: needs USER ([A-Za-z0-9.-]{1,64}), --device NAME and "
		           "optionally a SERVER name");
		return VX_USAGE;
	}
	r = cli_export_open(&x, args, "user config");
	if (r)
		return r;
	if (args->npos == 2)
		snprintf(server, sizeof(server), "%s", args->pos[1]);
	else
		r = pick_server(args, args->pos[0], server, sizeof(server));
	if (r)
		goto out;
	body = json_pack("{s:s, s:s}", "server_id", server, "device", args->device);
	snprintf(path, sizeof(path), "/api/admin/users/%s/config", args->pos[0]);
	r = body ? adm_call("user config", "POST", path, body, &reply) : VX_LOCAL;
	if (r)
		goto out;
	r = cli_export_finish(&x, server, reply);
	if (r == VX_OK)
		vpnctl_progress(args,
		                "%s's device %s has its own peer on %s; the user removes it "
		                "with `vpnctl revoke --device %s`.",
		                args->pos[0], args->device, server, args->device);
out:
	cli_export_cleanse(reply);
	json_decref(reply);
	json_decref(body);
	cli_export_close(&x);
	return r;
}
