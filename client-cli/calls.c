/* SPDX-License-Identifier: MIT */
/*
 * The controller calls that several commands make (connect, rotate, watch,
 * export, servers, revoke): loading the login, fetching the server list,
 * provisioning and the quiet best-effort revoke.  They print their own
 * errors and return VX_* exit codes, like the commands that call them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpnctl.h"

int vpnctl_login_load(struct vpnctl_conf *c)
{
	char err[512];
	int r = vpnctl_conf_load(c, err, sizeof(err));

	if (r == 0)
		return VX_OK;
	if (r == PV_ENOTFOUND) {
		if (strcmp(cli_program, "vpnadm") == 0)
			vpnctl_err("%s.\n  Run `vpnadm login URL` with the admin token.", err);
		else
			vpnctl_err("%s.\n  Run `vpnctl login --api URL` with the API key from the "
			           "portal.",
			           err);
		return VX_AUTH;
	}
	vpnctl_err("%s", err);
	return VX_LOCAL;
}

int vpnctl_fetch_servers(const struct vpnctl_conf *c, const struct vpnctl_args *args,
                         const char *what, struct vpnctl_fleet_view *v)
{
	struct vpnctl_api_error e;
	json_t *reply = NULL;
	const char *tier = "";
	uint64_t t0;
	int r;

	memset(v, 0, sizeof(*v));
	if ((r = vpnctl_api(c, "GET", "/api/servers", NULL, &reply, &e)) < 0)
		return vpnctl_api_fail(r, &e, what);
	json_unpack(reply, "{s?:s}", "tier", &tier);
	snprintf(v->tier, sizeof(v->tier), "%s", tier);
	r = vpnctl_servers_parse(reply, &v->servers, &v->n);
	json_decref(reply);
	if (r < 0) {
		vpnctl_err("%s: the controller's server list is malformed", what);
		return VX_NETWORK;
	}
	/* With a full tunnel up, probe around it (wg-quick's fwmark), not through it. */
	v->fwmark = vpnctl_bypass_mark();
	vpnctl_progress(args, "Probing %zu servers (timeout %ld ms each) ...", v->n,
	                args->timeout_ms);
	t0 = pv_now_us();
	r = vpnctl_probe(v->servers, v->n, args->timeout_ms, v->fwmark);
	v->probe_wall_us = (int64_t)(pv_now_us() - t0);
	if (r < 0) {
		vpnctl_err("%s: the latency probe failed: %s", what, pv_strerror(r));
		free(v->servers);
		v->servers = NULL;
		return VX_LOCAL;
	}
	return VX_OK;
}

int vpnctl_provision(const struct vpnctl_args *args, const struct vpnctl_conf *conf,
                     const char *what, const char *server_id, const char *device,
                     const char *pub_b64, json_t **reply)
{
	struct vpnctl_api_error e;
	/* "s*": no public_key member at all when pub_b64 is NULL. */
	json_t *body = json_pack("{s:s, s:s, s:s*}", "server_id", server_id, "device", device,
	                         "public_key", pub_b64);
	int r;

	if (!body)
		return VX_LOCAL;
	vpnctl_progress(args, "Provisioning a peer for device %s on %s ...", device, server_id);
	r = vpnctl_api(conf, "POST", "/api/provision", body, reply, &e);
	json_decref(body);
	return r < 0 ? vpnctl_api_fail(r, &e, what) : VX_OK;
}

void vpnctl_revoke_quietly(const struct vpnctl_conf *conf, const char *what, const char *server_id,
                           const char *device)
{
	struct vpnctl_api_error e;
	json_t *body = json_pack("{s:s, s:s}", "server_id", server_id, "device", device);
	json_t *reply = NULL;

	if (body && vpnctl_api(conf, "POST", "/api/revoke", body, &reply, &e) < 0)
		vpnctl_err("%s: could not revoke the peer on %s (%s); `vpnctl revoke --all` "
		           "cleans up later",
		           what, server_id, e.msg);
	json_decref(body);
	json_decref(reply);
}
