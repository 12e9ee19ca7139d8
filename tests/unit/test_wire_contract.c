/* SPDX-License-Identifier: MIT */
/*
 * The wire contract, across every component that produces or consumes a
 * peer's addresses, for every host number 2..254 on two servers with
 * different subnets.  The expectation is written the way
 * wireguard-install.sh builds it ("10.7.0.$octet", "fddd:2c4:2c4:2c4::$octet"):
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
};

static struct pv_server server(const struct subnets *n)
{
	struct pv_server s;

	memset(&s, 0, sizeof(s));
	snprintf(s.id, sizeof(s.id), "test-1");
	snprintf(s.iface, sizeof(s.iface), "wg0");
	snprintf(s.wg_host, sizeof(s.wg_host), "203.0.113.12");
	s.wg_port = 51820;
	snprintf(s.subnet4, sizeof(s.subnet4), "%s", n->v4net);
	snprintf(s.subnet6, sizeof(s.subnet6), "%s", n->v6net);
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

static void check_host(const struct subnets *n, unsigned host)
{
	struct pv_server s = server(n);
	char v4[PV_ADDR4_MAX], v6[PV_ADDR6_MAX], want[256], wantv4[32];

	ASSERT_INT_EQ(pv_peer_addrs(&s, host, v4, v6), 0);
	snprintf(wantv4, sizeof(wantv4), "%s%u", n->v4pfx, host);
	ASSERT_STR_EQ(v4, wantv4);
	snprintf(want, sizeof(want), "%s%u", n->v6pfx, host);
	ASSERT_STR_EQ(v6, want);

	snprintf(want, sizeof(want), "Address = %s%u/24, %s%u/64\n", n->v4pfx, host, n->v6pfx,
	         host);
	check_client_config(&s, host, want);
	snprintf(want, sizeof(want), " %s%u/32 %s%u/128\n", n->v4pfx, host, n->v6pfx, host);
	check_batch_line(&s, host, want);
	snprintf(want, sizeof(want), "%s%u/24, %s%u/64", n->v4pfx, host, n->v6pfx, host);
	check_vpnctl_tunnel(&s, host, want);

	ASSERT_INT_EQ(pv_peer_host_of(&s, wantv4), host);
	snprintf(want, sizeof(want), "%s/32", wantv4);
	ASSERT_INT_EQ(pv_peer_host_of(&s, want), host);
}

static void test_every_host_agrees(void)
{
	size_t i;
	unsigned host;

	TEST_START("hosts 2..254 (2, 10, 99, 254 among them) get the same addresses everywhere");
	for (i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
		for (host = PV_HOST_MIN; host <= PV_HOST_MAX; host++)
			check_host(&nets[i], host);
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
	test_outside_hosts_are_refused();
	TEST_SUMMARY();
}
