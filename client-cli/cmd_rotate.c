/* SPDX-License-Identifier: MIT */
/*
 * `vpnctl rotate`: a fresh key pair and peer on the same server,
 * make-before-break, without losing a packet.  An interface has one key, and
 * a packet's source address is chosen when it is routed, before WireGuard
 * encrypts it; switching pvpn0's key and address in place sends, for a
 * moment, the old address under the new key, and the server drops that
 * packet (the address is not the new peer's).  So the traffic takes a
 * detour through a second interface while pvpn0 changes:
 *
 * 1. two peers are provisioned (the provision replaces a device's peer, so
 *    under other device names): the final one under the device's other
 *    rotation name (NAME <-> NAME.r) and a temporary one (NAME.t);
 * 2. VPNCTL_ROTATE_IFACE comes up with the temporary key and address, no
 *    routes of its own, and handshakes;
 * 3. every route through pvpn0 is pointed at it, one atomic replace each
 *    (reroute.c): a packet leaves either by pvpn0 with the old address and
 *    key or by the detour with the temporary ones, never a mix;
 * 4. pvpn0, idle now, takes the final key (`wg set` reading it from a
 *    memory file, never argv) and address and handshakes; the old address
 *    stays until then for the replies still on their way;
 * 5. the routes come back to pvpn0, the tunnel file is rewritten, the old
 *    and the temporary peers are revoked and the detour goes down.
 * A failure puts the key, the addresses and the routes back on pvpn0 and
 * revokes the new peers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "vpnctl.h"

#define ROT_SUFFIX  ".r"
#define TEMP_SUFFIX ".t"
#define TEMP_FILE   VPNCTL_ROTATE_IFACE ".conf"

/* The key material and addresses of one side of the switch. */
struct keyset {
	char priv[PV_KEY_B64_LEN + 1]; /* secret */
	char psk[PV_KEY_B64_LEN + 1];  /* secret */
	struct pv_cidr address[VPNCTL_MAX_ADDRS];
	size_t n_address;
};

/* How far the switch got: what a failure has to undo. */
enum stage {
	ST_PROVISIONED, /* both new peers exist */
	ST_DETOUR_UP,   /* the detour interface exists */
	ST_ROUTED,      /* the routes (may) point at the detour */
	ST_REKEYED      /* pvpn0 holds (or may hold) the final key and address */
};

struct rotate_ctx {
	const struct vpnctl_args *args;
	struct vpnctl_conf conf;
	struct vpnctl_tunnel t;
	char new_device[VPNCTL_MAX_DEVICE_LEN + 1];
	char tmp_device[VPNCTL_MAX_DEVICE_LEN + 1];
	char server_pub[PV_KEY_B64_LEN + 1];
	struct keyset old, tmp, next;
	struct vpnctl_tunnel_spec spec;     /* the final tunnel, for the file */
	struct vpnctl_tunnel_spec tmp_spec; /* the detour's */
	struct vpnctl_routes routes;        /* pvpn0's, moved away and back */
	uint64_t t_start_us, t_hs_us;
};

/* NAME <-> NAME.r, within the device name's length. */
static int other_device(char *out, size_t len, const char *dev)
{
	size_t n = strlen(dev), k = strlen(ROT_SUFFIX);

	if (n > k && strcmp(dev + n - k, ROT_SUFFIX) == 0)
		return snprintf(out, len, "%.*s", (int)(n - k), dev) < (int)len ? 0 : PV_EINVAL;
	if (n + k > VPNCTL_MAX_DEVICE_LEN)
		return PV_EINVAL;
	return snprintf(out, len, "%s%s", dev, ROT_SUFFIX) < (int)len ? 0 : PV_EINVAL;
}

/* NAME.t for NAME and NAME.r: the temporary peer's device name. */
static int temp_device(char *out, size_t len, const char *dev)
{
	size_t n = strlen(dev), k = strlen(ROT_SUFFIX);

	if (n > k && strcmp(dev + n - k, ROT_SUFFIX) == 0)
		n -= k;
	if (n + strlen(TEMP_SUFFIX) > VPNCTL_MAX_DEVICE_LEN)
		return PV_EINVAL;
	return snprintf(out, len, "%.*s%s", (int)n, dev, TEMP_SUFFIX) < (int)len ? 0 : PV_EINVAL;
}

