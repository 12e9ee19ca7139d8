/* SPDX-License-Identifier: MIT */
/*
 * `vpnctl revoke [--all | --device NAME]`: POST /api/revoke for this
 * device's peer on the current server (or {"all":true}, or {"device":NAME}:
 * that device's peers everywhere, e.g. an exported phone's), and of a
 * multi-hop entry, then take the tunnels down and delete their files when
 * the revoke covered this machine's tunnel.  If the controller refuses or
 * cannot be reached, the local files stay so the command can be repeated.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vpnctl.h"

static int remove_local(char *path, size_t len)
{
	char err[1024];

	snprintf(path, len, "%s/%s.conf", VPNCTL_WG_DIR, VPNCTL_IFACE);
	if (vpnctl_iface_exists(VPNCTL_IFACE) &&
	    vpnctl_wg_quick("down", VPNCTL_IFACE, err, sizeof(err)) < 0) {
		vpnctl_err("revoke: the peer is revoked but wg-quick down %s failed:\n%s",
		           VPNCTL_IFACE, err);
		return VX_LOCAL;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		vpnctl_err("revoke: cannot delete %s: %s", path, strerror(errno));
		return VX_LOCAL;
	}
	if (vpnctl_hop_down(err, sizeof(err)) < 0) {
		vpnctl_err("revoke: cannot take the entry hop %s down:\n%s", VPNCTL_HOP_IFACE, err);
		return VX_LOCAL;
	}
	return VX_OK;
}

static json_t *revoke_body(const struct vpnctl_args *args, const struct vpnctl_tunnel *t,
                           int have_t)
{
	if (args->all)
		return json_pack("{s:b}", "all", 1);
	if (args->device)
		return json_pack("{s:s}", "device", args->device);
	if (!have_t)
		return NULL;
	return json_pack("{s:s, s:s}", "server_id", t->server_id, "device", t->device);
}

static void print_result(const struct vpnctl_args *args, json_t *reply, const char *path)
{
	json_t *servers = json_object_get(reply, "servers"), *it;
	json_int_t n = 0;
	size_t i;

	json_unpack(reply, "{s?:I}", "revoked", &n);
	if (args->json) {
		json_object_set_new(reply, "removed", path ? json_string(path) : json_null());
		vpnctl_print_json(json_incref(reply));
		return;
	}
	printf("Revoked %lld peer(s)", (long long)n);
	json_array_foreach(servers, i, it)
	{
		printf("%s%s", i ? ", " : " on ", json_string_value(it));
	}
	if (path)
		printf("; removed %s", path);
	printf(".\n");
}

int cmd_revoke(const struct vpnctl_args *args)
{
	struct vpnctl_api_error e;
	struct vpnctl_conf c;
	struct vpnctl_tunnel t, hop;
	struct stat sb;
	json_t *body = NULL, *reply = NULL;
	char path[128];
	int have_t, local, r;

	snprintf(path, sizeof(path), "%s/%s.conf", VPNCTL_WG_DIR, VPNCTL_IFACE);
	have_t = vpnctl_tunnel_load(&t, VPNCTL_WG_DIR) == 0;
	/* Another device's peers (an exported phone's) leave this machine's tunnels alone. */
	local = args->all || !args->device || (have_t && strcmp(t.device, args->device) == 0);
	if (local && geteuid() != 0 &&
	    (stat(path, &sb) == 0 || vpnctl_iface_exists(VPNCTL_IFACE))) {
		vpnctl_err("revoke: must run as root to remove %s; try sudo", path);
		return VX_LOCAL;
	}
	body = revoke_body(args, &t, have_t);
	if (!body) {
		vpnctl_err("revoke: no tunnel on this machine (%s); use --device NAME for one "
		           "device's peers or --all for every peer of your account",
		           path);
		return VX_USAGE;
	}
	r = vpnctl_login_load(&c);
	if (r)
		goto out;
	r = vpnctl_api(&c, "POST", "/api/revoke", body, &reply, &e);
	/* A multi-hop entry peer goes too ({"all":true} already covers it). */
	if (r == 0 && local && !args->all && vpnctl_hop_load(&hop) == 0)
		vpnctl_revoke_quietly(&c, "revoke", hop.server_id, hop.device);
	vpnctl_conf_clear(&c);
	if (r < 0) {
		r = vpnctl_api_fail(r, &e, "revoke");
		goto out;
	}
	r = local ? remove_local(path, sizeof(path)) : VX_OK;
	if (r == VX_OK)
		print_result(args, reply, local ? path : NULL);
out:
	json_decref(body);
	json_decref(reply);
	return r;
}
