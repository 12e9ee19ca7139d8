/* SPDX-License-Identifier: MIT */
/*
 * `vpnctl connect [SERVER]`: choose (probe.c) or take a server, make a key
 * pair here, send only the public key to POST /api/provision, write
 * /etc/wireguard/pvpn0.conf 0600 with the private key added, bring it up
 * with wg-quick and wait for the first handshake.  Any failure after the
 * provision takes the interface down, deletes the file and revokes the new
 * peer, so nothing is left behind.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "vpnctl.h"

struct connect_ctx {
	const struct vpnctl_args *args;
	struct vpnctl_conf conf;
	struct vpnctl_tunnel old; /* from the existing tunnel file, if any */
	int have_old, old_up, old_down;
	char *old_text; /* the old tunnel file, to restore it if the switch fails */
	size_t old_len;
	int wrote; /* the new tunnel file replaced the old one */
	struct vpnctl_tunnel next;
	const char *avoid; /* a failing server the choice must skip (--watch), or NULL */
	struct vpnctl_tunnel old_hop, hop; /* multi-hop entry tunnels, before and after */
	int have_old_hop, hop_written;
	char next_key[PV_KEY_B64_LEN + 1]; /* the chosen server's WireGuard key, "" if unknown */
	char endpoint[VPNCTL_ENDPOINT_LEN];
	char client_ipv4[INET_ADDRSTRLEN];
	uint64_t t_start_us, t_prov_us, t_up_start_us, t_up_us, t_hs_us;
};

/*
 * Is the current tunnel up, to our choice, and made with the server's
 * current key?  A server redeployed with a new key is provisioned again.
 * Split options and multi-hop always rebuild the tunnel: the running one may
 * route otherwise.
 */
static int already_connected(const struct connect_ctx *x, const char *server_id)
{
	struct vpnctl_wg_status st;

	if (!x->have_old || !x->old_up || strcmp(x->old.server_id, server_id) != 0 ||
	    vpnctl_split_active(&x->args->split) || x->args->via || x->have_old_hop)
		return 0;
	if (!x->next_key[0] || (vpnctl_wg_status(VPNCTL_IFACE, &st) == 0 && st.npeers > 0 &&
	                        strcmp(st.peer.public_key, x->next_key) == 0))
		return 1;
	vpnctl_progress(x->args, "Server %s has a new WireGuard key (redeployed): connecting again",
	                server_id);
	return 0;
}

static int choose_server(struct connect_ctx *x, char *id, size_t idlen, char *loc, size_t loclen)
{
	struct vpnctl_server s;
	int r = vpnctl_choose_server(&x->conf, x->args, "connect",
	                             x->have_old ? x->old.server_id : NULL, x->avoid, &s);

	if (r)
		return r;
	snprintf(id, idlen, "%s", s.id);
	snprintf(loc, loclen, "%s", s.location);
	snprintf(x->next_key, sizeof(x->next_key), "%s", s.public_key);
	return VX_OK;
}

/* A named server's location and key, for the tunnel header and messages; best effort
 * (the provision itself says whether the server exists and is in the tier). */
static void lookup_location(struct connect_ctx *x)
{
	struct vpnctl_server *s = NULL;
	struct vpnctl_api_error e;
	json_t *reply = NULL;
	size_t i, n = 0;

	if (vpnctl_api(&x->conf, "GET", "/api/servers", NULL, &reply, &e) == 0 &&
	    vpnctl_servers_parse(reply, &s, &n) == 0)
		for (i = 0; i < n; i++)
			if (strcmp(s[i].id, x->next.server_id) == 0) {
				snprintf(x->next.location, sizeof(x->next.location), "%s",
				         s[i].location);
				snprintf(x->next_key, sizeof(x->next_key), "%s", s[i].public_key);
			}
	free(s);
	json_decref(reply);
}

static void revoke_quietly(const struct connect_ctx *x, const char *server_id, const char *device)
{
	vpnctl_revoke_quietly(&x->conf, "connect", server_id, device);
}

