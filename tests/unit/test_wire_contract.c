/* SPDX-License-Identifier: MIT */
/*
 * The wire contract, across every component that produces or consumes a
 * peer's addresses, for every host number 2..254 on servers with different
 * subnets, and for every lease (interface k, host N) of a 3-interface server.  The expectation is
 * written the way wireguard-install.sh builds it ("10.7.0.$octet", "fddd:2c4:2c4:2c4::$octet"):
 * string concatenation, not the code under test.  Producers: the controller's
 * client config and the agentless batch line that becomes the server's
 * AllowedIPs.  Consumers: vpnctl's tunnel file and the address -> host
 * inverse the reconcile uses to reserve hand-made peers' addresses.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "agentless_int.h"
#include "controller.h"
#include "test.h"
#include "vpnctl.h"

#define KEY "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
#define PSK "FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE="

struct subnets {
	const char *v4net, *v6net; /* fleet file form */
	const char *v4pfx, *v6pfx; /* what the script prepends to $octet */
};

static const struct subnets nets[] = {
        {"10.7.0.0/24", "fddd:2c4:2c4:2c4::/64", "10.7.0.", "fddd:2c4:2c4:2c4::"},
        {"10.9.3.0/24", "fd00:1:2:3::/64", "10.9.3.", "fd00:1:2:3::"},
        {"10.8.0.0/24", "fddd:2c4:2c4:2c5::/64", "10.8.0.", "fddd:2c4:2c4:2c5::"},
};
#define NNETS (sizeof(nets) / sizeof(nets[0]))

static struct pv_server server(const struct subnets *n)
{
	struct pv_server s;

	memset(&s, 0, sizeof(s));
	snprintf(s.id, sizeof(s.id), "test-1");
	s.n_ifaces = 1;
	snprintf(s.ifaces[0].name, sizeof(s.ifaces[0].name), "wg0");
	snprintf(s.wg_host, sizeof(s.wg_host), "203.0.113.12");
	s.ifaces[0].port = 51820;
	snprintf(s.ifaces[0].subnet4, sizeof(s.ifaces[0].subnet4), "%s", n->v4net);
	snprintf(s.ifaces[0].subnet6, sizeof(s.ifaces[0].subnet6), "%s", n->v6net);
	return s;
}

/* The controller's client config carries "Address = V4/24, V6/64". */
static void check_client_config(const struct pv_server *s, unsigned host, const char *want)
{
	struct ctl_wgconf c = {s, host, NULL, KEY, PSK, "", "0.0.0.0/0, ::/0"};
	char *out = NULL;

	ASSERT_INT_EQ(ctl_wgconf_render(&out, &c), 0);
	ASSERT_STR_CONTAINS(out, want);
	OPENSSL_clear_free(out, strlen(out) + 1);
}

/* The batch line the server writes verbatim as the block's AllowedIPs. */
static void check_batch_line(const struct pv_server *s, unsigned host, const char *want)
{
	struct agentless_edit e = {.op = AGENTLESS_ADD, .name = "pv1", .host = host};
	struct al_buf in = {0};

	snprintf(e.pubkey, sizeof(e.pubkey), "%s", KEY);
	ASSERT_INT_EQ(al_batch_encode(&in, s, &e, 1), 0);
	ASSERT_STR_CONTAINS(in.p, want);
	al_buf_free(&in, 1);
}

/*
 * vpnctl's tunnel file, built from the provision reply's checked fields,
 * keeps the Address.  The reply's "address" is the value of the controller
 * config's Address line (success_body formats the same addresses and
 * prefixes); vpnctl never reads the config text itself.
 */
