/* SPDX-License-Identifier: MIT */
/*
 * The wg-quick file vpnctl writes, built only from values it has checked.
 * wg-quick runs PostUp/PreUp/PostDown lines as root, so a controller that is
 * compromised or impersonated must not be able to put text into the file:
 * the provision reply's individual fields (addresses, keys, endpoint,
 * allowed IPs, DNS) are each parsed into a binary or strictly checked value,
 * and the file is rendered from those values by a fixed template.  The
 * reply's free-text `config` is never read.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include "vpnctl.h"

/* [A-Za-z0-9-] labels of 1..63 characters, not starting or ending with '-', <= 253 in all. */
static int hostname_is_valid(const char *h, size_t len)
{
	size_t label = 0, i;

	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i < len; i++) {
		char c = h[i];

		if (c == '.') {
			if (label == 0 || h[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c == '-' && label > 0)))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && h[len - 1] != '-';
}

/* 1..65535, decimal, no sign or leading zero. */
static int port_is_valid(const char *p)
{
	size_t n = strlen(p);
	unsigned long v = 0;

	if (n == 0 || n > 5 || strspn(p, "0123456789") != n || p[0] == '0')
		return 0;
	for (; *p; p++)
		v = v * 10u + (unsigned long)(*p - '0');
	return v <= 65535;
}

/* Split HOST:PORT / [HOST]:PORT at the last colon; *port points into ep. */
static int endpoint_split(const char *ep, char *host, size_t len, const char **port)
{
	const char *end;
	size_t n;

	if (ep[0] == '[') {
		end = strchr(ep, ']');
		if (!end || end[1] != ':')
			return PV_EINVAL;
		n = (size_t)(end - ep - 1);
		ep++;
		*port = end + 2;
	} else {
		end = strchr(ep, ':');
		if (!end || strchr(end + 1, ':'))
			return PV_EINVAL;
		n = (size_t)(end - ep);
		*port = end + 1;
	}
	if (n >= len)
		return PV_EINVAL;
	memcpy(host, ep, n);
	host[n] = '\0';
	return 0;
}

int vpnctl_endpoint_host(char *host, size_t len, const char *ep)
{
	const char *port;

	return endpoint_split(ep, host, len, &port);
}

int vpnctl_endpoint_is_valid(const char *ep)
{
	char host[VPNCTL_ENDPOINT_LEN];
	const char *port;
	struct in6_addr a6;
	struct in_addr a4;

	if (strlen(ep) >= VPNCTL_ENDPOINT_LEN ||
	    endpoint_split(ep, host, sizeof(host), &port) < 0 || !port_is_valid(port))
		return 0;
	if (ep[0] == '[')
		return inet_pton(AF_INET6, host, &a6) == 1;
	return inet_pton(AF_INET, host, &a4) == 1 || hostname_is_valid(host, strlen(host));
}

void vpnctl_tunnel_spec_clear(struct vpnctl_tunnel_spec *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
}

/* At most one address of each family, at least one in all. */
static int addresses_ok(const struct vpnctl_tunnel_spec *s)
{
	return s->n_address == 1 ||
	       (s->n_address == 2 && s->address[0].family != s->address[1].family);
}

static int spec_fail(struct vpnctl_tunnel_spec *s, char *err, size_t errlen, const char *field,
                     const char *rule)
{
	vpnctl_tunnel_spec_clear(s);
	/* The value itself is not echoed: it may hold a key, or bytes for the terminal. */
	snprintf(err, errlen, "the controller's provision reply has a bad %s: %s", field, rule);
	return PV_EINVAL;
}

/* The private key: ours, or (server-key mode, local_priv NULL) the reply's. */
static int take_private_key(struct vpnctl_tunnel_spec *s, const char *local_priv,
                            const char *reply_priv, char *err, size_t errlen)
{
	if (local_priv && reply_priv)
		return spec_fail(s, err, errlen, "private_key",
		                 "present although vpnctl sent its own public key");
	if (!local_priv && !reply_priv)
		return spec_fail(s, err, errlen, "private_key", "missing in server-key mode");
	if (!pv_key_is_valid_base64(local_priv ? local_priv : reply_priv))
		return spec_fail(s, err, errlen, "private_key",
		                 "not a 44-character WireGuard base64 key");
	memcpy(s->private_key, local_priv ? local_priv : reply_priv, sizeof(s->private_key));
	return 0;
}

