/* SPDX-License-Identifier: MIT */
/*
 * Split tunnelling's CIDR arithmetic against known complements: the lists
 * WireGuard users compute for "everything but the LAN", IPv4 and IPv6.
 */
#include <string.h>

#include "test.h"
#include "vpnctl.h"

static size_t parse(struct pv_cidr *set, size_t max, const char *list)
{
	size_t n = 0;

	if (pv_cidr_list_parse(set, max, &n, list, PV_CIDR_NETWORK | PV_CIDR_LIST_EMPTY) < 0)
		TEST_FAIL("test list does not parse: %s", list);
	return n;
}

static const char *format(const struct pv_cidr *set, size_t n)
{
	static char out[VPNCTL_MAX_ALLOWED * (PV_CIDR_STRLEN + 2)];

	if (pv_cidr_list_format(out, sizeof(out), set, n, 1) < 0)
		return "format failed";
	return out;
}

/* base minus each CIDR of `minus`, formatted. */
static const char *subtract(const char *base, const char *minus)
{
	struct pv_cidr set[VPNCTL_MAX_ALLOWED], x[16];
	size_t n = parse(set, VPNCTL_MAX_ALLOWED, base), nx = parse(x, 16, minus), i;

	vpnctl_cidr_normalize(set, &n);
	for (i = 0; i < nx; i++)
		if (vpnctl_cidr_subtract(set, &n, VPNCTL_MAX_ALLOWED, &x[i]) < 0)
			return "subtract failed";
	return format(set, n);
}

static void test_known_ipv4_complements(void)
{
	TEST_START("0.0.0.0/0 minus 10.0.0.0/8 is the well-known eight prefixes");
	ASSERT_STR_EQ(subtract("0.0.0.0/0", "10.0.0.0/8"),
	              "0.0.0.0/5, 8.0.0.0/7, 11.0.0.0/8, 12.0.0.0/6, 16.0.0.0/4, 32.0.0.0/3, "
	              "64.0.0.0/2, 128.0.0.0/1");
	TEST_DONE();

	TEST_START("0.0.0.0/0 minus the three RFC 1918 ranges is the classic 'exclude private IPs' "
	           "list");
	ASSERT_STR_EQ(subtract("0.0.0.0/0", "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16"),
	              "0.0.0.0/5, 8.0.0.0/7, 11.0.0.0/8, 12.0.0.0/6, 16.0.0.0/4, 32.0.0.0/3, "
	              "64.0.0.0/2, 128.0.0.0/3, 160.0.0.0/5, 168.0.0.0/6, 172.0.0.0/12, "
	              "172.32.0.0/11, 172.64.0.0/10, 172.128.0.0/9, 173.0.0.0/8, 174.0.0.0/7, "
	              "176.0.0.0/4, 192.0.0.0/9, 192.128.0.0/11, 192.160.0.0/13, 192.169.0.0/16, "
	              "192.170.0.0/15, 192.172.0.0/14, 192.176.0.0/12, 192.192.0.0/10, "
	              "193.0.0.0/8, 194.0.0.0/7, 196.0.0.0/6, 200.0.0.0/5, 208.0.0.0/4, "
	              "224.0.0.0/3");
	TEST_DONE();

	TEST_START("a /32 taken out of a /24 leaves 8 prefixes; out of itself, nothing");
	ASSERT_STR_EQ(subtract("203.0.113.0/24", "203.0.113.12/32"),
	              "203.0.113.0/29, 203.0.113.8/30, 203.0.113.13/32, 203.0.113.14/31, "
	              "203.0.113.16/28, 203.0.113.32/27, 203.0.113.64/26, 203.0.113.128/25");
	ASSERT_STR_EQ(subtract("203.0.113.0/24", "203.0.113.0/24"), "");
	ASSERT_STR_EQ(subtract("203.0.113.0/24", "0.0.0.0/0"), "");
	TEST_DONE();

	TEST_START("disjoint, repeated and nested exclusions change nothing more");
	ASSERT_STR_EQ(subtract("10.7.0.0/24", "192.168.0.0/16"), "10.7.0.0/24");
	ASSERT_STR_EQ(subtract("0.0.0.0/0", "10.0.0.0/8, 10.0.0.0/8, 10.1.0.0/16"),
	              subtract("0.0.0.0/0", "10.0.0.0/8"));
	TEST_DONE();
}

