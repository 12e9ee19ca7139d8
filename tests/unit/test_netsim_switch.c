/* SPDX-License-Identifier: MIT */
/*
 * pv-netsim's geography (the delays the issue names) and its forwarding: a
 * frame reaches only the port that owns its destination address; anything
 * addressed outside the fleet is dropped and counted.  Ports here are
 * datagram socketpairs instead of TAP devices (a socketpair keeps frame
 * boundaries like a TAP); the real TAPs are exercised by tests/e2e/19-geo-fleet.sh.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netsim.h"
#include "test.h"

static struct netsim_geo *geo;

static void load_geo(void)
{
	char path[1024], err[512];
	const char *src = getenv("PV_SRC");

	snprintf(path, sizeof(path), "%s/tests/fleet/geo.json", src ? src : ".");
	if (netsim_geo_load(path, &geo, err, sizeof(err)) < 0)
		TEST_FAIL("%s", err);
}

static double oneway_ms(const char *a, enum netsim_role ra, const char *b, enum netsim_role rb)
{
	int la = netsim_geo_find(geo, a), lb = netsim_geo_find(geo, b);

	if (la < 0 || lb < 0)
		TEST_FAIL("unknown location %s or %s", a, b);
	return netsim_geo_oneway_us(geo, la, ra, lb, rb) / 1000.0;
}

static void test_delays_match_the_issue(void)
{
	TEST_START("a New York client sees Frankfurt at ~45 ms and Sydney at ~100 ms one way");
	ASSERT_TRUE(abs((int)(netsim_geo_km(40.71, -74.01, 51.51, -0.13)) - 5570) < 30);
	ASSERT_TRUE(abs((int)oneway_ms("New York", NETSIM_ROLE_CLIENT, "Frankfurt",
	                               NETSIM_ROLE_DATACENTER) -
	                45) <= 1);
	ASSERT_TRUE(abs((int)oneway_ms("New York", NETSIM_ROLE_CLIENT, "Sydney",
	                               NETSIM_ROLE_DATACENTER) -
	                100) <= 1);
	/* Symmetric, and the same city costs only the two access delays. */
	ASSERT_TRUE(oneway_ms("Tokyo", NETSIM_ROLE_CLIENT, "Mumbai", NETSIM_ROLE_DATACENTER) ==
	            oneway_ms("Mumbai", NETSIM_ROLE_DATACENTER, "Tokyo", NETSIM_ROLE_CLIENT));
	ASSERT_TRUE(oneway_ms("London", NETSIM_ROLE_DATACENTER, "London", NETSIM_ROLE_DATACENTER) ==
	            0.5);
	ASSERT_INT_EQ(netsim_geo_find(geo, "Atlantis"), -1);
	TEST_DONE();
}

/* Two fleet ports, 203.0.113.2 (ctl, Frankfurt) and .11 (New York); the
 * test holds the far end of each. */
struct rig {
	struct netsim_ports ps;
	struct netsim_switch sw;
	int far[2];
};

static void rig_port(struct rig *r, int i, const char *name, const char *ip, const char *loc)
{
	struct netsim_port *p = &r->ps.p[i];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) < 0)
		TEST_FAIL("socketpair: %s", strerror(errno));
	snprintf(p->name, sizeof(p->name), "%s", name);
	inet_pton(AF_INET, ip, &p->ip4);
	p->loc = netsim_geo_find(geo, loc);
	p->role = NETSIM_ROLE_DATACENTER;
	p->fd = sv[0];
	r->far[i] = sv[1];
	r->ps.n++;
}

static void rig_up(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	rig_port(r, 0, "ctl", "203.0.113.2", "Frankfurt");
	rig_port(r, 1, "s1", "203.0.113.11", "New York");
	r->sw.ports = &r->ps;
	r->sw.geo = geo;
	r->sw.queue = netsim_queue_new(NETSIM_MAX_PORTS, 16, 64);
	netsim_rng_seed(&r->sw.rng, 1);
}

static void rig_down(struct rig *r)
{
	netsim_ports_close(&r->ps);
	close(r->far[0]);
	close(r->far[1]);
	netsim_queue_free(r->sw.queue);
}

/* An Ethernet frame of type `type` whose payload is `len` bytes of `body`. */
static size_t frame(unsigned char *f, uint16_t type, const unsigned char *body, size_t len)
{
	static const unsigned char src[6] = {2, 0, 0, 0, 0, 1};

	memset(f, 0xff, 6);
	memcpy(f + 6, src, 6);
	f[12] = (unsigned char)(type >> 8);
	f[13] = (unsigned char)type;
	memcpy(f + 14, body, len);
	return 14 + len;
}

