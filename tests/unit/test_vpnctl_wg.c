/* SPDX-License-Identifier: MIT */
/* Running programs without a shell, and parsing `wg show IFACE dump`. */
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

int main(void)
{
	test_dump_is_parsed_without_the_private_key();
	test_bad_dumps_are_refused();
	test_run_captures_and_reports();
	TEST_SUMMARY();
}
