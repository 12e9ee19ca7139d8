/* SPDX-License-Identifier: MIT */
/*
 * `vpnctl rotate`: a fresh key pair and peer on the same server,
 * make-before-break.  The provision replaces a device's peer, so the new
 * peer is made under the other of two device names (NAME and NAME.r) and
 * the old one stays until the new key has a handshake.  The running
 * interface is switched in place: the new addresses are added, the private
 * key and PSK changed (`wg set` reading them from memory files, never
 * argv), the old addresses removed (secondaries promoted, so the new ones
 * survive), and only after the first handshake with the new key is the
 * old peer revoked and the tunnel file rewritten.  A failure puts the old
 * key and addresses back and revokes the new peer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "vpnctl.h"

#define ROT_SUFFIX ".r"

/* The key material and addresses of one side of the switch. */
struct keyset {
	char priv[PV_KEY_B64_LEN + 1]; /* secret */
	char psk[PV_KEY_B64_LEN + 1];  /* secret */
	struct pv_cidr address[VPNCTL_MAX_ADDRS];
	size_t n_address;
};

struct rotate_ctx {
	const struct vpnctl_args *args;
	struct vpnctl_conf conf;
	struct vpnctl_tunnel t;
	char new_device[VPNCTL_MAX_DEVICE_LEN + 1];
	char server_pub[PV_KEY_B64_LEN + 1];
	struct keyset old, next;
	struct vpnctl_tunnel_spec spec; /* the new tunnel, for the file */
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

/* `ip address VERB ADDR dev pvpn0` for each address. */
static int ip_addresses(const char *verb, const struct keyset *k, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < k->n_address; i++) {
		char a[PV_CIDR_STRLEN];
		const char *argv[] = {"ip", "address", verb, a, "dev", VPNCTL_IFACE, NULL};

		if (pv_cidr_format(a, sizeof(a), &k->address[i], 1) < 0 ||
		    vpnctl_run(argv, NULL, err, errlen) != 0)
			return PV_EREMOTE;
	}
	return 0;
}