static void test_known_ipv6_complements(void)
{
	TEST_START("::/0 minus fe80::/10 and fc00::/7; IPv4 entries are untouched");
	ASSERT_STR_EQ(subtract("0.0.0.0/0, ::/0", "fe80::/10"),
	              "0.0.0.0/0, ::/1, 8000::/2, c000::/3, e000::/4, f000::/5, f800::/6, "
	              "fc00::/7, fe00::/9, fec0::/10, ff00::/8");
	ASSERT_STR_EQ(subtract("::/0", "fc00::/7"),
	              "::/1, 8000::/2, c000::/3, e000::/4, f000::/5, f800::/6, fe00::/7");
	TEST_DONE();

	TEST_START("a /128 out of ::/0 leaves 128 prefixes");
	{
		struct pv_cidr set[VPNCTL_MAX_ALLOWED], x;
		size_t n = parse(set, VPNCTL_MAX_ALLOWED, "::/0");

		ASSERT_INT_EQ(pv_cidr_parse(&x, "2001:db8::1/128", PV_CIDR_NETWORK), 0);
		ASSERT_INT_EQ(vpnctl_cidr_subtract(set, &n, VPNCTL_MAX_ALLOWED, &x), 0);
		ASSERT_INT_EQ(n, 128);
		ASSERT_INT_EQ(vpnctl_cidr_subtract(set, &n, 100, &x), 0);
		n = parse(set, VPNCTL_MAX_ALLOWED, "::/0");
		ASSERT_INT_EQ(vpnctl_cidr_subtract(set, &n, 100, &x), PV_EINVAL);
	}
	TEST_DONE();
}

static const char *apply(const char *base, const struct vpnctl_split *sp, const char *bypass)
{
	struct pv_cidr set[VPNCTL_MAX_ALLOWED], tunnel[2], by[4];
	size_t n = parse(set, VPNCTL_MAX_ALLOWED, base), nt = parse(tunnel, 2, "10.7.0.0/24"),
	       nb = parse(by, 4, bypass);

	if (vpnctl_split_apply(set, &n, VPNCTL_MAX_ALLOWED, sp, tunnel, nt, by, nb) < 0)
		return "apply failed";
	return format(set, n);
}

static void test_split_rules(void)
{
	struct vpnctl_split sp;
	size_t n;

	TEST_START(
	        "--include keeps only those (and the tunnel subnet) within the controller's list");
	memset(&sp, 0, sizeof(sp));
	ASSERT_INT_EQ(pv_cidr_list_parse(sp.include, VPNCTL_MAX_SPLIT, &n,
	                                 "198.51.100.0/24, 2001:db8::/32", PV_CIDR_NETWORK),
	              0);
	sp.n_include = n;
	ASSERT_STR_EQ(apply("0.0.0.0/0", &sp, ""), "10.7.0.0/24, 198.51.100.0/24");
	ASSERT_STR_EQ(apply("10.7.0.0/24", &sp, ""), "10.7.0.0/24");
	TEST_DONE();

	TEST_START("--exclude and the bypass addresses are cut out, never the tunnel subnet");
	memset(&sp, 0, sizeof(sp));
	ASSERT_INT_EQ(
	        pv_cidr_list_parse(sp.exclude, VPNCTL_MAX_SPLIT, &n, "10.0.0.0/8", PV_CIDR_NETWORK),
	        0);
	sp.n_exclude = n;
	ASSERT_STR_EQ(apply("10.0.0.0/8", &sp, ""), "10.7.0.0/24");
	ASSERT_STR_EQ(apply("10.0.0.0/8", &sp, "10.7.0.1/32"), "10.7.0.0/24");
	ASSERT_STR_EQ(apply("128.0.0.0/1", &sp, "203.0.113.12/32"),
	              subtract("128.0.0.0/1", "203.0.113.12/32"));
	TEST_DONE();

	TEST_START("--allow-lan takes out the private, link-local and multicast ranges");
	memset(&sp, 0, sizeof(sp));
	sp.allow_lan = 1;
	ASSERT_STR_EQ(apply("192.0.0.0/8, fe00::/8", &sp, ""),
	              subtract("192.0.0.0/8, fe00::/8", "192.168.0.0/16, fe80::/10"));
	ASSERT_TRUE(vpnctl_split_active(&sp));
	memset(&sp, 0, sizeof(sp));
	ASSERT_TRUE(!vpnctl_split_active(&sp));
	TEST_DONE();
}

int main(void)
{
	test_known_ipv4_complements();
	test_known_ipv6_complements();
	test_split_rules();
	TEST_SUMMARY();
}