static void check_vpnctl_tunnel(const struct pv_server *s, unsigned host, const char *want)
{
	struct ctl_wgconf c = {s, host, NULL, KEY, PSK, "", "0.0.0.0/0, ::/0"};
	struct vpnctl_tunnel t = {.server_id = "test-1", .device = "laptop"}, back;
	struct vpnctl_tunnel_spec spec;
	char *config = NULL, *file = NULL, err[256], address[128];
	const char *line;
	json_t *reply;

	ASSERT_INT_EQ(ctl_wgconf_render(&config, &c), 0);
	line = strstr(config, "Address = ");
	ASSERT_TRUE(line != NULL);
	snprintf(address, sizeof(address), "%.*s", (int)strcspn(line + 10, "\n"), line + 10);
	reply = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "server_id", "test-1", "address",
	                  address, "server_public_key", KEY, "preshared_key", PSK, "endpoint",
	                  "203.0.113.12:51820", "allowed_ips", "0.0.0.0/0, ::/0");
	ASSERT_INT_EQ(vpnctl_tunnel_from_reply(&spec, reply, "test-1", PSK, err, sizeof(err)), 0);
	ASSERT_INT_EQ(vpnctl_tunnel_render(&file, &spec, &t, err, sizeof(err)), 0);
	ASSERT_INT_EQ(vpnctl_tunnel_parse(&back, file), 0);
	ASSERT_STR_EQ(back.address, want);
	vpnctl_tunnel_spec_clear(&spec);
	json_decref(reply);
	OPENSSL_clear_free(config, strlen(config) + 1);
	OPENSSL_clear_free(file, strlen(file));
}

/* A server with one interface per entry of nets: wg0 on nets[0] and port 51820, wg1 ... */
static struct pv_server server_all(void)
{
	struct pv_server s = server(&nets[0]);
	size_t k;

	for (k = 0; k < NNETS; k++) {
		struct pv_iface *ifc = &s.ifaces[k];

		snprintf(ifc->name, sizeof(ifc->name), "wg%zu", k);
		ifc->port = (uint16_t)(51820 + k);
		snprintf(ifc->subnet4, sizeof(ifc->subnet4), "%s", nets[k].v4net);
		snprintf(ifc->subnet6, sizeof(ifc->subnet6), "%s", nets[k].v6net);
	}
	s.n_ifaces = NNETS;
	return s;
}

/* Lease k * 256 + host of s, whose interface k has the subnets n. */
static void check_lease(const struct pv_server *sp, const struct subnets *n, unsigned k,
                        unsigned host)
{
	struct pv_server s = *sp;
	unsigned lease = k * 256 + host;
	char v4[PV_ADDR4_MAX], v6[PV_ADDR6_MAX], want[256], wantv4[32], ep[80];

	ASSERT_INT_EQ(pv_lease(k, host), lease);
	ASSERT_TRUE(pv_lease_valid(&s, lease));
	ASSERT_INT_EQ(pv_peer_addrs(&s, lease, v4, v6), 0);
	/* The client dials its own interface's port. */
	ctl_endpoint(ep, sizeof(ep), &s, lease);
	snprintf(want, sizeof(want), "203.0.113.12:%u", s.ifaces[k].port);
	ASSERT_STR_EQ(ep, want);
	snprintf(wantv4, sizeof(wantv4), "%s%u", n->v4pfx, host);
	ASSERT_STR_EQ(v4, wantv4);
	snprintf(want, sizeof(want), "%s%u", n->v6pfx, host);
	ASSERT_STR_EQ(v6, want);

	snprintf(want, sizeof(want), "Address = %s%u/24, %s%u/64\n", n->v4pfx, host, n->v6pfx,
	         host);
	check_client_config(&s, lease, want);
	snprintf(want, sizeof(want), "privatevpn-batch 1\niface wg%u\nedit\n", k);
	check_batch_line(&s, lease, want);
	snprintf(want, sizeof(want), " %s%u/32 %s%u/128\n", n->v4pfx, host, n->v6pfx, host);
	check_batch_line(&s, lease, want);
	snprintf(want, sizeof(want), "%s%u/24, %s%u/64", n->v4pfx, host, n->v6pfx, host);
	check_vpnctl_tunnel(&s, lease, want);

	ASSERT_INT_EQ(pv_peer_host_of(&s, wantv4), lease);
	snprintf(want, sizeof(want), "%s/32", wantv4);
	ASSERT_INT_EQ(pv_peer_host_of(&s, want), lease);
}