/* Value of "Key = value" in our own tunnel file, into out. */
static int file_value(const char *text, const char *key, char *out, size_t len)
{
	size_t k = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, key, k) == 0 && strncmp(p + k, " = ", 3) == 0) {
			size_t n = strcspn(p + k + 3, "\n");

			return n < len && snprintf(out, len, "%.*s", (int)n, p + k + 3) >= 0
			               ? 0
			               : PV_EINVAL;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return PV_ENOTFOUND;
}

/* The running tunnel's key, PSK, addresses and allowed IPs from its file. */
static int load_current(struct rotate_ctx *x)
{
	char path[128], *text = NULL, line[VPNCTL_MAX_ALLOWED * (PV_CIDR_STRLEN + 2)];
	size_t len = 0;
	int r;

	snprintf(path, sizeof(path), "%s/%s.conf", VPNCTL_WG_DIR, VPNCTL_IFACE);
	if ((r = pv_file_read(&text, &len, path, (size_t)64 * 1024, 1)) < 0)
		return r;
	r = PV_EINVAL;
	if (file_value(text, "PrivateKey", x->old.priv, sizeof(x->old.priv)) < 0 ||
	    file_value(text, "PresharedKey", x->old.psk, sizeof(x->old.psk)) < 0 ||
	    file_value(text, "PublicKey", x->server_pub, sizeof(x->server_pub)) < 0 ||
	    file_value(text, "Address", line, sizeof(line)) < 0 ||
	    pv_cidr_list_parse(x->old.address, VPNCTL_MAX_ADDRS, &x->old.n_address, line, 0) < 0 ||
	    file_value(text, "AllowedIPs", line, sizeof(line)) < 0 ||
	    pv_cidr_list_parse(x->spec.allowed, VPNCTL_MAX_ALLOWED, &x->spec.n_allowed, line,
	                       PV_CIDR_NETWORK) < 0)
		goto out;
	r = 0;
out:
	OPENSSL_clear_free(text, len);
	return r;
}

/*
 * `ip address VERB ADDR dev IFACE` for each address.  Added addresses get no
 * prefix route: the routes are the ones listed and moved, nothing else.
 */
static int ip_addresses(const char *verb, const char *iface, const struct keyset *k, char *err,
                        size_t errlen)
{
	size_t i;

	for (i = 0; i < k->n_address; i++) {
		char a[PV_CIDR_STRLEN];
		const char *argv[] = {"ip",
		                      "address",
		                      verb,
		                      a,
		                      "dev",
		                      iface,
		                      strcmp(verb, "add") == 0 ? "noprefixroute" : NULL,
		                      NULL};

		if (pv_cidr_format(a, sizeof(a), &k->address[i], 1) < 0 ||
		    vpnctl_run(argv, NULL, err, errlen) != 0)
			return PV_EREMOTE;
	}
	return 0;
}

/* `wg set pvpn0 private-key K peer SERVER preshared-key P`, keys from memfds. */
static int wg_set_keys(const struct rotate_ctx *x, const struct keyset *k, char *err, size_t errlen)
{
	char kpath[32], ppath[32];
	const char *argv[] = {"wg",   "set",         VPNCTL_IFACE,    "private-key", kpath,
	                      "peer", x->server_pub, "preshared-key", ppath,         NULL};
	int kfd = vpnctl_memfd("vpnctl-key", k->priv, kpath, sizeof(kpath));
	int pfd = vpnctl_memfd("vpnctl-psk", k->psk, ppath, sizeof(ppath)), r = PV_EIO;

	if (kfd >= 0 && pfd >= 0)
		r = vpnctl_run(argv, NULL, err, errlen) == 0 ? 0 : PV_EREMOTE;
	if (kfd >= 0)
		close(kfd);
	if (pfd >= 0)
		close(pfd);
	return r;
}

/* Deleting a primary IPv4 address must not take the new (secondary) one with it. */
static void promote_secondaries(void)
{
	int fd = open("/proc/sys/net/ipv4/conf/" VPNCTL_IFACE "/promote_secondaries",
	              O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			vpnctl_err("rotate: cannot set promote_secondaries on %s", VPNCTL_IFACE);
		close(fd);
	}
}

/* One datagram out of iface to the server's tunnel address starts its handshake now. */
static void nudge(const char *iface, const struct keyset *k)
{
	char v4[PV_CIDR_STRLEN];
	size_t i;

	for (i = 0; i < k->n_address; i++)
		if (k->address[i].family == AF_INET &&
		    pv_cidr_format(v4, sizeof(v4), &k->address[i], 0) == 0)
			vpnctl_nudge(iface, v4);
}

