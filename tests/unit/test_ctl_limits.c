/* SPDX-License-Identifier: MIT */
/*
 * The per-address table (limits.c) and the escaping of client bytes for the
 * log and JSON (http.c): connection caps per address, IPv6 /64 grouping,
 * the failed-auth window with its 429 length, a table that stays bounded.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <jansson.h>

#include "controller.h"
#include "test.h"

static void key4(unsigned char key[16], const char *a)
{
	struct sockaddr_in in = {.sin_family = AF_INET};

	ASSERT_INT_EQ(inet_pton(AF_INET, a, &in.sin_addr), 1);
	ASSERT_INT_EQ(ctl_addr_key(key, (struct sockaddr *)&in), 0);
}

static void key6(unsigned char key[16], const char *a)
{
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};

	ASSERT_INT_EQ(inet_pton(AF_INET6, a, &in6.sin6_addr), 1);
	ASSERT_INT_EQ(ctl_addr_key(key, (struct sockaddr *)&in6), 0);
}

static void test_conn_caps(void)
{
	struct ctl_addrs *t = ctl_addrs_new(16, 3, 5, 60);
	unsigned char a[16], b[16];
	int i;

	TEST_START("an address gets at most max_connections_per_addr, others are unaffected");
	ASSERT_TRUE(t != NULL);
	key4(a, "127.0.0.2");
	key4(b, "127.0.0.3");
	for (i = 0; i < 3; i++)
		ASSERT_INT_EQ(ctl_addrs_conn_add(t, a), 0);
	ASSERT_INT_EQ(ctl_addrs_conn_add(t, a), PV_EBUSY);
	ASSERT_INT_EQ(ctl_addrs_conn_add(t, b), 0);
	ctl_addrs_conn_del(t, a);
	ASSERT_INT_EQ(ctl_addrs_conn_add(t, a), 0);
	ASSERT_INT_EQ(ctl_addrs_conn_add(t, a), PV_EBUSY);
	TEST_DONE();

	TEST_START("IPv6 clients are counted per /64, v4-mapped ones per address");
	key6(a, "2001:db8:1:2::1");
	key6(b, "2001:db8:1:2:ffff::9");
	ASSERT_TRUE(memcmp(a, b, 16) == 0);
	key6(b, "2001:db8:1:3::1");
	ASSERT_TRUE(memcmp(a, b, 16) != 0);
	key6(a, "::ffff:192.0.2.1");
	key4(b, "192.0.2.1");
	ASSERT_TRUE(memcmp(a, b, 16) == 0);
	key6(a, "::ffff:192.0.2.2");
	ASSERT_TRUE(memcmp(a, b, 16) != 0);
	ctl_addrs_free(t);
	TEST_DONE();
}

static void test_auth_window(void)
{
	struct ctl_addrs *t = ctl_addrs_new(16, 3, 3, 60);
	unsigned char a[16], b[16];
	long retry = -1;

	TEST_START("the failure that reaches auth_fail_max starts one logged block of the window");
	key4(a, "198.51.100.7");
	key4(b, "198.51.100.8");
	ASSERT_INT_EQ(ctl_addrs_auth_blocked(t, a), 0);
	ASSERT_INT_EQ(ctl_addrs_auth_failed(t, a, &retry), 0);
	ASSERT_INT_EQ(ctl_addrs_auth_failed(t, a, &retry), 0);
	ASSERT_INT_EQ(ctl_addrs_auth_blocked(t, a), 0);
	ASSERT_INT_EQ(ctl_addrs_auth_failed(t, a, &retry), 1);
	ASSERT_TRUE(retry > 0 && retry <= 60);
	ASSERT_TRUE(ctl_addrs_auth_blocked(t, a) > 0 && ctl_addrs_auth_blocked(t, a) <= 60);
	ASSERT_INT_EQ(ctl_addrs_auth_failed(t, a, &retry), 2);
	ASSERT_INT_EQ(ctl_addrs_auth_blocked(t, b), 0);
	ctl_addrs_free(t);
	TEST_DONE();
}

static void test_table_bounded(void)
{
	struct ctl_addrs *t = ctl_addrs_new(16, 1, 1, 3600);
	unsigned char k[16];
	struct sockaddr_in in = {.sin_family = AF_INET};
	long retry;
	uint32_t i;
	int refused = 0, blocked = 0;

	TEST_START("a flood of distinct addresses fills the table, which then refuses, not grows");
	for (i = 0; i < 100000; i++) {
		in.sin_addr.s_addr = htonl(0x0a000000U + i);
		ASSERT_INT_EQ(ctl_addr_key(k, (struct sockaddr *)&in), 0);
		ctl_addrs_auth_failed(t, k, &retry);
		blocked += ctl_addrs_auth_blocked(t, k) > 0;
		refused += ctl_addrs_conn_add(t, k) < 0;
	}
	ASSERT_TRUE(blocked > 8000 && blocked < 100000);
	ASSERT_TRUE(refused > 0);
	/* The first addresses are still tracked: nothing was evicted silently. */
	in.sin_addr.s_addr = htonl(0x0a000000U);
	ASSERT_INT_EQ(ctl_addr_key(k, (struct sockaddr *)&in), 0);
	ASSERT_TRUE(ctl_addrs_auth_blocked(t, k) > 0);
	ctl_addrs_free(t);
	TEST_DONE();
}

static void test_escape(void)
{
	char out[16];
	json_t *j;

	TEST_START("client bytes are escaped to printable ASCII, whole escapes at a time");
	ctl_escape(out, sizeof(out), "/api/\x1b[x\xff", 10);
	ASSERT_STR_EQ(out, "/api/\\x1b[x\\xff");
	ctl_escape(out, sizeof(out), "/api/health\xc3\xa9", 13);
	ASSERT_STR_EQ(out, "/api/health\\xc3");
	ctl_escape(out, 5, "abcdefgh", 8);
	ASSERT_STR_EQ(out, "abcd");
	ctl_escape(out, sizeof(out), "a\0b", 3);
	ASSERT_STR_EQ(out, "a\\x00b");
	j = json_pack("{s:s}", "error", out);
	ASSERT_TRUE(j != NULL);
	json_decref(j);
	TEST_DONE();
}

int main(void)
{
	test_conn_caps();
	test_auth_window();
	test_table_bounded();
	test_escape();
	TEST_SUMMARY();
}
