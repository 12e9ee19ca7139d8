/* SPDX-License-Identifier: MIT */
/* Running programs without a shell, parsing `wg show IFACE dump`, moving routes. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "vpnctl.h"

static const char *dump =
        "eLY6k1TaEaipiHXeqEy41wcS3pouw9gpsNwRuKwfRUM=\t6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8="
        "\t41234\t0xca6c\n"
        "kT9nTqU0hZ0XhV9OXZ1Ggxp6o0kx9WmXHW7ggjdkdS8=\t(none)\t203.0.113.12:51820\t0.0.0.0/0,::/0"
        "\t1764050000\t1234\t5678\t25\n";

static void test_dump_is_parsed_without_the_private_key(void)
{
	struct vpnctl_wg_status st;

	TEST_START("a wg dump gives the interface key, fwmark and the peer's counters");
	ASSERT_INT_EQ(vpnctl_wg_dump_parse(dump, &st), 0);
	ASSERT_STR_EQ(st.public_key, "6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8=");
	ASSERT_INT_EQ(st.fwmark, 51820);
	ASSERT_INT_EQ(st.npeers, 1);
	ASSERT_STR_EQ(st.peer.endpoint, "203.0.113.12:51820");
	ASSERT_STR_EQ(st.peer.allowed_ips, "0.0.0.0/0,::/0");
	ASSERT_INT_EQ(st.peer.latest_handshake, 1764050000);
	ASSERT_INT_EQ(st.peer.rx, 1234);
	ASSERT_INT_EQ(st.peer.tx, 5678);
	ASSERT_TRUE(memmem(&st, sizeof(st), "eLY6k1Ta", 8) == NULL);
	TEST_DONE();
}

static void test_bad_dumps_are_refused(void)
{
	struct vpnctl_wg_status st;

	TEST_START("a dump with junk counters, a short line or a bad key is refused");
	ASSERT_INT_EQ(vpnctl_wg_dump_parse("", &st), PV_EINVAL);
	ASSERT_INT_EQ(vpnctl_wg_dump_parse("a\tb\t1\toff\n", &st), PV_EINVAL);
	ASSERT_INT_EQ(
	        vpnctl_wg_dump_parse("x\t6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8=\t1\toff\n"
	                             "kT9nTqU0hZ0XhV9OXZ1Ggxp6o0kx9WmXHW7ggjdkdS8=\t(none)\t(none)"
	                             "\t\t-1\t0\t0\toff\n",
	                             &st),
	        PV_EINVAL);
	ASSERT_INT_EQ(vpnctl_wg_dump_parse(
	                      "x\t6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8=\t1\toff\n", &st),
	              0);
	ASSERT_INT_EQ(st.npeers, 0);
	ASSERT_INT_EQ(st.fwmark, 0);
	ASSERT_INT_EQ(vpnctl_wg_dump_parse(
	                      "x\t6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8=\t1\t51820\n", &st),
	              PV_EINVAL);
	TEST_DONE();
}

static void test_run_captures_and_reports(void)
{
	const char *echo[] = {"echo", "hello", NULL};
	const char *missing[] = {"vpnctl-no-such-program", NULL};
	const char *fails[] = {"ls", "/nonexistent-vpnctl-path", NULL};
	char err[256], *out = NULL;

	TEST_START("programs run without a shell: output captured, missing ones named");
	ASSERT_INT_EQ(vpnctl_run(echo, &out, err, sizeof(err)), 0);
	ASSERT_STR_EQ(out, "hello\n");
	free(out);
	ASSERT_INT_EQ(vpnctl_run(missing, NULL, err, sizeof(err)), PV_ENOTFOUND);
	ASSERT_STR_CONTAINS(err, "vpnctl-no-such-program");
	ASSERT_TRUE(vpnctl_run(fails, NULL, err, sizeof(err)) > 0);
	ASSERT_STR_CONTAINS(err, "nonexistent-vpnctl-path");
	TEST_DONE();
}

/* `ip -j -4|-6 route show table all dev pvpn0` of a full tunnel, as iproute2 6.1 prints it. */
static const char *routes4 =
        "[{\"dst\":\"default\",\"table\":\"51820\",\"scope\":\"link\",\"flags\":[]},"
        "{\"dst\":\"10.7.0.0/24\",\"protocol\":\"kernel\",\"scope\":\"link\","
        "\"prefsrc\":\"10.7.0.5\",\"flags\":[]},"
        "{\"type\":\"local\",\"dst\":\"10.7.0.5\",\"table\":\"local\",\"protocol\":\"kernel\","
        "\"scope\":\"host\",\"prefsrc\":\"10.7.0.5\",\"flags\":[]},"
        "{\"type\":\"broadcast\",\"dst\":\"10.7.0.255\",\"table\":\"local\","
        "\"protocol\":\"kernel\",\"scope\":\"link\",\"prefsrc\":\"10.7.0.5\",\"flags\":[]}]";
static const char *routes6 =
        "[{\"dst\":\"default\",\"table\":\"51820\",\"metric\":1024,\"flags\":[],"
        "\"pref\":\"medium\"},"
        "{\"dst\":\"fddd::/64\",\"protocol\":\"kernel\",\"metric\":256,\"flags\":[],"
        "\"pref\":\"medium\"},"
        "{\"dst\":\"fe80::/64\",\"protocol\":\"kernel\",\"metric\":256,\"flags\":[],"
        "\"pref\":\"medium\"},"
        "{\"type\":\"multicast\",\"dst\":\"ff00::/8\",\"table\":\"local\","
        "\"protocol\":\"kernel\",\"metric\":256,\"flags\":[],\"pref\":\"medium\"}]";

static void test_routes_are_moved_each_in_its_table(void)
{
	struct vpnctl_routes rs = {NULL, 0};
	char *batch;

	TEST_START("a tunnel's unicast routes move to another interface, each in its own table "
	           "with its metric; local, broadcast, multicast and link-local ones stay");
	ASSERT_INT_EQ(vpnctl_routes_parse(&rs, routes4, 4), 0);
	ASSERT_INT_EQ(vpnctl_routes_parse(&rs, routes6, 6), 0);
	ASSERT_INT_EQ(rs.n, 4);
	batch = vpnctl_routes_batch(&rs, "pvpn0r");
	ASSERT_STR_EQ(batch, "route replace 0.0.0.0/0 dev pvpn0r table 51820\n"
	                     "route replace 10.7.0.0/24 dev pvpn0r table main\n"
	                     "route replace ::/0 dev pvpn0r table 51820 metric 1024\n"
	                     "route replace fddd::/64 dev pvpn0r table main metric 256\n");
	free(batch);
	vpnctl_routes_free(&rs);
	ASSERT_INT_EQ(vpnctl_routes_parse(&rs, "{}", 4), PV_EINVAL);
	ASSERT_INT_EQ(vpnctl_routes_parse(&rs, "[{\"dst\":\"10.0.0.0/8\",\"metric\":\"x\"}]", 4),
	              PV_EINVAL);
	vpnctl_routes_free(&rs);
	TEST_DONE();
}

int main(void)
{
	test_dump_is_parsed_without_the_private_key();
	test_bad_dumps_are_refused();
	test_run_captures_and_reports();
	test_routes_are_moved_each_in_its_table();
	TEST_SUMMARY();
}