/* Wait for a handshake on iface at or after `since` (unix seconds). */
static int wait_handshake(struct rotate_ctx *x, const char *iface, const struct keyset *k,
                          int64_t since)
{
	uint64_t deadline = pv_now_us() + (uint64_t)x->args->wait_s * 1000000u;
	struct timespec pause = {0, 20L * 1000 * 1000};
	struct vpnctl_wg_status st;

	nudge(iface, k);
	while (pv_now_us() < deadline) {
		if (vpnctl_wg_status(iface, &st) == 0 && st.npeers > 0 &&
		    st.peer.latest_handshake >= since) {
			x->t_hs_us = pv_now_us();
			return 0;
		}
		nanosleep(&pause, NULL);
	}
	return PV_ETIMEOUT;
}

/* Provision a new peer for device and check its reply like connect does. */
static int provision(struct rotate_ctx *x, const char *device, struct keyset *k,
                     struct vpnctl_tunnel_spec *spec)
{
	uint8_t priv[PV_KEY_LEN], pub[PV_KEY_LEN];
	char err[256], pub_b64[PV_KEY_B64_LEN + 1];
	json_t *reply = NULL;
	int r;

	if (pv_keypair_generate(priv, pub) < 0) {
		vpnctl_err("rotate: key generation failed (OpenSSL)");
		return VX_LOCAL;
	}
	pv_key_to_base64(k->priv, priv);
	pv_key_to_base64(pub_b64, pub);
	OPENSSL_cleanse(priv, sizeof(priv));
	if ((r = vpnctl_provision(x->args, &x->conf, "rotate", x->t.server_id, device, pub_b64,
	                          &reply)))
		goto out;
	if (vpnctl_tunnel_from_reply(spec, reply, x->t.server_id, k->priv, err, sizeof(err)) < 0) {
		vpnctl_err("rotate: refusing the controller's reply: %s", err);
		r = VX_NETWORK;
	} else if (strcmp(spec->server_public_key, x->server_pub) != 0) {
		vpnctl_err("rotate: the server's key changed; run `vpnctl connect` instead");
		vpnctl_tunnel_spec_clear(spec);
		r = VX_NETWORK;
	}
	if (r) {
		vpnctl_revoke_quietly(&x->conf, "rotate", x->t.server_id, device);
		goto out;
	}
	/* The running routing, not the reply's: the new peer replaces the key, not the routes. */
	memcpy(spec->allowed, x->spec.allowed, x->spec.n_allowed * sizeof(*x->spec.allowed));
	spec->n_allowed = x->spec.n_allowed;
	memcpy(k->psk, spec->preshared_key, sizeof(k->psk));
	memcpy(k->address, spec->address, sizeof(k->address));
	k->n_address = spec->n_address;
out:
	json_decref(reply);
	return r;
}

/* The detour: the temporary key on its own interface, addresses without routes. */
static int detour_up(struct rotate_ctx *x, char *err, size_t errlen)
{
	struct vpnctl_tunnel t = x->t;
	char *text = NULL;
	int r;

	snprintf(t.device, sizeof(t.device), "%s", x->tmp_device);
	x->tmp_spec.n_address = 0; /* added below, without prefix routes */
	x->tmp_spec.table_off = 1;
	if ((r = vpnctl_tunnel_render(&text, &x->tmp_spec, &t, err, errlen)) < 0)
		return r;
	r = vpnctl_write_secret_file(VPNCTL_WG_DIR, TEMP_FILE, text, strlen(text));
	OPENSSL_clear_free(text, strlen(text));
	if (r < 0) {
		snprintf(err, errlen, "cannot write %s/%s: %s", VPNCTL_WG_DIR, TEMP_FILE,
		         strerror(errno));
		return r;
	}
	if ((r = vpnctl_wg_quick("up", VPNCTL_ROTATE_IFACE, err, errlen)) < 0)
		return r;
	if ((r = ip_addresses("add", VPNCTL_ROTATE_IFACE, &x->tmp, err, errlen)) < 0)
		return r;
	if ((r = wait_handshake(x, VPNCTL_ROTATE_IFACE, &x->tmp, 1)) < 0)
		snprintf(err, errlen, "no handshake on %s with the temporary key",
		         VPNCTL_ROTATE_IFACE);
	return r;
}

