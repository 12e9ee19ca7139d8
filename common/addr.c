/* SPDX-License-Identifier: MIT */
/*
 * A peer's addresses for a lease (interface k, host number N), in
 * wireguard-install.sh's layout, which the servers already have: the IPv4 is
 * N in the last octet of interface k's /24, and the IPv6 is its /64 with N's
 * *decimal digits* as its last group (host 12 is 10.7.0.12 and
 * fddd:2c4:2c4:2c4::12, which is 0x12, not 0xc).  Every producer and
 * consumer of those addresses calls pv_peer_addrs();
 * tests/unit/test_wire_contract.c pins it for every lease.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "pv.h"

/* The network address of "addr/len" (the length is the fleet loader's business). */
static int subnet_base(const char *cidr, int family, unsigned char *buf)
{
	const char *slash = strchr(cidr, '/');
	char net[INET6_ADDRSTRLEN];
	size_t n = slash ? (size_t)(slash - cidr) : strlen(cidr);

	if (n == 0 || n >= sizeof(net))
		return PV_EINVAL;
	memcpy(net, cidr, n);
	net[n] = '\0';
	return inet_pton(family, net, buf) == 1 ? 0 : PV_EINVAL;
}

unsigned pv_lease(unsigned iface, unsigned host)
{
	return iface * PV_LEASE_STRIDE + host;
}

unsigned pv_lease_iface(unsigned lease)
{
	return lease / PV_LEASE_STRIDE;
}

unsigned pv_lease_host(unsigned lease)
{
	return lease % PV_LEASE_STRIDE;
}

int pv_lease_valid(const struct pv_server *srv, unsigned lease)
{
	unsigned host = pv_lease_host(lease);
	size_t n = srv ? srv->n_ifaces : PV_IFACES_MAX;

	return pv_lease_iface(lease) < n && host >= PV_HOST_MIN && host <= PV_HOST_MAX;
}

const struct pv_iface *pv_lease_ifc(const struct pv_server *srv, unsigned lease)
{
	return pv_lease_valid(srv, lease) ? &srv->ifaces[pv_lease_iface(lease)] : NULL;
}

unsigned pv_server_capacity(const struct pv_server *srv)
{
	return (unsigned)srv->n_ifaces * PV_HOSTS_PER_IF;
}

int pv_peer_addrs(const struct pv_server *srv, unsigned lease, char v4[PV_ADDR4_MAX],
                  char v6[PV_ADDR6_MAX])
{
	const struct pv_iface *ifc;
	unsigned char a4[4], a6[16];
	unsigned host = pv_lease_host(lease);
	char dec[4];
	uint64_t group;

	if (!(ifc = pv_lease_ifc(srv, lease)))
		return PV_EINVAL;
	if (subnet_base(ifc->subnet4, AF_INET, a4) < 0)
		return PV_EINVAL;
	if (subnet_base(ifc->subnet6, AF_INET6, a6) < 0)
		return PV_EINVAL;
	a4[3] = (unsigned char)host;
	/* The script writes "::$octet": N's decimal digits, read back as hex. */
	snprintf(dec, sizeof(dec), "%u", host);
	if (pv_parse_u64(dec, 16, 0xffff, &group) < 0)
		return PV_EINVAL;
	a6[14] = (unsigned char)(group >> 8);
	a6[15] = (unsigned char)group;
	if (!inet_ntop(AF_INET, a4, v4, PV_ADDR4_MAX))
		return PV_EINVAL;
	if (!inet_ntop(AF_INET6, a6, v6, PV_ADDR6_MAX))
		return PV_EINVAL;
	return 0;
}

unsigned pv_peer_host_of(const struct pv_server *srv, const char *v4)
{
	unsigned char net[4], a4[4];
	char buf[INET_ADDRSTRLEN];
	const char *slash = strchr(v4, '/');
	size_t n = slash ? (size_t)(slash - v4) : strlen(v4), k;

	if (n == 0 || n >= sizeof(buf) || (slash && strcmp(slash, "/32") != 0))
		return 0;
	memcpy(buf, v4, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, a4) != 1 || a4[3] < PV_HOST_MIN || a4[3] > PV_HOST_MAX)
		return 0;
	for (k = 0; k < srv->n_ifaces; k++)
		if (subnet_base(srv->ifaces[k].subnet4, AF_INET, net) == 0 &&
		    memcmp(net, a4, 3) == 0)
			return pv_lease((unsigned)k, a4[3]);
	return 0;
}