/* Remember what the report and the handshake nudge show, from checked values. */
static void note_endpoint(struct connect_ctx *x, const struct vpnctl_tunnel_spec *spec)
{
	size_t i;

	snprintf(x->endpoint, sizeof(x->endpoint), "%s", spec->endpoint);
	x->client_ipv4[0] = '\0';
	for (i = 0; i < spec->n_address; i++)
		if (spec->address[i].family == AF_INET)
			pv_cidr_format(x->client_ipv4, sizeof(x->client_ipv4), &spec->address[i],
			               0);
}

/*
 * Write the tunnel file from the provision reply's checked fields and our
 * private key (tunnel.c); a reply that fails a check writes nothing.
 */
static int write_tunnel(struct connect_ctx *x, const json_t *reply, const char *priv_b64)
{
	struct vpnctl_tunnel_spec spec;
	char err[256], *text = NULL;
	int r = VX_NETWORK;

	if (vpnctl_tunnel_from_reply(&spec, reply, x->next.server_id, priv_b64, err, sizeof(err)) <
	    0) {
		vpnctl_err("connect: refusing the controller's reply: %s.\n  Nothing was written; "
		           "if this persists, tell your administrator.",
		           err);
		return VX_NETWORK;
	}
	if (vpnctl_split_active(&x->args->split) &&
	    vpnctl_split_for_tunnel(&spec, &x->args->split, x->conf.api_url, err, sizeof(err)) <
	            0) {
		vpnctl_err("connect: %s", err);
		r = VX_USAGE;
		goto out;
	}
	note_endpoint(x, &spec);
	if (vpnctl_tunnel_render(&text, &spec, &x->next, err, sizeof(err)) < 0) {
		vpnctl_err("connect: %s", err);
		goto out;
	}
	if (mkdir(VPNCTL_WG_DIR, 0700) < 0 && errno != EEXIST) {
		vpnctl_err("connect: cannot create %s: %s", VPNCTL_WG_DIR, strerror(errno));
		r = VX_LOCAL;
	} else if (vpnctl_write_secret_file(VPNCTL_WG_DIR, VPNCTL_IFACE ".conf", text,
	                                    strlen(text)) < 0) {
		vpnctl_err("connect: cannot write %s/%s.conf: %s", VPNCTL_WG_DIR, VPNCTL_IFACE,
		           strerror(errno));
		r = VX_LOCAL;
	} else {
		x->wrote = 1;
		r = VX_OK;
	}
out:
	if (text)
		OPENSSL_clear_free(text, strlen(text));
	vpnctl_tunnel_spec_clear(&spec);
	return r;
}

static int wait_handshake(struct connect_ctx *x)
{
	uint64_t deadline = pv_now_us() + (uint64_t)x->args->wait_s * 1000000u;
	struct vpnctl_wg_status st;
	struct timespec pause = {0, 50L * 1000 * 1000};

	vpnctl_progress(x->args, "Waiting up to %ld s for the first handshake with %s ...",
	                x->args->wait_s, x->endpoint);
	vpnctl_nudge(NULL, x->client_ipv4);
	while (pv_now_us() < deadline) {
		if (vpnctl_wg_status(VPNCTL_IFACE, &st) == 0 && st.npeers > 0 &&
		    st.peer.latest_handshake > 0) {
			x->t_hs_us = pv_now_us();
			return VX_OK;
		}
		nanosleep(&pause, NULL);
	}
	vpnctl_err("connect: no handshake with %s within %ld s.\n  UDP to the server may be "
	           "blocked on this network; try another server or --wait longer.",
	           x->endpoint, x->args->wait_s);
	return VX_NETWORK;
}

/* Undo a failed connect after the provision: the new interface and file, if
 * they got that far, and the new peer.  An old tunnel that would not go down
 * is left as it was. */