int vpnctl_tunnel_from_reply(struct vpnctl_tunnel_spec *s, const json_t *reply,
                             const char *server_id, const char *local_priv, char *err,
                             size_t errlen)
{
	const char *id, *address, *server_pub, *psk, *endpoint, *allowed, *dns = "";
	const char *reply_priv = NULL;
	json_error_t je;

	memset(s, 0, sizeof(*s));
	if (json_unpack_ex((json_t *)reply, &je, 0, "{s:s, s:s, s:s, s:s, s:s, s:s, s?:s, s?:s}",
	                   "server_id", &id, "address", &address, "server_public_key", &server_pub,
	                   "preshared_key", &psk, "endpoint", &endpoint, "allowed_ips", &allowed,
	                   "dns", &dns, "private_key", &reply_priv) < 0) {
		snprintf(err, errlen,
		         "the controller's provision reply lacks a field vpnctl needs (%s); an "
		         "older controller? vpnctl never uses its free-text config",
		         je.text);
		return PV_EINVAL;
	}
	if (strcmp(id, server_id) != 0)
		return spec_fail(s, err, errlen, "server_id", "not the server vpnctl asked for");
	if (take_private_key(s, local_priv, reply_priv, err, errlen) < 0)
		return PV_EINVAL;
	if (pv_cidr_list_parse(s->address, VPNCTL_MAX_ADDRS, &s->n_address, address, 0) < 0 ||
	    !addresses_ok(s))
		return spec_fail(s, err, errlen, "address",
		                 "want one IPv4 and/or one IPv6 address with a prefix length, "
		                 "like 192.0.2.2/24, fd00::2/64");
	if (!pv_key_is_valid_base64(server_pub))
		return spec_fail(s, err, errlen, "server_public_key",
		                 "not a 44-character WireGuard base64 key");
	if (!pv_key_is_valid_base64(psk))
		return spec_fail(s, err, errlen, "preshared_key",
		                 "not a 44-character WireGuard base64 key");
	if (!vpnctl_endpoint_is_valid(endpoint))
		return spec_fail(s, err, errlen, "endpoint",
		                 "want HOST:PORT or [IPv6]:PORT, HOST an IPv4 address or DNS name");
	if (pv_cidr_list_parse(s->allowed, VPNCTL_MAX_ALLOWED, &s->n_allowed, allowed,
	                       PV_CIDR_NETWORK) < 0)
		return spec_fail(s, err, errlen, "allowed_ips",
		                 "want a comma-separated list of network CIDRs like 10.7.0.0/24");
	if (pv_cidr_list_parse(s->dns, VPNCTL_MAX_DNS, &s->n_dns, dns,
	                       PV_CIDR_BARE | PV_CIDR_NO_PREFIX | PV_CIDR_LIST_EMPTY) < 0)
		return spec_fail(s, err, errlen, "dns",
		                 "want a comma-separated list of at most 8 IP addresses");
	memcpy(s->server_public_key, server_pub, sizeof(s->server_public_key));
	memcpy(s->preshared_key, psk, sizeof(s->preshared_key));
	snprintf(s->endpoint, sizeof(s->endpoint), "%s", endpoint);
	return 0;
}

/* Header values go into comment lines: printable ASCII or UTF-8, no control bytes. */
static int comment_value_ok(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || (unsigned char)*v == 0x7f)
			return 0;
	return 1;
}

int vpnctl_tunnel_render(char **out, const struct vpnctl_tunnel_spec *s,
                         const struct vpnctl_tunnel *t, char *err, size_t errlen)
{
	/* Each list item takes at most PV_CIDR_STRLEN + 2 (", ") characters. */
	size_t list_cap = (s->n_allowed + VPNCTL_MAX_ADDRS + VPNCTL_MAX_DNS) * (PV_CIDR_STRLEN + 2);
	size_t cap = list_cap + 1024 + sizeof(struct vpnctl_tunnel); /* the header's fields */
	char *buf = NULL, *address = NULL, *allowed = NULL, *dns = NULL, fwmark[32] = "";
	int head = 0, n, r = PV_EINVAL;

	*out = NULL;
	if (t && (!pv_server_id_is_valid(t->server_id) || !comment_value_ok(t->location) ||
	          !pv_device_is_valid(t->device))) {
		snprintf(err, errlen,
		         "server id, location or device has characters a tunnel file "
		         "header cannot hold");
		return PV_EINVAL;
	}
	buf = malloc(cap);
	address = malloc(list_cap);
	allowed = malloc(list_cap);
	dns = malloc(list_cap);
	if (!buf || !address || !allowed || !dns) {
		snprintf(err, errlen, "out of memory");
		r = PV_ENOMEM;
		goto out;
	}
	if (pv_cidr_list_format(address, list_cap, s->address, s->n_address, 1) < 0 ||
	    pv_cidr_list_format(allowed, list_cap, s->allowed, s->n_allowed, 1) < 0 ||
	    pv_cidr_list_format(dns, list_cap, s->dns, s->n_dns, 0) < 0) {
		snprintf(err, errlen, "tunnel addresses do not format");
		goto out;
	}
	/* vpnctl's own file: its header and the fwmark; an app's (t NULL): neither. */
	if (t) {
		head = snprintf(buf, cap,
		                "# Written by vpnctl connect from checked fields; vpnctl "
		                "disconnect/revoke manage it.\n%s%s\n%s%s\n%s%s\n",
		                VPNCTL_HDR_SERVER, t->server_id, VPNCTL_HDR_LOCATION, t->location,
		                VPNCTL_HDR_DEVICE, t->device);
		snprintf(fwmark, sizeof(fwmark), "FwMark = %u\n", VPNCTL_FWMARK);
	}
	n = snprintf(buf + head, cap - (size_t)head,
	             "[Interface]\nPrivateKey = %s\n%s%s%s%s%s%s%s%s\n"
	             "[Peer]\nPublicKey = %s\nPresharedKey = %s\nAllowedIPs = %s\n"
	             "Endpoint = %s\nPersistentKeepalive = %d\n",
	             s->private_key, s->n_address ? "Address = " : "", address,
	             s->n_address ? "\n" : "", fwmark, s->table_off ? "Table = off\n" : "",
	             s->n_dns ? "DNS = " : "", dns, s->n_dns ? "\n" : "", s->server_public_key,
	             s->preshared_key, allowed, s->endpoint, VPNCTL_KEEPALIVE_S);
	if (n < 0 || (size_t)head + (size_t)n >= cap) {
		snprintf(err, errlen, "tunnel file too long");
		goto out;
	}
	*out = buf;
	buf = NULL;
	r = 0;
out:
	if (buf)
		OPENSSL_clear_free(buf, cap);
	free(address);
	free(allowed);
	free(dns);
	return r;
}
