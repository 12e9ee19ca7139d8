/* SPDX-License-Identifier: MIT */
/*
 * `vpnctl disconnect`: wg-quick down the tunnel.  The tunnel file stays, so
 * `status` still names the last server; `revoke` deletes it.
 */
#include <stdio.h>
#include <unistd.h>

#include "vpnctl.h"

int cmd_disconnect(const struct vpnctl_args *args)
{
	struct vpnctl_tunnel t;
	char err[1024];
	int r;

	if (geteuid() != 0) {
		vpnctl_err(
		        "disconnect: must run as root (wg-quick down); try sudo vpnctl disconnect");
		return VX_LOCAL;
	}
	if (!vpnctl_iface_exists(VPNCTL_IFACE)) {
		if (args->json)
			return vpnctl_print_json(json_pack("{s:b}", "disconnected", 0));
		printf("Not connected.\n");
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
	if (args->json)
		return vpnctl_print_json(
		        json_pack("{s:b, s:s}", "disconnected", 1, "server_id", t.server_id));
	printf("Disconnected from %s.\n", t.server_id[0] ? t.server_id : VPNCTL_IFACE);
	return VX_OK;
}
