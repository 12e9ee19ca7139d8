/* SPDX-License-Identifier: MIT */
/* The fleet file: the shipped servers.json loads, and broken entries are named precisely. */
#include <stdio.h>

#include "pv.h"
#include "test.h"

#define ENTRY(id, tier, host)                                                                      \
	"{\"id\":\"" id "\",\"location\":\"L\",\"region\":\"R\",\"tier\":\"" tier "\","            \
	"\"wireguard\":{\"host\":\"" host "\",\"port\":51820,\"interface\":\"wg0\","               \
	"\"ipv4\":\"10.7.0.0/24\",\"ipv6\":\"fddd:2c4:2c4:2c4::/64\"},"                            \
	"\"ssh\":{\"host\":\"" host "\",\"port\":22,\"user\":\"root\"}}"
#define FLEET(...) "{\"version\":1,\"servers\":[" __VA_ARGS__ "]}"
/* An entry pinning its SSH host key (ssh.host_key). */
#define PINNED(key)                                                                                \
	"{\"id\":\"a-1\",\"location\":\"L\",\"region\":\"R\",\"tier\":\"Pro\","                    \
	"\"wireguard\":{\"host\":\"192.0.2.1\",\"port\":51820,\"interface\":\"wg0\","              \
	"\"ipv4\":\"10.7.0.0/24\",\"ipv6\":\"fddd:2c4:2c4:2c4::/64\"},"                            \
	"\"ssh\":{\"host\":\"192.0.2.1\",\"port\":22,\"user\":\"root\",\"host_key\":\"" key "\"}}"
/* An entry with the interface list ("wireguard.interfaces"): IFACES(IF(...) "," IF(...)). */
#define IFACES(list)                                                                               \
	"{\"id\":\"m-1\",\"location\":\"L\",\"region\":\"R\",\"tier\":\"Pro\","                    \
	"\"wireguard\":{\"host\":\"192.0.2.9\",\"interfaces\":[" list "]},"                        \
	"\"ssh\":{\"host\":\"192.0.2.9\",\"port\":22,\"user\":\"root\"}}"
#define IF(name, port, v4, v6)                                                                     \
	"{\"interface\":\"" name "\",\"port\":" port ",\"ipv4\":\"" v4 "\",\"ipv6\":\"" v6 "\"}"
#define IF0     IF("wg0", "51820", "10.7.0.0/24", "fd00:7::/64")
#define IF1     IF("wg1", "51821", "10.8.0.0/24", "fd00:8::/64")
#define HOSTKEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDHjPQA2LZgAvSsi4hP0YBZauFvV5mGvYe/m8EhABtqr"

static void test_pinned_host_key(void)
{
	const char *json = FLEET(PINNED(HOSTKEY));
	unsigned char blob[PV_HOSTKEY_BLOB_LEN];
	struct pv_fleet *f = NULL;
	char err[256] = "";

	TEST_START("an entry may pin an ed25519 host key, which is kept as written");
	ASSERT_INT_EQ(pv_fleet_parse(&f, json, strlen(json), "servers.json", err, sizeof(err)), 0);
	ASSERT_STR_EQ(f->servers[0].ssh_hostkey, HOSTKEY);
	ASSERT_INT_EQ(pv_hostkey_parse(HOSTKEY, blob), 1);
	ASSERT_INT_EQ(blob[3], 11); /* the blob's type string "ssh-ed25519" */
	pv_fleet_free(f);
	ASSERT_INT_EQ(pv_hostkey_parse("ssh-rsa AAAAB3NzaC1yc2E", NULL), 0);
	ASSERT_INT_EQ(pv_hostkey_parse(HOSTKEY " comment", NULL), 0);
	TEST_DONE();
}

