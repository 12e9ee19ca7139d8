/* SPDX-License-Identifier: MIT */
/* Client configs in wireguard-install.sh's layout (docs/api.md). */
#include <string.h>

#include <openssl/crypto.h>

#include "controller.h"
#include "test.h"

static const char *priv = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
static const char *spub = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";
static const char *psk = "FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=";

static struct pv_server server(void)
{
	struct pv_server s;

	memset(&s, 0, sizeof(s));
	snprintf(s.id, sizeof(s.id), "eu-west-1");
	snprintf(s.wg_host, sizeof(s.wg_host), "203.0.113.12");
	s.n_ifaces = 1;
	s.ifaces[0].port = 51820;
	snprintf(s.ifaces[0].subnet4, sizeof(s.ifaces[0].subnet4), "10.7.0.0/24");
	snprintf(s.ifaces[0].subnet6, sizeof(s.ifaces[0].subnet6), "fddd:2c4:2c4:2c4::/64");
	return s;
}

int main(void)
{
	struct pv_server s = server();
	struct ctl_wgconf c = {&s, 12, priv, spub, psk, "1.1.1.1, 1.0.0.1", "0.0.0.0/0, ::/0"};
	char ep[80];
	char *out = NULL;

	TEST_START("a server-made key pair puts PrivateKey right after [Interface]");
	ASSERT_INT_EQ(ctl_wgconf_render(&out, &c), 0);
	ASSERT_STR_EQ(out, "[Interface]\n"
	                   "PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"
	                   "Address = 10.7.0.12/24, fddd:2c4:2c4:2c4::12/64\n"
	                   "DNS = 1.1.1.1, 1.0.0.1\n"
	                   "\n"
	                   "[Peer]\n"
	                   "PublicKey = HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=\n"
	                   "PresharedKey = FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=\n"
	                   "AllowedIPs = 0.0.0.0/0, ::/0\n"
	                   "Endpoint = 203.0.113.12:51820\n"
	                   "PersistentKeepalive = 25\n");
	OPENSSL_clear_free(out, strlen(out) + 1);
	TEST_DONE();

	TEST_START("a client-made key and no DNS leave both lines out");
	c.private_key = NULL;
	c.dns = "";
	c.allowed_ips = "10.7.0.0/24";
	ASSERT_INT_EQ(ctl_wgconf_render(&out, &c), 0);
	ASSERT_STR_EQ(out, "[Interface]\n"
	                   "Address = 10.7.0.12/24, fddd:2c4:2c4:2c4::12/64\n"
	                   "\n"
	                   "[Peer]\n"
	                   "PublicKey = HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=\n"
	                   "PresharedKey = FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=\n"
	                   "AllowedIPs = 10.7.0.0/24\n"
	                   "Endpoint = 203.0.113.12:51820\n"
	                   "PersistentKeepalive = 25\n");
	OPENSSL_clear_free(out, strlen(out) + 1);
	TEST_DONE();

	TEST_START("an IPv6 endpoint is bracketed");
	snprintf(s.wg_host, sizeof(s.wg_host), "2001:db8::7");
	ctl_endpoint(ep, sizeof(ep), &s, 2);
	ASSERT_STR_EQ(ep, "[2001:db8::7]:51820");
	TEST_DONE();

	TEST_START("an unparsable subnet is refused, not rendered");
	snprintf(s.ifaces[0].subnet4, sizeof(s.ifaces[0].subnet4), "10.7.0/24");
	ASSERT_INT_EQ(ctl_wgconf_render(&out, &c), PV_EINVAL);
	ASSERT_TRUE(out == NULL);
	TEST_DONE();
	TEST_SUMMARY();
}