static void check_host(const struct subnets *n, unsigned host)
{
	struct pv_server s = server(n);

	check_lease(&s, n, 0, host);
}

static void test_every_host_agrees(void)
{
	size_t i;
	unsigned host;

	TEST_START("hosts 2..254 (2, 10, 99, 254 among them) get the same addresses everywhere");
	for (i = 0; i < NNETS; i++)
		for (host = PV_HOST_MIN; host <= PV_HOST_MAX; host++)
			check_host(&nets[i], host);
	TEST_DONE();
}

static void test_every_lease_of_three_interfaces_agrees(void)
{
	struct pv_server s = server_all();
	unsigned k, host;

	TEST_START("leases k*256+N of a 3-interface server: wgk's subnets and port everywhere");
	for (k = 0; k < NNETS; k++)
		for (host = PV_HOST_MIN; host <= PV_HOST_MAX; host++)
			check_lease(&s, &nets[k], k, host);
	ASSERT_INT_EQ(pv_server_capacity(&s), 3 * 253);
	TEST_DONE();
}

static void test_leases_outside_the_interfaces_are_refused(void)
{
	struct pv_server s = server_all();
	static const unsigned bad[] = {0, 1, 255, 256, 257, 511, 512 + 255, 768 + 2, 4096 + 2};
	char v4[PV_ADDR4_MAX], v6[PV_ADDR6_MAX];
	struct agentless_edit e = {.op = AGENTLESS_ADD, .name = "pv1", .host = 256 + 2};
	struct al_buf in = {0};
	size_t i;

	TEST_START("leases of no interface (host 0, 1, 255; wg3 of 3) are refused everywhere");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_INT_EQ(pv_peer_addrs(&s, bad[i], v4, v6), PV_EINVAL);
		ASSERT_TRUE(!pv_lease_valid(&s, bad[i]));
	}
	s.n_ifaces = 1; /* wg1's lease on a one-interface server */
	ASSERT_INT_EQ(pv_peer_addrs(&s, 256 + 2, v4, v6), PV_EINVAL);
	ASSERT_INT_EQ(pv_peer_host_of(&s, "10.9.3.2"), 0);
	snprintf(e.pubkey, sizeof(e.pubkey), "%s", KEY);
	ASSERT_INT_EQ(al_batch_encode(&in, &s, &e, 1), PV_EINVAL);
	al_buf_free(&in, 1);
	TEST_DONE();
}

static void test_outside_hosts_are_refused(void)
{
	struct pv_server s = server(&nets[0]);
	char v4[PV_ADDR4_MAX], v6[PV_ADDR6_MAX];

	TEST_START("host numbers 0, 1, 255 and addresses outside the subnet are refused");
	ASSERT_INT_EQ(pv_peer_addrs(&s, 0, v4, v6), PV_EINVAL);
	ASSERT_INT_EQ(pv_peer_addrs(&s, 1, v4, v6), PV_EINVAL);
	ASSERT_INT_EQ(pv_peer_addrs(&s, 255, v4, v6), PV_EINVAL);
	ASSERT_INT_EQ(pv_peer_host_of(&s, "10.7.0.1"), 0);
	ASSERT_INT_EQ(pv_peer_host_of(&s, "10.7.0.255/32"), 0);
	ASSERT_INT_EQ(pv_peer_host_of(&s, "10.7.1.5/32"), 0);
	ASSERT_INT_EQ(pv_peer_host_of(&s, "10.7.0.5/24"), 0);
	ASSERT_INT_EQ(pv_peer_host_of(&s, "fddd:2c4:2c4:2c4::5/128"), 0);
	ASSERT_INT_EQ(pv_peer_host_of(&s, "10.7.0.5x"), 0);
	TEST_DONE();
}

int main(void)
{
	test_every_host_agrees();
	test_every_lease_of_three_interfaces_agrees();
	test_leases_outside_the_interfaces_are_refused();
	test_outside_hosts_are_refused();
	TEST_SUMMARY();
}