static void test_interface_list(void)
{
	const char *json = FLEET(
	        IFACES(IF0 "," IF1 "," IF("wg2", "51822", "10.9.0.0/24", "fd00:9::/64")) "," ENTRY(
	                "a-1", "Pro", "192.0.2.1"));
	struct pv_fleet *f = NULL;
	char err[256] = "";

	TEST_START("a server lists 3 interfaces; a single \"wireguard\" object still means one");
	ASSERT_INT_EQ(pv_fleet_parse(&f, json, strlen(json), "servers.json", err, sizeof(err)), 0);
	ASSERT_INT_EQ(f->servers[0].n_ifaces, 3);
	ASSERT_STR_EQ(f->servers[0].ifaces[2].name, "wg2");
	ASSERT_INT_EQ(f->servers[0].ifaces[1].port, 51821);
	ASSERT_STR_EQ(f->servers[0].ifaces[1].subnet4, "10.8.0.0/24");
	ASSERT_STR_EQ(f->servers[0].ifaces[2].subnet6, "fd00:9::/64");
	ASSERT_INT_EQ(pv_server_capacity(&f->servers[0]), 759);
	ASSERT_INT_EQ(f->servers[1].n_ifaces, 1);
	ASSERT_INT_EQ(pv_server_capacity(&f->servers[1]), 253);
	pv_fleet_free(f);
	TEST_DONE();
}

static void test_shipped_fleet_loads(void)
{
	const char *src = getenv("PV_SRC");
	struct pv_fleet *f = NULL;
	char path[4096], err[256] = "";
	size_t i, basic = 0;

	TEST_START("the shipped servers.json holds the seed's 15 servers, 3 of them Basic");
	ASSERT_TRUE(src != NULL);
	snprintf(path, sizeof(path), "%s/servers.json", src);
	if (pv_fleet_load(&f, path, err, sizeof(err)) != 0)
		TEST_FAIL("load failed: %s", err);
	ASSERT_INT_EQ(f->n, 15);
	for (i = 0; i < f->n; i++) {
		basic += f->servers[i].tier == PV_TIER_BASIC;
		ASSERT_INT_EQ(f->servers[i].ifaces[0].port, 51820);
		ASSERT_STR_EQ(f->servers[i].ifaces[0].name, "wg0");
		ASSERT_STR_EQ(f->servers[i].ifaces[0].subnet4, "10.7.0.0/24");
		ASSERT_STR_EQ(f->servers[i].ifaces[0].subnet6, "fddd:2c4:2c4:2c4::/64");
	}
	ASSERT_INT_EQ(basic, 3);
	ASSERT_INT_EQ(pv_fleet_find(f, "eu-central-1")->tier, PV_TIER_PRO);
	ASSERT_INT_EQ(pv_fleet_find(f, "us-west-1")->tier, PV_TIER_BASIC);
	ASSERT_TRUE(pv_fleet_find(f, "mars-1") == NULL);
	pv_fleet_free(f);
	TEST_DONE();
}

static void expect_error(const char *name, const char *json, const char *needle1,
                         const char *needle2)
{
	struct pv_fleet *f = (struct pv_fleet *)1;
	char err[256] = "";

	TEST_START(name);
	ASSERT_INT_EQ(pv_fleet_parse(&f, json, strlen(json), "servers.json", err, sizeof(err)),
	              PV_EINVAL);
	ASSERT_TRUE(f == NULL);
	ASSERT_STR_CONTAINS(err, needle1);
	ASSERT_STR_CONTAINS(err, needle2);
	TEST_DONE();
}