static size_t ipv4_to(unsigned char *f, const char *dst)
{
	unsigned char ip[20] = {0x45};

	inet_pton(AF_INET, "203.0.113.2", ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	return frame(f, 0x0800, ip, sizeof(ip));
}

static size_t arp_for(unsigned char *f, const char *target)
{
	unsigned char a[28] = {0, 1, 8, 0, 6, 4, 0, 1};

	inet_pton(AF_INET, target, a + 24);
	return frame(f, 0x0806, a, sizeof(a));
}

static size_t ipv6_to(unsigned char *f, const char *dst)
{
	unsigned char ip[40] = {0x60};

	inet_pton(AF_INET6, dst, ip + 24);
	return frame(f, 0x86dd, ip, sizeof(ip));
}

/* Frames port i's far end received. */
static int received(const struct rig *r, int i)
{
	unsigned char buf[2048];
	int n = 0;

	while (recv(r->far[i], buf, sizeof(buf), 0) > 0)
		n++;
	return n;
}

static void test_only_fleet_addresses_are_carried(void)
{
	static const unsigned char lldp[40];
	unsigned char f[128];
	struct rig r;
	uint64_t d = 0;

	TEST_START("frames to fleet addresses arrive after the delay; anything else is dropped");
	rig_up(&r);
	d = netsim_geo_oneway_us(geo, r.ps.p[0].loc, NETSIM_ROLE_DATACENTER, r.ps.p[1].loc,
	                         NETSIM_ROLE_DATACENTER);
	netsim_switch_input(&r.sw, 0, f, ipv4_to(f, "203.0.113.11"), 0);
	netsim_switch_input(&r.sw, 0, f, arp_for(f, "203.0.113.11"), 0);
	netsim_switch_input(&r.sw, 0, f, ipv6_to(f, "ff02::1"), 0); /* ND: link scope */
	netsim_switch_deliver(&r.sw, d - 1);
	ASSERT_INT_EQ(received(&r, 1), 0);
	netsim_switch_deliver(&r.sw, d);
	ASSERT_INT_EQ(received(&r, 1), 3);
	ASSERT_INT_EQ(r.ps.p[1].st.tx_frames, 3);
	ASSERT_INT_EQ(r.ps.p[0].st.drop_filter, 0);

	/* Outside the fleet: a documentation address, a public one, an ARP for
	 * one, a global IPv6 address, our own address, another ethertype. */
	netsim_switch_input(&r.sw, 0, f, ipv4_to(f, "198.51.100.7"), d);
	netsim_switch_input(&r.sw, 0, f, ipv4_to(f, "8.8.8.8"), d);
	netsim_switch_input(&r.sw, 0, f, arp_for(f, "203.0.113.1"), d);
	netsim_switch_input(&r.sw, 0, f, ipv6_to(f, "2001:db8::1"), d);
	netsim_switch_input(&r.sw, 0, f, ipv4_to(f, "203.0.113.2"), d);
	netsim_switch_input(&r.sw, 0, f, frame(f, 0x88cc, lldp, sizeof(lldp)), d);
	netsim_switch_input(&r.sw, 0, f, 10, d); /* runt */
	ASSERT_INT_EQ(netsim_queue_len(r.sw.queue), 0);
	netsim_switch_deliver(&r.sw, UINT64_MAX - 1);
	ASSERT_INT_EQ(received(&r, 0) + received(&r, 1), 0);
	ASSERT_INT_EQ(r.ps.p[0].st.drop_filter, 7);
	ASSERT_INT_EQ(r.ps.p[0].st.rx_frames, 10);
	rig_down(&r);
	TEST_DONE();
}

static void test_address_resolution_is_not_delayed(void)
{
	unsigned char f[128];
	struct rig r;

	TEST_START("an ARP request crosses at once (it would only reach the next router), "
	           "but never ahead of its pair's earlier frames");
	rig_up(&r);
	netsim_switch_input(&r.sw, 0, f, arp_for(f, "203.0.113.11"), 1000);
	netsim_switch_deliver(&r.sw, 1000);
	ASSERT_INT_EQ(received(&r, 1), 1);
	netsim_switch_input(&r.sw, 0, f, ipv4_to(f, "203.0.113.11"), 2000);
	netsim_switch_input(&r.sw, 0, f, arp_for(f, "203.0.113.11"), 2000);
	netsim_switch_deliver(&r.sw, 2001);
	ASSERT_INT_EQ(received(&r, 1), 0);
	netsim_switch_deliver(&r.sw, UINT64_MAX - 1);
	ASSERT_INT_EQ(received(&r, 1), 2);
	rig_down(&r);
	TEST_DONE();
}

static void test_lossy_link_counts_its_drops(void)
{
	unsigned char f[128];
	struct rig r;
	int i;

	TEST_START("a port with 100% loss carries nothing, and counts every frame it lost");
	rig_up(&r);
	r.ps.p[1].loss_ppm = 1000000;
	for (i = 0; i < 20; i++)
		netsim_switch_input(&r.sw, 0, f, ipv4_to(f, "203.0.113.11"), 0);
	netsim_switch_deliver(&r.sw, UINT64_MAX - 1);
	ASSERT_INT_EQ(received(&r, 1), 0);
	ASSERT_INT_EQ(r.ps.p[0].st.drop_loss, 20);
	rig_down(&r);
	TEST_DONE();
}

int main(void)
{
	load_geo();
	test_delays_match_the_issue();
	test_only_fleet_addresses_are_carried();
	test_address_resolution_is_not_delayed();
	test_lossy_link_counts_its_drops();
	netsim_geo_free(geo);
	TEST_SUMMARY();
}