/* A memory file holding s, inherited by the child; -1 on failure. */
static int secret_fd(const char *s)
{
	int fd = memfd_create("vpnctl-key", 0);

	if (fd >= 0 && write(fd, s, strlen(s)) != (ssize_t)strlen(s)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* `wg set pvpn0 private-key K peer SERVER preshared-key P`, keys from memfds. */
static int wg_set_keys(const struct rotate_ctx *x, const struct keyset *k, char *err, size_t errlen)
{
	char kpath[32], ppath[32];
	const char *argv[] = {"wg",   "set",         VPNCTL_IFACE,    "private-key", kpath,
	                      "peer", x->server_pub, "preshared-key", ppath,         NULL};
	int kfd = secret_fd(k->priv), pfd = secret_fd(k->psk), r = PV_EIO;

	if (kfd >= 0 && pfd >= 0) {
		snprintf(kpath, sizeof(kpath), "/dev/fd/%d", kfd);
		snprintf(ppath, sizeof(ppath), "/dev/fd/%d", pfd);
		r = vpnctl_run(argv, NULL, err, errlen) == 0 ? 0 : PV_EREMOTE;
	}
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

/* Move the interface from one keyset to the other: add, key, remove. */
static int switch_keys(const struct rotate_ctx *x, const struct keyset *from,
                       const struct keyset *to, char *err, size_t errlen)
{
	int r;

	promote_secondaries();
	r = ip_addresses("add", to, err, errlen);
	if (r == 0)
		r = wg_set_keys(x, to, err, errlen);
	if (r == 0)
		r = ip_addresses("del", from, err, errlen);
	return r;
}

/* One datagram to the server's tunnel address starts the handshake now. */
static void nudge(const struct keyset *k)
{
	char v4[PV_CIDR_STRLEN];
	size_t i;

	for (i = 0; i < k->n_address; i++)
		if (k->address[i].family == AF_INET &&
		    pv_cidr_format(v4, sizeof(v4), &k->address[i], 0) == 0)
			vpnctl_nudge(v4);
}

/* Wait for a handshake at or after `since` (unix seconds). */
static int wait_new_handshake(struct rotate_ctx *x, int64_t since)
{
	uint64_t deadline = pv_now_us() + (uint64_t)x->args->wait_s * 1000000u;
	struct timespec pause = {0, 20L * 1000 * 1000};
	struct vpnctl_wg_status st;

	nudge(&x->next);
	while (pv_now_us() < deadline) {
		if (vpnctl_wg_status(VPNCTL_IFACE, &st) == 0 && st.npeers > 0 &&
		    st.peer.latest_handshake >= since) {
			x->t_hs_us = pv_now_us();
			return 0;
		}
		nanosleep(&pause, NULL);
	}
	return PV_ETIMEOUT;
}

/* Provision the new peer and check its reply like connect does. */
static int provision_new(struct rotate_ctx *x, char *pub_b64)
{
	uint8_t priv[PV_KEY_LEN], pub[PV_KEY_LEN];
	struct vpnctl_tunnel_spec reply_spec;
	json_t *reply = NULL;
	char err[256];
	int r;

	if (pv_keypair_generate(priv, pub) < 0) {
		vpnctl_err("rotate: key generation failed (OpenSSL)");
		return VX_LOCAL;
	}
	pv_key_to_base64(x->next.priv, priv);
	pv_key_to_base64(pub_b64, pub);
	OPENSSL_cleanse(priv, sizeof(priv));
	r = vpnctl_provision(x->args, &x->conf, "rotate", x->t.server_id, x->new_device, pub_b64,
	                     &reply);
	if (r)
		goto out;
	if (vpnctl_tunnel_from_reply(&reply_spec, reply, x->t.server_id, x->next.priv, err,
	                             sizeof(err)) < 0) {
		vpnctl_err("rotate: refusing the controller's reply: %s", err);
		vpnctl_revoke_quietly(&x->conf, "rotate", x->t.server_id, x->new_device);
		r = VX_NETWORK;
		goto out;
	}
	if (strcmp(reply_spec.server_public_key, x->server_pub) != 0) {
		vpnctl_err("rotate: the server's key changed; run `vpnctl connect` instead");
		vpnctl_revoke_quietly(&x->conf, "rotate", x->t.server_id, x->new_device);
		vpnctl_tunnel_spec_clear(&reply_spec);
		r = VX_NETWORK;
		goto out;
	}
	/* The new tunnel: the reply's keys and addresses, the running routing. */
	memcpy(reply_spec.allowed, x->spec.allowed, x->spec.n_allowed * sizeof(*x->spec.allowed));
	reply_spec.n_allowed = x->spec.n_allowed;
	x->spec = reply_spec;
	memcpy(x->next.psk, x->spec.preshared_key, sizeof(x->next.psk));
	memcpy(x->next.address, x->spec.address, sizeof(x->next.address));
	x->next.n_address = x->spec.n_address;
	OPENSSL_cleanse(&reply_spec, sizeof(reply_spec));
out:
	json_decref(reply);
	return r;
}

/* The old peer goes only now; the tunnel file follows the new key. */
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

static int rotate(struct rotate_ctx *x)
{
	char pub[PV_KEY_B64_LEN + 1], old_pub[PV_KEY_B64_LEN + 1], err[1024] = "";
	struct timespec pause = {0, 50L * 1000 * 1000};
	struct vpnctl_wg_status st;
	int64_t since;
	int r;

	if (vpnctl_wg_status(VPNCTL_IFACE, &st) < 0) {
		vpnctl_err("rotate: cannot read the tunnel (wg show)");
		return VX_LOCAL;
	}
	memcpy(old_pub, st.public_key, sizeof(old_pub));
	r = provision_new(x, pub);
	if (r)
		return r;
	/* A handshake in this very second would pass for the new one: start in the next. */
	since = (int64_t)time(NULL) + 1;
	while ((int64_t)time(NULL) < since)
		nanosleep(&pause, NULL);
	vpnctl_progress(x->args, "Switching %s to the new key ...", VPNCTL_IFACE);
	r = switch_keys(x, &x->old, &x->next, err, sizeof(err));
	if (r == 0)
		r = wait_new_handshake(x, since);
	if (r == 0)
		return finish(x, old_pub);
	vpnctl_err("rotate: the new key got no handshake or the switch failed%s%s; back on the "
	           "old key",
	           err[0] ? ": " : "", err);
	if (switch_keys(x, &x->next, &x->old, err, sizeof(err)) < 0)
		vpnctl_err("rotate: could not restore the old key: %s; run `vpnctl connect`", err);
	vpnctl_revoke_quietly(&x->conf, "rotate", x->t.server_id, x->new_device);
	return VX_NETWORK;
}

int cmd_rotate(const struct vpnctl_args *args)
{
	struct rotate_ctx x;
	int r;

	memset(&x, 0, sizeof(x));
	x.args = args;
	x.t_start_us = pv_now_us();
	if (geteuid() != 0) {
		vpnctl_err("rotate: must run as root (it changes the tunnel); try sudo");
		return VX_LOCAL;
	}
	if (!vpnctl_iface_exists(VPNCTL_IFACE) || vpnctl_tunnel_load(&x.t, VPNCTL_WG_DIR) < 0 ||
	    load_current(&x) < 0) {
		vpnctl_err("rotate: no tunnel written by vpnctl is up; `vpnctl connect` first");
		return VX_USAGE;
	}
	if (other_device(x.new_device, sizeof(x.new_device),
	                 x.t.device[0] ? x.t.device : "default") < 0) {
		vpnctl_err("rotate: device name %s is too long to rotate", x.t.device);
		return VX_USAGE;
	}
	r = vpnctl_login_load(&x.conf);
	if (r == VX_OK)
		r = rotate(&x);
	vpnctl_conf_clear(&x.conf);
	OPENSSL_cleanse(&x, sizeof(x));
	return r;
}