static void roll_back(struct connect_ctx *x)
{
	char err[512], path[128];

	if (x->wrote) {
		if (vpnctl_iface_exists(VPNCTL_IFACE))
			vpnctl_wg_quick("down", VPNCTL_IFACE, err, sizeof(err));
		snprintf(path, sizeof(path), "%s/%s.conf", VPNCTL_WG_DIR, VPNCTL_IFACE);
		unlink(path);
	}
	revoke_quietly(x, x->next.server_id, x->next.device);
	if (x->hop_written) {
		vpnctl_hop_down(err, sizeof(err));
		revoke_quietly(x, x->hop.server_id, x->hop.device);
	}
	if (!x->old_down || !x->old_text)
		return;
	if (vpnctl_write_secret_file(VPNCTL_WG_DIR, VPNCTL_IFACE ".conf", x->old_text,
	                             x->old_len) == 0 &&
	    vpnctl_wg_quick("up", VPNCTL_IFACE, err, sizeof(err)) == 0)
		vpnctl_err("connect: back on the previous tunnel to %s", x->old.server_id);
	else
		vpnctl_err("connect: could not restore the tunnel to %s; `vpnctl connect` again",
		           x->old.server_id);
}

static int bring_up(struct connect_ctx *x)
{
	char err[1024];
	int r;

	vpnctl_progress(x->args, "Bringing up %s (wg-quick up) ...", VPNCTL_IFACE);
	x->t_up_start_us = pv_now_us();
	r = vpnctl_wg_quick("up", VPNCTL_IFACE, err, sizeof(err));
	x->t_up_us = pv_now_us();
	if (r == 0)
		return wait_handshake(x);
	if (r == PV_ENOTFOUND)
		vpnctl_err("connect: wg-quick is missing: install wireguard-tools");
	else
		vpnctl_err("connect: wg-quick up %s failed:\n%s", VPNCTL_IFACE, err);
	return VX_LOCAL;
}

/* The old tunnel goes down before the new one comes up (same interface). */
static int take_old_down(struct connect_ctx *x)
{
	char err[1024], path[128];

	/* A detour left by a killed rotate holds routes wg-quick up would collide with. */
	if (vpnctl_wg_quick_remove(VPNCTL_ROTATE_IFACE, err, sizeof(err)) < 0) {
		vpnctl_err("connect: taking %s down failed:\n%s", VPNCTL_ROTATE_IFACE, err);
		return VX_LOCAL;
	}
	if (x->have_old_hop && vpnctl_hop_down(err, sizeof(err)) < 0) {
		vpnctl_err("connect: wg-quick down %s failed:\n%s", VPNCTL_HOP_IFACE, err);
		return VX_LOCAL;
	}
	if (!x->old_up)
		return VX_OK;
	snprintf(path, sizeof(path), "%s/%s.conf", VPNCTL_WG_DIR, VPNCTL_IFACE);
	/* Another server's peer survives this connect: keep its file to fall back to. */
	if (x->have_old && strcmp(x->old.server_id, x->next.server_id) != 0 &&
	    pv_file_read(&x->old_text, &x->old_len, path, (size_t)64 * 1024, 1) < 0)
		x->old_text = NULL;
	vpnctl_progress(x->args, "Taking the tunnel to %s down ...",
	                x->have_old ? x->old.server_id : "?");
	if (vpnctl_wg_quick("down", VPNCTL_IFACE, err, sizeof(err)) < 0) {
		vpnctl_err("connect: wg-quick down %s failed:\n%s", VPNCTL_IFACE, err);
		return VX_LOCAL;
	}
	x->old_down = 1;
	return VX_OK;
}

static int report(const struct connect_ctx *x)
{
	double hs_ms = (double)(x->t_hs_us - x->t_up_us) / 1000.0;
	double total_ms = (double)(x->t_hs_us - x->t_start_us) / 1000.0;
	double prov_ms = (double)(x->t_prov_us - x->t_start_us) / 1000.0;
	double up_ms = (double)(x->t_up_us - x->t_up_start_us) / 1000.0;

	if (x->args->json) {
		return vpnctl_print_json(json_pack(
		        "{s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:f, s:s?, s:s?}", "server_id",
		        x->next.server_id, "location", x->next.location, "interface", VPNCTL_IFACE,
		        "address", x->client_ipv4, "endpoint", x->endpoint, "until_provisioned_ms",
		        prov_ms, "wg_quick_up_ms", up_ms, "handshake_after_up_ms", hs_ms,
		        "connect_ms", total_ms, "switched_from",
		        x->have_old && strcmp(x->old.server_id, x->next.server_id) != 0
		                ? x->old.server_id
		                : NULL,
		        "via", x->args->via));
	}
	printf("Connected to %s (%s) as %s via %s; first handshake %.0f ms after wg-quick up, "
	       "%.0f ms in all.\n",
	       x->next.server_id, x->next.location, x->client_ipv4, x->endpoint, hs_ms, total_ms);
	return VX_OK;
}

