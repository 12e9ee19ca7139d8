/* SPDX-License-Identifier: MIT */
/*
 * Client configs in wireguard-install.sh's layout; the addresses of a host
 * number come from pv_peer_addrs(), the one place that rule lives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "controller.h"

/* "24" of "10.7.0.0/24"; the installer's defaults when absent. */
static const char *prefix_len(const char *subnet, const char *dflt)
{
	const char *slash = strchr(subnet, '/');

	return slash ? slash + 1 : dflt;
}

int ctl_lease_address(char *out, size_t outlen, const struct pv_server *srv, unsigned lease)
{
	const struct pv_iface *ifc = pv_lease_ifc(srv, lease);
	char v4[PV_ADDR4_MAX], v6[PV_ADDR6_MAX];
	int r;

	if ((r = pv_peer_addrs(srv, lease, v4, v6)) < 0)
		return r;
	snprintf(out, outlen, "%s/%s, %s/%s", v4, prefix_len(ifc->subnet4, "24"), v6,
	         prefix_len(ifc->subnet6, "64"));
	return 0;
}

void ctl_endpoint(char *out, size_t outlen, const struct pv_server *srv, unsigned lease)
{
	const struct pv_iface *ifc = pv_lease_ifc(srv, lease);
	unsigned port = ifc ? ifc->port : srv->ifaces[0].port;

	/* An IPv6 endpoint host needs brackets before the port. */
	snprintf(out, outlen, strchr(srv->wg_host, ':') ? "[%s]:%u" : "%s:%u", srv->wg_host, port);
}

int ctl_wgconf_render(char **out, const struct ctl_wgconf *c)
{
	const struct pv_server *s = c->srv;
	char address[128], priv[128] = "", dns[160] = "", endpoint[80];
	char *buf;
	size_t cap = 1024;
	int n, r;

	*out = NULL;
	if ((r = ctl_lease_address(address, sizeof(address), s, c->host)) < 0)
		return r;
	if (c->private_key)
		snprintf(priv, sizeof(priv), "PrivateKey = %s\n", c->private_key);
	if (c->dns && *c->dns)
		snprintf(dns, sizeof(dns), "DNS = %s\n", c->dns);
	ctl_endpoint(endpoint, sizeof(endpoint), s, c->host);
	buf = malloc(cap);
	if (!buf) {
		OPENSSL_cleanse(priv, sizeof(priv));
		return PV_ENOMEM;
	}
	n = snprintf(
	        buf, cap,
	        "[Interface]\n%sAddress = %s\n%s\n[Peer]\nPublicKey = %s\n"
	        "PresharedKey = %s\nAllowedIPs = %s\nEndpoint = %s\nPersistentKeepalive = 25\n",
	        priv, address, dns, c->server_public_key, c->psk, c->allowed_ips, endpoint);
	OPENSSL_cleanse(priv, sizeof(priv));
	if (n < 0 || (size_t)n >= cap) {
		OPENSSL_clear_free(buf, cap);
		return PV_EINVAL;
	}
	*out = buf;
	return 0;
}
