/* SPDX-License-Identifier: MIT */
/* Server choice: lowest latency among healthy servers, without flapping away from the current one.
 */
#include <string.h>

#include "test.h"
#include "vpnctl.h"

static struct vpnctl_server srv(const char *id, const char *status, int reachable, int64_t rtt_us)
{
	struct vpnctl_server s;

	memset(&s, 0, sizeof(s));
	snprintf(s.id, sizeof(s.id), "%s", id);
	snprintf(s.status, sizeof(s.status), "%s", status);
	s.reachable = reachable;
	s.rtt_us = rtt_us;
	return s;
}

static void test_lowest_healthy_wins(void)
{
	struct vpnctl_server s[] = {srv("a", "up", 1, 30000), srv("b", "down", 1, 1000),
	                            srv("c", "up", 0, -1), srv("d", "up", 1, 9000),
	                            srv("e", "unknown", 1, 500)};

	TEST_START("the fastest server that is up and answered the probe is picked");
	ASSERT_INT_EQ(vpnctl_pick(s, 5, NULL), 3);
	TEST_DONE();
}

static void test_none_healthy(void)
{
	struct vpnctl_server s[] = {srv("a", "down", 1, 1000), srv("b", "up", 0, -1)};

	struct vpnctl_server u[] = {srv("a", "down", 1, 1000), srv("b", "unknown", 1, 9000)};

	TEST_START(
	        "with no server up and reachable, a reachable unknown one is next, never a down one");
	ASSERT_INT_EQ(vpnctl_pick(s, 2, NULL), -1);
	ASSERT_INT_EQ(vpnctl_pick(s, 0, NULL), -1);
	ASSERT_INT_EQ(vpnctl_pick(u, 2, NULL), 1);
	TEST_DONE();
}

static void test_draining_never_picked(void)
{
	struct vpnctl_server s[] = {srv("d", "draining", 1, 500), srv("a", "up", 1, 30000)};
	struct vpnctl_server only[] = {srv("d", "draining", 1, 500), srv("b", "down", 1, 900)};

	TEST_START("a draining server is never picked: not when fastest, current or the last one");
	ASSERT_INT_EQ(vpnctl_pick(s, 2, NULL), 1);
	ASSERT_INT_EQ(vpnctl_pick(s, 2, "d"), 1);
	ASSERT_INT_EQ(vpnctl_pick(only, 2, NULL), -1);
	TEST_DONE();
}

static void test_current_is_kept_unless_clearly_better(void)
{
	struct vpnctl_server near[] = {srv("cur", "up", 1, 20000), srv("x", "up", 1, 16500)};
	struct vpnctl_server small[] = {srv("cur", "up", 1, 4000), srv("x", "up", 1, 1000)};
	struct vpnctl_server far[] = {srv("cur", "up", 1, 20000), srv("x", "up", 1, 14000)};
	struct vpnctl_server gone[] = {srv("cur", "up", 0, -1), srv("x", "up", 1, 14000)};

	TEST_START("the current server stays unless another is >20% and >5 ms faster");
	ASSERT_INT_EQ(vpnctl_pick(near, 2, "cur"), 0);  /* 17.5% faster: keep */
	ASSERT_INT_EQ(vpnctl_pick(small, 2, "cur"), 0); /* 75% but only 3 ms: keep */
	ASSERT_INT_EQ(vpnctl_pick(far, 2, "cur"), 1);   /* 30% and 6 ms: switch */
	ASSERT_INT_EQ(vpnctl_pick(gone, 2, "cur"), 1);  /* current unreachable: switch */
	ASSERT_INT_EQ(vpnctl_pick(near, 2, "other"), 1);
	TEST_DONE();
}

int main(void)
{
	test_lowest_healthy_wins();
	test_none_healthy();
	test_draining_never_picked();
	test_current_is_kept_unless_clearly_better();
	TEST_SUMMARY();
}
