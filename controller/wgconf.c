/* SPDX-License-Identifier: MIT */
/*
 * Client configs in wireguard-install.sh's layout, with the addresses of a
 * host number computed from the server's subnets.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "controller.h"

/* Copy the address part of "a.b.c.d/len" and parse it. */
static int subnet_base(const char *subnet, int af, void *addr)
{
	char buf[64];
	const char *slash = strchr(subnet, '/');
	size_t n = slash ? (size_t)(slash - subnet) : strlen(subnet);

	if (n >= sizeof(buf))
		return PV_EINVAL;
	memcpy(buf, subnet, n);
	buf[n] = '\0';
	return inet_pton(af, buf, addr) == 1 ? 0 : PV_EINVAL;
}

int ctl_peer_addresses(const struct pv_server *srv, unsigned host, char v4[16], char v6[46])
{
	struct in_addr a4;
	struct in6_addr a6;

	if (host < 2 || host > 254 || subnet_base(srv->subnet4, AF_INET, &a4) < 0 ||
	    subnet_base(srv->subnet6, AF_INET6, &a6) < 0)
		return PV_EINVAL;
	((unsigned char *)&a4)[3] = (unsigned char)host;
	a6.s6_addr[14] = 0;
	a6.s6_addr[15] = (unsigned char)host;
	if (!inet_ntop(AF_INET, &a4, v4, 16) || !inet_ntop(AF_INET6, &a6, v6, 46))
		return PV_EINVAL;
	return 0;
}

/* "24" of "10.7.0.0/24"; the installer's defaults when absent. */
static const char *prefix_len(const char *subnet, const char *dflt)
{
	const char *slash = strchr(subnet, '/');

	return slash ? slash + 1 : dflt;
}

void ctl_endpoint(char *out, size_t outlen, const struct pv_server *srv)
{
	/* An IPv6 endpoint host needs brackets before the port. */
	snprintf(out, outlen, strchr(srv->wg_host, ':') ? "[%s]:%u" : "%s:%u", srv->wg_host,
	         (unsigned)srv->wg_port);
}

int ctl_wgconf_render(char **out, const struct ctl_wgconf *c)
{
	const struct pv_server *s = c->srv;
	char v4[16], v6[46], priv[128] = "", dns[160] = "", endpoint[80];
	char *buf;
	size_t cap = 1024;
	int n, r;

	*out = NULL;
	if ((r = ctl_peer_addresses(s, c->host, v4, v6)) < 0)
		return r;
	if (c->private_key)
		snprintf(priv, sizeof(priv), "PrivateKey = %s\n", c->private_key);
	if (c->dns && *c->dns)
		snprintf(dns, sizeof(dns), "DNS = %s\n", c->dns);
	ctl_endpoint(endpoint, sizeof(endpoint), s);
	buf = malloc(cap);
	if (!buf) {
		OPENSSL_cleanse(priv, sizeof(priv));
		return PV_ENOMEM;
	}
	n = snprintf(
	        buf, cap,
	        "[Interface]\n%sAddress = %s/%s, %s/%s\n%s\n[Peer]\nPublicKey = %s\n"
	        "PresharedKey = %s\nAllowedIPs = %s\nEndpoint = %s\nPersistentKeepalive = 25\n",
	        priv, v4, prefix_len(s->subnet4, "24"), v6, prefix_len(s->subnet6, "64"), dns,
	        c->server_public_key, c->psk, c->allowed_ips, endpoint);
	OPENSSL_cleanse(priv, sizeof(priv));
	if (n < 0 || (size_t)n >= cap) {
		OPENSSL_clear_free(buf, cap);
		return PV_EINVAL;
	}
	*out = buf;
	return 0;
}