/* With --kill-switch or the setting, the table goes in before any packet leaves. */
static int lock(const struct connect_ctx *x)
{
	struct vpnctl_settings s;
	char err[1024];

	if (vpnctl_settings_load(&s, VPNCTL_WG_DIR) < 0) {
		vpnctl_err("connect: %s/vpnctl.json is malformed or readable by others",
		           VPNCTL_WG_DIR);
		return VX_LOCAL;
	}
	if (!x->args->kill_switch && !s.kill_switch)
		return VX_OK;
	if (vpnctl_killswitch_on(x->args->split.allow_lan || s.kill_switch_allow_lan, err,
	                         sizeof(err)) < 0) {
		vpnctl_err("connect: cannot install the kill switch: %s", err);
		return VX_LOCAL;
	}
	vpnctl_progress(x->args,
	                "Kill switch on: only the tunnel%s gets through until `vpnctl "
	                "disconnect`",
	                x->args->split.allow_lan || s.kill_switch_allow_lan ? " and the LAN" : "");
	return VX_OK;
}

static int preflight(struct connect_ctx *x)
{
	const char *argv[] = {"wg-quick", "-h", NULL};
	char err[128];
	int r;

	if (geteuid() != 0) {
		vpnctl_err("connect: must run as root: it writes %s and runs wg-quick (try sudo "
		           "vpnctl connect)",
		           VPNCTL_WG_DIR);
		return VX_LOCAL;
	}
	if (vpnctl_run(argv, NULL, err, sizeof(err)) == PV_ENOTFOUND) {
		vpnctl_err("connect: wg-quick is missing: install wireguard-tools (apt install "
		           "wireguard-tools)");
		return VX_LOCAL;
	}
	x->have_old = vpnctl_tunnel_load(&x->old, VPNCTL_WG_DIR) == 0;
	x->old_up = vpnctl_iface_exists(VPNCTL_IFACE);
	x->have_old_hop = vpnctl_hop_load(&x->old_hop) == 0;
	r = lock(x);
	return r ? r : vpnctl_login_load(&x->conf);
}

/* Multi-hop: the entry tunnel, carrying only the exit tunnel's packets (hop.c). */
static int entry_hop(struct connect_ctx *x)
{
	char err[1024];
	int r;

	snprintf(x->hop.server_id, sizeof(x->hop.server_id), "%s", x->args->via);
	snprintf(x->hop.device, sizeof(x->hop.device), "%s", x->next.device);
	x->hop_written = 1;
	r = vpnctl_hop_up(x->args, &x->conf, &x->hop, x->endpoint, err, sizeof(err));
	if (r)
		vpnctl_err("connect: entry hop via %s: %s", x->args->via, err);
	return r;
}