static void detour_down(void)
{
	char err[256];

	if (vpnctl_wg_quick_remove(VPNCTL_ROTATE_IFACE, err, sizeof(err)) < 0)
		vpnctl_err("rotate: taking %s down: %s", VPNCTL_ROTATE_IFACE, err);
}

/* pvpn0, idle behind the detour, takes the final key and address. */
static int rekey(struct rotate_ctx *x, char *err, size_t errlen)
{
	struct timespec pause = {0, 50L * 1000 * 1000};
	int64_t since;
	int r;

	/* A handshake in this very second would pass for the new one: start in the next. */
	since = (int64_t)time(NULL) + 1;
	while ((int64_t)time(NULL) < since)
		nanosleep(&pause, NULL);
	promote_secondaries();
	if ((r = ip_addresses("add", VPNCTL_IFACE, &x->next, err, errlen)) < 0)
		return r;
	if ((r = wg_set_keys(x, &x->next, err, errlen)) < 0)
		return r;
	if ((r = wait_handshake(x, VPNCTL_IFACE, &x->next, since)) < 0) {
		snprintf(err, errlen, "no handshake on %s with the new key", VPNCTL_IFACE);
		return r;
	}
	/* The replies to the old address arrived during the handshake's round trip. */
	return ip_addresses("del", VPNCTL_IFACE, &x->old, err, errlen);
}

/* Put pvpn0 back as it was, from how far the switch got, and revoke the new peers. */
static void undo(struct rotate_ctx *x, enum stage st)
{
	char err[1024];

	if (st >= ST_REKEYED) {
		if (wg_set_keys(x, &x->old, err, sizeof(err)) < 0)
			vpnctl_err(
			        "rotate: could not restore the old key: %s; run `vpnctl connect`",
			        err);
		(void)ip_addresses("add", VPNCTL_IFACE, &x->old, err, sizeof(err));
		(void)ip_addresses("del", VPNCTL_IFACE, &x->next, err, sizeof(err));
	}
	if (st >= ST_ROUTED && vpnctl_routes_move(&x->routes, VPNCTL_IFACE, err, sizeof(err)) < 0)
		vpnctl_err("rotate: could not route through %s again: %s; run `vpnctl connect`",
		           VPNCTL_IFACE, err);
	if (st >= ST_DETOUR_UP)
		detour_down();
	vpnctl_revoke_quietly(&x->conf, "rotate", x->t.server_id, x->tmp_device);
	vpnctl_revoke_quietly(&x->conf, "rotate", x->t.server_id, x->new_device);
}

/* The old and temporary peers go only now; the tunnel file follows the new key. */
static int finish(struct rotate_ctx *x, const char *old_pub)
{
	struct vpnctl_tunnel t = x->t;
	char err[256], *text = NULL, new_pub[PV_KEY_B64_LEN + 1] = "";
	uint8_t priv[PV_KEY_LEN], pub[PV_KEY_LEN];
	int r = VX_LOCAL;

	if (pv_key_from_base64(priv, x->next.priv) == 0 && pv_pubkey_from_private(pub, priv) == 0)
		pv_key_to_base64(new_pub, pub);
	OPENSSL_cleanse(priv, sizeof(priv));

	snprintf(t.device, sizeof(t.device), "%s", x->new_device);
	if (vpnctl_tunnel_render(&text, &x->spec, &t, err, sizeof(err)) < 0)
		vpnctl_err("rotate: %s", err);
	else if (vpnctl_write_secret_file(VPNCTL_WG_DIR, VPNCTL_IFACE ".conf", text, strlen(text)) <
	         0)
		vpnctl_err("rotate: cannot write the tunnel file: %s", strerror(errno));
	else
		r = VX_OK;
	if (text)
		OPENSSL_clear_free(text, strlen(text));
	vpnctl_revoke_quietly(&x->conf, "rotate", x->t.server_id, x->t.device);
	vpnctl_revoke_quietly(&x->conf, "rotate", x->t.server_id, x->tmp_device);
	/* Last: the replies still on their way to the detour arrived meanwhile. */
	detour_down();
	if (r)
		return r;
	if (x->args->json)
		return vpnctl_print_json(json_pack(
		        "{s:s, s:s, s:s, s:s, s:f}", "server_id", x->t.server_id, "device",
		        x->new_device, "old_public_key", old_pub, "public_key", new_pub,
		        "rotate_ms", (double)(x->t_hs_us - x->t_start_us) / 1000.0));
	printf("Rotated the key on %s (device %s now); the old peer is revoked.\n", x->t.server_id,
	       x->new_device);
	return VX_OK;
}

