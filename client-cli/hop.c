/* SPDX-License-Identifier: MIT */
/*
 * Multi-hop (`connect --via ENTRY EXIT`): a second tunnel, VPNCTL_HOP_IFACE,
 * to ENTRY that carries nothing but the EXIT tunnel's own UDP.  Its
 * AllowedIPs are EXIT's endpoint addresses only, so wg-quick routes them
 * into the hop; ENTRY forwards and masquerades them, and EXIT sees ENTRY's
 * address as the client's endpoint, never the client's.  Its address is the
 * peer's host address alone (/32, /128): every server uses the same tunnel
 * subnet, which belongs to the EXIT tunnel.  The hop's file is built like
 * pvpn0.conf, from the checked fields of its own provision reply.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "vpnctl.h"

#define HOP_FILE VPNCTL_HOP_IFACE ".conf"

int vpnctl_hop_load(struct vpnctl_tunnel *t)
{
	return vpnctl_tunnel_load_iface(t, VPNCTL_WG_DIR, VPNCTL_HOP_IFACE);
}

int vpnctl_hop_down(char *err, size_t errlen)
{
	return vpnctl_wg_quick_remove(VPNCTL_HOP_IFACE, err, errlen);
}

/* The hop's routing: its own host addresses, and only EXIT's endpoint through it. */
static int hop_routes(struct vpnctl_tunnel_spec *s, const char *exit_endpoint, char *err,
                      size_t errlen)
{
	char host[VPNCTL_ENDPOINT_LEN];
	size_t i;

	for (i = 0; i < s->n_address; i++)
		s->address[i].prefix = s->address[i].family == AF_INET ? 32u : 128u;
	s->n_dns = 0;
	if (vpnctl_endpoint_host(host, sizeof(host), exit_endpoint) < 0 ||
	    vpnctl_resolve_host(host, s->allowed, (size_t)VPNCTL_MAX_ADDRS * 4, &s->n_allowed) <
	            0) {
		snprintf(err, errlen, "cannot resolve the exit's endpoint %s", exit_endpoint);
		return PV_EUNREACH;
	}
	return 0;
}

static int write_hop(const struct vpnctl_tunnel_spec *s, const struct vpnctl_tunnel *t, char *err,
                     size_t errlen)
{
	char *text = NULL;
	int r = vpnctl_tunnel_render(&text, s, t, err, errlen);

	if (r == 0 && vpnctl_write_secret_file(VPNCTL_WG_DIR, HOP_FILE, text, strlen(text)) < 0) {
		snprintf(err, errlen, "cannot write %s/%s: %s", VPNCTL_WG_DIR, HOP_FILE,
		         strerror(errno));
		r = PV_EIO;
	}
	if (text)
		OPENSSL_clear_free(text, strlen(text));
	return r;
}

/* wg-quick up the hop and wait for its first handshake (its keepalive starts it). */
static int hop_start(long wait_s, char *err, size_t errlen)
{
	uint64_t deadline = pv_now_us() + (uint64_t)wait_s * 1000000u;
	struct timespec pause = {0, 50L * 1000 * 1000};
	struct vpnctl_wg_status st;
	int r = vpnctl_wg_quick("up", VPNCTL_HOP_IFACE, err, errlen);

	if (r < 0)
		return r;
	while (pv_now_us() < deadline) {
		if (vpnctl_wg_status(VPNCTL_HOP_IFACE, &st) == 0 && st.npeers > 0 &&
		    st.peer.latest_handshake > 0)
			return 0;
		nanosleep(&pause, NULL);
	}
	snprintf(err, errlen, "no handshake with the entry server within %ld s", wait_s);
	return PV_ETIMEOUT;
}

int vpnctl_hop_up(const struct vpnctl_args *args, const struct vpnctl_conf *conf,
                  const struct vpnctl_tunnel *entry, const char *exit_endpoint, char *err,
                  size_t errlen)
{
	uint8_t priv[PV_KEY_LEN], pub[PV_KEY_LEN];
	char priv_b64[PV_KEY_B64_LEN + 1], pub_b64[PV_KEY_B64_LEN + 1];
	struct vpnctl_tunnel_spec spec;
	json_t *reply = NULL;
	int r;

	memset(&spec, 0, sizeof(spec));
	if (pv_keypair_generate(priv, pub) < 0) {
		snprintf(err, errlen, "key generation failed (OpenSSL)");
		return VX_LOCAL;
	}
	pv_key_to_base64(priv_b64, priv);
	pv_key_to_base64(pub_b64, pub);
	OPENSSL_cleanse(priv, sizeof(priv));
	r = vpnctl_provision(args, conf, "connect", entry->server_id, entry->device, pub_b64,
	                     &reply);
	if (r) {
		snprintf(err, errlen, "the entry server's provision failed");
		goto out;
	}
	r = VX_NETWORK;
	if (vpnctl_tunnel_from_reply(&spec, reply, entry->server_id, priv_b64, err, errlen) < 0 ||
	    hop_routes(&spec, exit_endpoint, err, errlen) < 0)
		goto out;
	r = VX_LOCAL;
	if (write_hop(&spec, entry, err, errlen) < 0)
		goto out;
	vpnctl_progress(args, "Bringing up the entry hop %s to %s ...", VPNCTL_HOP_IFACE,
	                entry->server_id);
	r = hop_start(args->wait_s, err, errlen) < 0 ? VX_NETWORK : VX_OK;
out:
	OPENSSL_cleanse(priv_b64, sizeof(priv_b64));
	vpnctl_tunnel_spec_clear(&spec);
	json_decref(reply);
	return r;
}
