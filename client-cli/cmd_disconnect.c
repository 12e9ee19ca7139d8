/* SPDX-License-Identifier: MIT */
/*
 * `vpnctl disconnect`: wg-quick down the tunnel and lift the kill switch
 * (unless --keep-locked).  The tunnel file stays, so `status` still names
 * the last server; `revoke` deletes it.
 */
#include <stdio.h>
#include <unistd.h>

#include "vpnctl.h"

/* Lift the kill switch unless asked to keep it; 1 if lifted, VX_LOCAL on failure. */
static int unlock(const struct vpnctl_args *args, int *lifted)
{
	char err[1024];

	*lifted = 0;
	if (args->keep_locked || !vpnctl_killswitch_active())
		return VX_OK;
	if (vpnctl_killswitch_off(err, sizeof(err)) < 0) {
		vpnctl_err("disconnect: cannot lift the kill switch: %s", err);
		return VX_LOCAL;
	}
	*lifted = 1;
	return VX_OK;
}

int cmd_disconnect(const struct vpnctl_args *args)
{
	struct vpnctl_tunnel t;
	char err[1024];
	int r, lifted;

	if (geteuid() != 0) {
		vpnctl_err(
		        "disconnect: must run as root (wg-quick down); try sudo vpnctl disconnect");
		return VX_LOCAL;
	}
	/* A detour left by a killed rotate may hold the tunnel's routes: it goes too. */
	if (vpnctl_wg_quick_remove(VPNCTL_ROTATE_IFACE, err, sizeof(err)) < 0)
		vpnctl_err("disconnect: taking %s down failed:\n%s", VPNCTL_ROTATE_IFACE, err);
	/* A multi-hop entry goes down with the tunnel; its file goes (connect rebuilds it). */
	if (vpnctl_hop_down(err, sizeof(err)) < 0)
		vpnctl_err("disconnect: wg-quick down %s failed:\n%s", VPNCTL_HOP_IFACE, err);
	if (!vpnctl_iface_exists(VPNCTL_IFACE)) {
		if ((r = unlock(args, &lifted)))
			return r;
		if (args->json)
			return vpnctl_print_json(json_pack("{s:b, s:b}", "disconnected", 0,
			                                   "kill_switch_lifted", lifted));
		printf("Not connected%s.\n", lifted ? "; kill switch lifted" : "");
		return VX_OK;
	}
	if (vpnctl_tunnel_load(&t, VPNCTL_WG_DIR) < 0)
		t.server_id[0] = '\0';
	r = vpnctl_wg_quick("down", VPNCTL_IFACE, err, sizeof(err));
	if (r == PV_ENOTFOUND) {
		vpnctl_err("disconnect: wg-quick is missing: install wireguard-tools");
		return VX_LOCAL;
	}
	if (r < 0) {
		vpnctl_err("disconnect: wg-quick down %s failed:\n%s", VPNCTL_IFACE, err);
		return VX_LOCAL;
	}
	if ((r = unlock(args, &lifted)))
		return r;
	if (args->json)
		return vpnctl_print_json(json_pack("{s:b, s:s, s:b}", "disconnected", 1,
		                                   "server_id", t.server_id, "kill_switch_lifted",
		                                   lifted));
	printf("Disconnected from %s%s.\n", t.server_id[0] ? t.server_id : VPNCTL_IFACE,
	       lifted              ? "; kill switch lifted"
	       : args->keep_locked ? "; kill switch kept"
	                           : "");
	return VX_OK;
}