/* Steps 2 to 4 of the header; *st says how far they got. */
static int switch_over(struct rotate_ctx *x, enum stage *st, char *err, size_t errlen)
{
	int r;

	vpnctl_progress(x->args, "Bringing up %s with a temporary key ...", VPNCTL_ROTATE_IFACE);
	*st = ST_DETOUR_UP;
	if ((r = detour_up(x, err, errlen)) < 0)
		return r;
	vpnctl_progress(x->args, "Routing through %s while %s changes its key ...",
	                VPNCTL_ROTATE_IFACE, VPNCTL_IFACE);
	*st = ST_ROUTED;
	if ((r = vpnctl_routes_move(&x->routes, VPNCTL_ROTATE_IFACE, err, errlen)) < 0)
		return r;
	*st = ST_REKEYED;
	if ((r = rekey(x, err, errlen)) < 0)
		return r;
	return vpnctl_routes_move(&x->routes, VPNCTL_IFACE, err, errlen);
}

static int rotate(struct rotate_ctx *x)
{
	char old_pub[PV_KEY_B64_LEN + 1], err[1024] = "";
	struct vpnctl_wg_status st;
	enum stage stage = ST_PROVISIONED;
	int r;

	if (vpnctl_wg_status(VPNCTL_IFACE, &st) < 0) {
		vpnctl_err("rotate: cannot read the tunnel (wg show)");
		return VX_LOCAL;
	}
	memcpy(old_pub, st.public_key, sizeof(old_pub));
	if (vpnctl_iface_exists(VPNCTL_ROTATE_IFACE)) {
		vpnctl_err("rotate: %s exists: another rotate is running, or one was interrupted "
		           "(`wg-quick down %s` once none runs)",
		           VPNCTL_ROTATE_IFACE, VPNCTL_ROTATE_IFACE);
		return VX_LOCAL;
	}
	if (vpnctl_routes_of(&x->routes, VPNCTL_IFACE, err, sizeof(err)) < 0) {
		vpnctl_err("rotate: cannot list the routes through %s: %s", VPNCTL_IFACE, err);
		return VX_LOCAL;
	}
	if ((r = provision(x, x->tmp_device, &x->tmp, &x->tmp_spec)))
		return r;
	if ((r = provision(x, x->new_device, &x->next, &x->spec))) {
		vpnctl_revoke_quietly(&x->conf, "rotate", x->t.server_id, x->tmp_device);
		return r;
	}
	if (switch_over(x, &stage, err, sizeof(err)) == 0)
		return finish(x, old_pub);
	vpnctl_err("rotate: %s; back on the old key", err[0] ? err : "the switch failed");
	undo(x, stage);
	return VX_NETWORK;
}

int cmd_rotate(const struct vpnctl_args *args)
{
	struct rotate_ctx *x = calloc(1, sizeof(*x));
	int r = VX_USAGE;

	if (!x) {
		vpnctl_err("rotate: out of memory");
		return VX_LOCAL;
	}
	x->args = args;
	x->t_start_us = pv_now_us();
	if (geteuid() != 0) {
		vpnctl_err("rotate: must run as root (it changes the tunnel); try sudo");
		r = VX_LOCAL;
		goto out;
	}
	if (!vpnctl_iface_exists(VPNCTL_IFACE) || vpnctl_tunnel_load(&x->t, VPNCTL_WG_DIR) < 0 ||
	    load_current(x) < 0) {
		vpnctl_err("rotate: no tunnel written by vpnctl is up; `vpnctl connect` first");
		goto out;
	}
	if (other_device(x->new_device, sizeof(x->new_device),
	                 x->t.device[0] ? x->t.device : "default") < 0 ||
	    temp_device(x->tmp_device, sizeof(x->tmp_device),
	                x->t.device[0] ? x->t.device : "default") < 0) {
		vpnctl_err("rotate: device name %s is too long to rotate", x->t.device);
		goto out;
	}
	r = vpnctl_login_load(&x->conf);
	if (r == VX_OK)
		r = rotate(x);
	vpnctl_conf_clear(&x->conf);
out:
	vpnctl_routes_free(&x->routes);
	OPENSSL_clear_free(x, sizeof(*x));
	return r;
}