int main(void)
{
	test_shipped_fleet_loads();
	expect_error("a duplicate id is refused naming both entries",
	             FLEET(ENTRY("a-1", "Basic", "192.0.2.1") "," ENTRY("a-1", "Pro", "192.0.2.2")),
	             "servers[1] (\"a-1\")", "duplicate of servers[0]");
	expect_error("an unknown tier is refused naming the field",
	             FLEET(ENTRY("a-1", "Gold", "192.0.2.1")), "field \"tier\"", "Gold");
	expect_error("a malformed IPv4 address is refused",
	             FLEET(ENTRY("a-1", "Pro", "192.0.2.300")), "servers[0] (\"a-1\")",
	             "wireguard.host");
	expect_error("a host with shell characters is refused",
	             FLEET(ENTRY("a-1", "Pro", "h;reboot")), "wireguard.host", "not an IP address");
	expect_error("an unknown field is refused, not ignored",
	             FLEET("{\"id\":\"a-1\",\"tierr\":\"Pro\"}"), "field \"tierr\"", "unknown");
	expect_error("a missing section is named",
	             FLEET("{\"id\":\"a-1\",\"location\":\"L\","
	                   "\"region\":\"R\",\"tier\":\"Pro\"}"),
	             "field \"wireguard\"", "must be an object");
	expect_error("a duplicate JSON key is refused with its position",
	             "{\"version\":1,\"version\":1,\"servers\":[]}",
	             "servers.json:1:", "duplicate");
	expect_error("a duplicate endpoint is refused",
	             FLEET(ENTRY("a-1", "Basic", "192.0.2.1") "," ENTRY("a-2", "Pro", "192.0.2.1")),
	             "servers[1] (\"a-2\")", "192.0.2.1:51820");
	expect_error("an empty fleet is refused", FLEET(""), "\"servers\"", "1..");
	test_pinned_host_key();
	test_interface_list();
	expect_error("two interfaces on one IPv4 subnet are refused naming the entry and field",
	             FLEET(IFACES(IF0 "," IF("wg1", "51821", "10.7.0.0/24", "fd00:8::/64"))),
	             "servers[0] (\"m-1\"): field \"wireguard.interfaces[1].ipv4\"",
	             "may not overlap");
	expect_error("two interfaces on one IPv6 subnet are refused",
	             FLEET(IFACES(IF0 "," IF("wg1", "51821", "10.8.0.0/24", "fd00:7::/64"))),
	             "\"wireguard.interfaces[1].ipv6\"", "same as wireguard.interfaces[0]");
	expect_error("two interfaces on one port are refused",
	             FLEET(IFACES(IF0 "," IF("wg1", "51820", "10.8.0.0/24", "fd00:8::/64"))),
	             "\"wireguard.interfaces[1].port\"", "same as");
	expect_error(
	        "an interface name used twice is refused",
	        FLEET(IFACES(IF0 "," IF1 "," IF("wg1", "51822", "10.9.0.0/24", "fd00:9::/64"))),
	        "\"wireguard.interfaces[2].interface\"", "same as wireguard.interfaces[1]");
	expect_error("a bad subnet inside the list names its index",
	             FLEET(IFACES(IF0 "," IF("wg1", "51821", "10.8.0.0/16", "fd00:8::/64"))),
	             "\"wireguard.interfaces[1].ipv4\"", "/24");
	expect_error("a missing field inside the list names its index",
	             FLEET(IFACES(IF0 ",{\"interface\":\"wg1\",\"port\":51821,"
	                              "\"ipv4\":\"10.8.0.0/24\"}")),
	             "\"wireguard.interfaces[1].ipv6\"", "missing");
	expect_error("an unknown field inside the list is refused",
	             FLEET(IFACES(IF0 ",{\"interface\":\"wg1\",\"prot\":51821}")),
	             "\"wireguard.interfaces[1].prot\"", "unknown field");
	expect_error("an empty list is refused", FLEET(IFACES("")), "\"wireguard.interfaces\"",
	             "1..16");
	expect_error("the list and the single form together are refused",
	             FLEET("{\"id\":\"m-1\",\"location\":\"L\",\"region\":\"R\",\"tier\":\"Pro\","
	                   "\"wireguard\":{\"host\":\"192.0.2.9\",\"port\":51820,"
	                   "\"interfaces\":[" IF0 "]},"
	                   "\"ssh\":{\"host\":\"192.0.2.9\",\"port\":22,\"user\":\"root\"}}"),
	             "\"wireguard.interfaces\"", "wireguard.port");
	expect_error("an endpoint port of another server's interface is refused",
	             FLEET(ENTRY("a-1", "Pro", "192.0.2.9") "," IFACES(
	                     IF1 "," IF("wg0", "51820", "10.7.0.0/24", "fd00:7::/64"))),
	             "servers[1] (\"m-1\")", "192.0.2.9:51820 duplicates servers[0]");
	expect_error("a host key that is not ed25519 is refused naming the field",
	             FLEET(PINNED("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5")), "ssh.host_key",
	             "ssh-ed25519");
	TEST_SUMMARY();
}
