/* SPDX-License-Identifier: MIT */
/*
 * `vpnctl status [-v] [--json]`: is the tunnel up, to which server, with which
 * address, how old is the last handshake and how much went through.  Facts
 * come from the tunnel file's header and `wg show pvpn0 dump`.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vpnctl.h"

static int64_t handshake_age(const struct vpnctl_wg_status *st)
{
	if (!st->npeers || st->peer.latest_handshake <= 0)
		return -1;
	return (int64_t)time(NULL) - st->peer.latest_handshake;
}

static int print_json(int up, const struct vpnctl_tunnel *t, int have_t,
                      const struct vpnctl_wg_status *st)
{
	json_t *j = json_pack("{s:b, s:s, s:s?, s:s?, s:s?, s:s?}", "connected", up, "interface",
	                      VPNCTL_IFACE, "server_id", have_t ? t->server_id : NULL, "location",
	                      have_t ? t->location : NULL, "device", have_t ? t->device : NULL,
	                      "address", have_t ? t->address : NULL);
	int64_t age = handshake_age(st);

	if (j && up &&
	    (json_object_set_new(j, "public_key", json_string(st->public_key)) < 0 ||
	     json_object_set_new(j, "endpoint", json_string(st->peer.endpoint)) < 0 ||
	     json_object_set_new(j, "allowed_ips", json_string(st->peer.allowed_ips)) < 0 ||
	     json_object_set_new(j, "latest_handshake",
	                         json_integer((json_int_t)st->peer.latest_handshake)) < 0 ||
	     json_object_set_new(j, "handshake_age_s",
	                         age < 0 ? json_null() : json_integer((json_int_t)age)) < 0 ||
	     json_object_set_new(j, "rx_bytes", json_integer((json_int_t)st->peer.rx)) < 0 ||
	     json_object_set_new(j, "tx_bytes", json_integer((json_int_t)st->peer.tx)) < 0)) {
		json_decref(j);
		j = NULL;
	}
	return vpnctl_print_json(j);
}

static void print_human(int up, const struct vpnctl_tunnel *t, int have_t,
                        const struct vpnctl_wg_status *st, int verbose)
{
	char rx[32], tx[32], hs[48];
	int64_t age = handshake_age(st);

	if (!up) {
		if (have_t)
			printf("Disconnected (last server %s, %s); `vpnctl connect` reconnects.\n",
			       t->server_id, t->location);
		else
			printf("Disconnected.\n");
		return;
	}
	if (age < 0)
		snprintf(hs, sizeof(hs), "no handshake yet");
	else
		snprintf(hs, sizeof(hs), "last handshake %lld s ago", (long long)age);
	printf("Connected to %s (%s) as %s, %s\n", have_t ? t->server_id : "?",
	       have_t ? t->location : "unknown location", have_t ? t->address : "?", hs);
	if (!verbose)
		return;
	cli_human_bytes(rx, sizeof(rx), st->peer.rx);
	cli_human_bytes(tx, sizeof(tx), st->peer.tx);
	printf("  interface:   %s\n  device:      %s\n  endpoint:    %s\n  allowed ips: %s\n"
	       "  public key:  %s\n  transfer:    %s received, %s sent\n",
	       VPNCTL_IFACE, have_t ? t->device : "?", st->peer.endpoint, st->peer.allowed_ips,
	       st->public_key, rx, tx);
}

int cmd_status(const struct vpnctl_args *args)
{
	struct vpnctl_wg_status st;
	struct vpnctl_tunnel t;
	int up = vpnctl_iface_exists(VPNCTL_IFACE), have_t, r;

	memset(&st, 0, sizeof(st));
	if (up && geteuid() != 0) {
		vpnctl_err("status: must run as root to read the tunnel (wg show); try sudo");
		return VX_LOCAL;
	}
	have_t = vpnctl_tunnel_load(&t, VPNCTL_WG_DIR) == 0;
	if (up) {
		r = vpnctl_wg_status(VPNCTL_IFACE, &st);
		if (r == PV_ENOTFOUND) {
			vpnctl_err("status: wg is missing: install wireguard-tools");
			return VX_LOCAL;
		}
		if (r < 0) {
			vpnctl_err(
			        "status: `wg show %s dump` failed or printed something unexpected",
			        VPNCTL_IFACE);
			return VX_LOCAL;
		}
	}
	if (args->json)
		return print_json(up, &t, have_t, &st);
	print_human(up, &t, have_t, &st, args->verbose);
	return VX_OK;
}
