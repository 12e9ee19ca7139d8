/* SPDX-License-Identifier: MIT */
/*
 * Where an Ethernet frame is going, read from its headers: the IPv4
 * destination, the ARP target, or an IPv6 link-scope destination (neighbour
 * discovery between link-local addresses).  switch.c carries a frame only to
 * the port that owns that address, so nothing addressed outside the fleet is
 * ever carried, whatever MAC address it bears.
 */
#include <string.h>

#include "netsim.h"

#define ETH_HLEN_       14
#define ETHERTYPE_V4    0x0800
#define ETHERTYPE_AR    0x0806
#define ETHERTYPE_V6    0x86dd
#define ARP_LEN         28
#define IPV4_MINLEN     20
#define IPV6_HLEN       40
#define IPPROTO_ICMPV6_ 58
#define ND_FIRST        133 /* router solicitation */
#define ND_LAST         137 /* redirect */

static uint16_t be16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Ethernet/IPv4 ARP (htype 1, ptype 0x0800, 6-byte and 4-byte addresses). */
static void parse_arp(const unsigned char *a, size_t len, struct netsim_dest *d)
{
	if (len < ARP_LEN || be16(a) != 1 || be16(a + 2) != ETHERTYPE_V4 || a[4] != 6 || a[5] != 4)
		return;
	memcpy(&d->ip4, a + 24, 4);
	d->kind = NETSIM_K_ARP;
	d->resolve = 1;
}

static void parse_v4(const unsigned char *ip, size_t len, struct netsim_dest *d)
{
	if (len < IPV4_MINLEN || ip[0] >> 4 != 4)
		return;
	memcpy(&d->ip4, ip + 16, 4);
	d->kind = NETSIM_K_IPV4;
}

/* Only fe80::/10 (link-local unicast) and ff02::/16 (link-scope multicast). */
static void parse_v6(const unsigned char *ip, size_t len, struct netsim_dest *d)
{
	const unsigned char *dst = ip + 24;

	if (len < IPV6_HLEN || ip[0] >> 4 != 6)
		return;
	if (dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80) {
		d->kind = NETSIM_K_V6_LINK;
	} else if (dst[0] == 0xff && dst[1] == 0x02) {
		d->kind = NETSIM_K_V6_LINK;
		d->flood = 1;
	}
	/* ICMPv6 router/neighbour solicitation, advertisement and redirect. */
	if (d->kind == NETSIM_K_V6_LINK && len > IPV6_HLEN && ip[6] == IPPROTO_ICMPV6_ &&
	    ip[IPV6_HLEN] >= ND_FIRST && ip[IPV6_HLEN] <= ND_LAST)
		d->resolve = 1;
}

void netsim_frame_parse(const unsigned char *f, size_t len, struct netsim_dest *d)
{
	memset(d, 0, sizeof(*d));
	d->kind = NETSIM_K_OTHER;
	if (len < ETH_HLEN_)
		return;
	memcpy(d->dmac, f, 6);
	memcpy(d->smac, f + 6, 6);
	switch (be16(f + 12)) {
	case ETHERTYPE_AR:
		parse_arp(f + ETH_HLEN_, len - ETH_HLEN_, d);
		break;
	case ETHERTYPE_V4:
		parse_v4(f + ETH_HLEN_, len - ETH_HLEN_, d);
		break;
	case ETHERTYPE_V6:
		parse_v6(f + ETH_HLEN_, len - ETH_HLEN_, d);
		break;
	default:
		break;
	}
}