static int connect_to(struct connect_ctx *x)
{
	uint8_t priv[PV_KEY_LEN], pub[PV_KEY_LEN];
	char priv_b64[PV_KEY_B64_LEN + 1], pub_b64[PV_KEY_B64_LEN + 1];
	json_t *reply = NULL;
	int r;

	if (pv_keypair_generate(priv, pub) < 0) {
		vpnctl_err("connect: key generation failed (OpenSSL)");
		return VX_LOCAL;
	}
	pv_key_to_base64(priv_b64, priv);
	pv_key_to_base64(pub_b64, pub);
	OPENSSL_cleanse(priv, sizeof(priv));
	r = vpnctl_provision(x->args, &x->conf, "connect", x->next.server_id, x->next.device,
	                     pub_b64, &reply);
	x->t_prov_us = pv_now_us();
	if (r)
		goto out;
	r = take_old_down(x);
	if (r == VX_OK)
		r = write_tunnel(x, reply, priv_b64);
	if (r == VX_OK && x->args->via)
		r = entry_hop(x);
	if (r == VX_OK)
		r = bring_up(x);
	if (r) {
		roll_back(x);
		goto out;
	}
	/* The old peer is useless now, unless it was this one (same server and device:
	 * the provision replaced it).  After a `rotate` the device name differs. */
	if (x->have_old && (strcmp(x->old.server_id, x->next.server_id) != 0 ||
	                    (x->old.device[0] && strcmp(x->old.device, x->next.device) != 0)))
		revoke_quietly(x, x->old.server_id,
		               x->old.device[0] ? x->old.device : x->next.device);
	/* An old entry hop's peer, unless this connect's provision replaced it. */
	if (x->have_old_hop && (!x->args->via || strcmp(x->old_hop.server_id, x->args->via) != 0))
		revoke_quietly(x, x->old_hop.server_id, x->old_hop.device);
	r = report(x);
out:
	OPENSSL_cleanse(priv_b64, sizeof(priv_b64));
	json_decref(reply);
	return r;
}

int vpnctl_connect_switch(const struct vpnctl_args *args, const struct vpnctl_conf *conf,
                          const char *avoid)
{
	struct connect_ctx x = {.args = args, .conf = *conf, .avoid = avoid};
	int r;

	x.t_start_us = pv_now_us();
	x.have_old = vpnctl_tunnel_load(&x.old, VPNCTL_WG_DIR) == 0;
	x.old_up = vpnctl_iface_exists(VPNCTL_IFACE);
	snprintf(x.next.device, sizeof(x.next.device), "%s",
	         args->device      ? args->device
	         : x.old.device[0] ? x.old.device
	         : conf->device    ? conf->device
	                           : "default");
	r = choose_server(&x, x.next.server_id, sizeof(x.next.server_id), x.next.location,
	                  sizeof(x.next.location));
	if (r == VX_OK)
		r = connect_to(&x);
	if (x.old_text)
		OPENSSL_clear_free(x.old_text, x.old_len);
	return r; /* x.conf is the caller's */
}

int cmd_connect(const struct vpnctl_args *args)
{
	struct connect_ctx x = {.args = args};
	int r;

	x.t_start_us = pv_now_us();
	r = preflight(&x);
	if (r)
		goto out;
	snprintf(x.next.device, sizeof(x.next.device), "%s",
	         args->device    ? args->device
	         : x.conf.device ? x.conf.device
	                         : "default");
	if (args->via && (args->npos != 1 || args->watch || strcmp(args->via, args->pos[0]) == 0)) {
		vpnctl_err("connect: --via ENTRY needs the EXIT server named after it, a different "
		           "one, and no --watch");
		r = VX_USAGE;
	} else if (args->npos == 1 && !pv_server_id_is_valid(args->pos[0])) {
		vpnctl_err("connect: '%s' is not a server name (see `vpnctl servers`)",
		           args->pos[0]);
		r = VX_USAGE;
	} else if (args->npos == 1) {
		snprintf(x.next.server_id, sizeof(x.next.server_id), "%s", args->pos[0]);
		lookup_location(&x);
	} else
		r = choose_server(&x, x.next.server_id, sizeof(x.next.server_id), x.next.location,
		                  sizeof(x.next.location));
	if (r)
		goto out;
	if (already_connected(&x, x.next.server_id))
		printf("Already connected to %s (%s); `vpnctl status -v` shows the tunnel.\n",
		       x.old.server_id, x.old.location);
	else
		r = connect_to(&x);
	if (r == VX_OK && args->watch)
		r = vpnctl_watch(args, &x.conf);
out:
	if (x.old_text)
		OPENSSL_clear_free(x.old_text, x.old_len);
	vpnctl_conf_clear(&x.conf);
	return r;
}
