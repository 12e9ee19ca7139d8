/* SPDX-License-Identifier: MIT */
/* IP and CIDR values: strict parsing, canonical formatting, wg-quick lists. */
#include <string.h>
#include <sys/socket.h>

#include "pv.h"
#include "test.h"

/* Parse s with flags and format it back (with the prefix); "" when refused. */
static const char *round_trip(const char *s, unsigned flags)
{
	static char out[PV_CIDR_STRLEN];
	struct pv_cidr c;

	if (pv_cidr_parse(&c, s, flags) < 0)
		return "";
	if (pv_cidr_format(out, sizeof(out), &c, 1) < 0)
		return "format failed";
	return out;
}

struct case_ {
	const char *in;
	unsigned flags;
	const char *want; /* "" = refused */
};

static void check_cases(const struct case_ *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(round_trip(c[i].in, c[i].flags), c[i].want) != 0)
			TEST_FAIL("\"%s\" (flags %u) gave \"%s\", expected \"%s\"", c[i].in,
			          c[i].flags, round_trip(c[i].in, c[i].flags), c[i].want);
}

static void test_valid_cidrs_round_trip(void)
{
	static const struct case_ cases[] = {
	        {"10.7.0.2/24", 0, "10.7.0.2/24"},
	        {"0.0.0.0/0", PV_CIDR_NETWORK, "0.0.0.0/0"},
	        {"fddd:2c4:2c4:2c4::2/64", 0, "fddd:2c4:2c4:2c4::2/64"},
	        {"FDDD:02c4::/32", PV_CIDR_NETWORK, "fddd:2c4::/32"},
	        {"::/0", PV_CIDR_NETWORK, "::/0"},
	        {"1.1.1.1", PV_CIDR_BARE, "1.1.1.1/32"},
	        {"::1", PV_CIDR_BARE, "::1/128"},
	        {"203.0.113.255/32", PV_CIDR_NETWORK, "203.0.113.255/32"},
	};

	TEST_START("valid IPv4 and IPv6 CIDRs parse and format back canonically");
	check_cases(cases, sizeof(cases) / sizeof(cases[0]));
	TEST_DONE();
}

static void test_invalid_cidrs_are_refused(void)
{
	static const char *const bad[] = {
	        "10.7.0.2",      "10.7.0.2/",     "10.7.0.2/33",
	        "fddd::/129",    "10.7.0.2/024",  "10.7.0.2/-1",
	        "10.7.0.2/+8",   " 10.7.0.2/24",  "10.7.0.2/24 ",
	        "10.7.0.2/24\n", "10.7.0.2\n/24", "010.7.0.2/24",
	        "10.7.0/24",     "10.7.0.2.1/24", "1.2.3.4/8/8",
	        "example.com/8", "10.7.0.2/24#",  "",
	        "/24",           "10.7.0.2/1000", "fddd::2::1/64",
	        "1.2.3.4:80/32",
	};
	size_t i;

	TEST_START("blanks, line breaks, junk, bad prefixes and missing prefixes are refused");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (round_trip(bad[i], 0)[0])
			TEST_FAIL("\"%s\" was accepted", bad[i]);
	ASSERT_STR_EQ(round_trip("10.7.0.2/24", PV_CIDR_NO_PREFIX | PV_CIDR_BARE), "");
	TEST_DONE();
}

static void test_network_flag_wants_zero_host_bits(void)
{
	static const struct case_ cases[] = {
	        {"10.7.0.1/24", PV_CIDR_NETWORK, ""},
	        {"10.7.1.0/23", PV_CIDR_NETWORK, ""},
	        {"10.7.0.0/24", PV_CIDR_NETWORK, "10.7.0.0/24"},
	        {"10.6.0.0/15", PV_CIDR_NETWORK, "10.6.0.0/15"},
	        {"fddd::1/64", PV_CIDR_NETWORK, ""},
	        {"fddd:0:0:1::/63", PV_CIDR_NETWORK, ""},
	        {"fddd:0:0:2::/63", PV_CIDR_NETWORK, "fddd:0:0:2::/63"},
	};

	TEST_START("PV_CIDR_NETWORK refuses bits set after the prefix, in either family");
	check_cases(cases, sizeof(cases) / sizeof(cases[0]));
	TEST_DONE();
}

static void test_lists(void)
{
	struct pv_cidr c[4];
	char out[256];
	size_t n = 99;

	TEST_START("comma-separated lists: spaces around items, nothing else; a limit on items");
	ASSERT_INT_EQ(pv_cidr_list_parse(c, 4, &n, " 0.0.0.0/0 ,::/0  ", PV_CIDR_NETWORK), 0);
	ASSERT_INT_EQ(n, 2);
	ASSERT_INT_EQ(c[0].family, AF_INET);
	ASSERT_INT_EQ(c[1].family, AF_INET6);
	ASSERT_INT_EQ(pv_cidr_list_format(out, sizeof(out), c, n, 1), 0);
	ASSERT_STR_EQ(out, "0.0.0.0/0, ::/0");
	ASSERT_INT_EQ(pv_cidr_list_parse(c, 4, &n, "1.1.1.1, 1.0.0.1", PV_CIDR_BARE), 0);
	ASSERT_INT_EQ(pv_cidr_list_format(out, sizeof(out), c, n, 0), 0);
	ASSERT_STR_EQ(out, "1.1.1.1, 1.0.0.1");
	ASSERT_INT_EQ(pv_cidr_list_parse(c, 4, &n, "", 0), PV_EINVAL);
	ASSERT_INT_EQ(pv_cidr_list_parse(c, 4, &n, "  ", PV_CIDR_LIST_EMPTY), 0);
	ASSERT_INT_EQ(n, 0);
	ASSERT_INT_EQ(pv_cidr_list_parse(c, 4, &n, "1.0.0.0/8,,2.0.0.0/8", 0), PV_EINVAL);
	ASSERT_INT_EQ(pv_cidr_list_parse(c, 4, &n, "1.0.0.0/8,", 0), PV_EINVAL);
	ASSERT_INT_EQ(pv_cidr_list_parse(c, 4, &n, "1.0.0.0/8 2.0.0.0/8", 0), PV_EINVAL);
	ASSERT_INT_EQ(pv_cidr_list_parse(c, 4, &n, "1.0.0.0/8,\n2.0.0.0/8", 0), PV_EINVAL);
	ASSERT_INT_EQ(pv_cidr_list_parse(c, 2, &n, "1.0.0.0/8, 2.0.0.0/8, 3.0.0.0/8", 0),
	              PV_EINVAL);
	ASSERT_INT_EQ(pv_cidr_list_format(out, 10, c, 2, 1), PV_EINVAL);
	TEST_DONE();
}

int main(void)
{
	test_valid_cidrs_round_trip();
	test_invalid_cidrs_are_refused();
	test_network_flag_wants_zero_host_bits();
	test_lists();
	TEST_SUMMARY();
}
