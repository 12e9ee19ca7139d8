/* SPDX-License-Identifier: MIT */
/*
 * `vpnctl status [-v] [--json]`: is the tunnel up, to which server, with which
 * address, how old is the last handshake and how much went through.  Facts
 * come from the tunnel file's header and `wg show pvpn0 dump`.
 */
#include <stdio.h>
#include <sys/stat.h>
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

/* Key age from the tunnel file's mtime (written at connect and rotate), and the setting. */
struct rotation {
	int known;     /* a tunnel file exists */
	long age_days; /* whole days since the key was made */
	long after_days;
	int due;
};

static void rotation_check(struct rotation *rot)
{
	struct vpnctl_settings s;
	struct stat sb;
	char path[128];

	memset(rot, 0, sizeof(*rot));
	snprintf(path, sizeof(path), "%s/%s.conf", VPNCTL_WG_DIR, VPNCTL_IFACE);
	if (stat(path, &sb) < 0)
		return;
	rot->known = 1;
	rot->age_days = (long)((time(NULL) - sb.st_mtime) / 86400);
	if (geteuid() == 0 && vpnctl_settings_load(&s, VPNCTL_WG_DIR) == 0)
		rot->after_days = s.rotate_after_days;
	rot->due = rot->after_days > 0 && rot->age_days >= rot->after_days;
}

static int print_json(int up, const struct vpnctl_tunnel *t, int have_t,
                      const struct vpnctl_wg_status *st, int locked, const struct rotation *rot,
                      const struct vpnctl_tunnel *hop, int have_hop)
{
	json_t *j =
	        json_pack("{s:b, s:s, s:s?, s:s?, s:s?, s:s?, s:b}", "connected", up, "interface",
	                  VPNCTL_IFACE, "server_id", have_t ? t->server_id : NULL, "location",
	                  have_t ? t->location : NULL, "device", have_t ? t->device : NULL,
	                  "address", have_t ? t->address : NULL, "kill_switch", locked);
	int64_t age = handshake_age(st);

	if (j && have_hop && json_object_set_new(j, "via", json_string(hop->server_id)) < 0) {
		json_decref(j);
		j = NULL;
	}
	if (j && rot->known &&
	    (json_object_set_new(j, "key_age_days", json_integer(rot->age_days)) < 0 ||
	     json_object_set_new(j, "rotate_after_days", json_integer(rot->after_days)) < 0 ||
	     json_object_set_new(j, "rotation_due", json_boolean(rot->due)) < 0)) {
		json_decref(j);
		j = NULL;
	}
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
                        const struct vpnctl_wg_status *st, int verbose, int locked,
                        const struct rotation *rot)
{
	char rx[32], tx[32], hs[48];
	int64_t age = handshake_age(st);

	if (rot->due)
		printf("Key rotation due: the key is %ld days old (rotate-after %ld); run `vpnctl "
		       "rotate`.\n",
		       rot->age_days, rot->after_days);
	if (locked)
		printf("Kill switch on: nothing leaves outside the tunnel (`vpnctl disconnect` "
		       "lifts it).\n");
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
	struct vpnctl_tunnel t, hop;
	struct rotation rot;
	int up = vpnctl_iface_exists(VPNCTL_IFACE), have_t, r, locked;

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
	locked = geteuid() == 0 && vpnctl_killswitch_active();
	rotation_check(&rot);
	if (args->json)
		return print_json(up, &t, have_t, &st, locked, &rot, &hop,
		                  vpnctl_hop_load(&hop) == 0);
	print_human(up, &t, have_t, &st, args->verbose, locked, &rot);
	return VX_OK;
}
