/* SPDX-License-Identifier: MIT */
/*
 * The remote dump: the masked `wg show dump` followed by the listing of
 * wg0.conf's [Peer] sections.  Real output parses into live peers and
 * blocks; a listing that is missing or hostile is refused with the line.
 */
#include <string.h>

#include "agentless_int.h"
#include "test.h"

#define PUB1  "gm+ReLG11ZIa3BtN0SM6TL+1NXytjLwL1ajq9Tb6u1c="
#define PUB2  "6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8="
#define IFACE "(hidden)\tfVqRUdZ6/pw7AvWZ/g0l9TmxjzR+JXW8oNIHIeAm5n4=\t51820\toff\n"
#define LIVE1 PUB1 "\t(hidden)\t(none)\t10.7.0.12/32,fddd:2c4:2c4:2c4::12/128\t0\t0\t0\toff\n"

static int parse(const char *text, struct agentless_dump **d, char *err, size_t errlen)
{
	return al_dump_parse(d, text, strlen(text), err, errlen);
}

static void test_live_and_blocks(void)
{
	struct agentless_dump *d = NULL, *copy = NULL;
	char err[256] = "";

	TEST_START("live peers and wg0.conf sections (named, unnamed) both come back");
	ASSERT_INT_EQ(parse(IFACE LIVE1 "privatevpn-conf\n"
	                                "peer\tpv7\t" PUB1
	                                "\t10.7.0.12/32,fddd:2c4:2c4:2c4::12/128\n"
	                                "peer\t(none)\t" PUB2 "\t10.7.0.3/32\n"
	                                "peer\tphone\t(none)\t(none)\n",
	                    &d, err, sizeof(err)),
	              0);
	ASSERT_INT_EQ(d->live->n, 1);
	ASSERT_STR_EQ(d->live->peers[0].pubkey, PUB1);
	ASSERT_INT_EQ(d->nblocks, 3);
	ASSERT_STR_EQ(d->blocks[0].name, "pv7");
	ASSERT_STR_EQ(d->blocks[0].allowed_ips, "10.7.0.12/32,fddd:2c4:2c4:2c4::12/128");
	ASSERT_STR_EQ(d->blocks[1].name, "");
	ASSERT_STR_EQ(d->blocks[1].pubkey, PUB2);
	ASSERT_STR_EQ(d->blocks[2].pubkey, "");
	ASSERT_STR_EQ(d->blocks[2].allowed_ips, "");
	ASSERT_INT_EQ(agentless_dump_dup(&copy, d), 0);
	agentless_dump_free(d);
	ASSERT_STR_EQ(copy->blocks[0].allowed_ips, "10.7.0.12/32,fddd:2c4:2c4:2c4::12/128");
	ASSERT_STR_EQ(copy->live->peers[0].allowed_ips, "10.7.0.12/32,fddd:2c4:2c4:2c4::12/128");
	agentless_dump_free(copy);
	TEST_DONE();
}

static void test_empty_conf(void)
{
	struct agentless_dump *d = NULL;
	char err[256];

	TEST_START("a server without peers has an empty listing");
	ASSERT_INT_EQ(parse(IFACE "privatevpn-conf\n", &d, err, sizeof(err)), 0);
	ASSERT_INT_EQ(d->live->n, 0);
	ASSERT_INT_EQ(d->nblocks, 0);
	agentless_dump_free(d);
	TEST_DONE();
}

static void test_psks_asked_for(void)
{
	struct agentless_dump *d = NULL, *copy = NULL;
	uint8_t want[PV_KEY_LEN];
	char err[256];

	TEST_START("the PSKs a request asked for come back as bytes, also in a copy");
	ASSERT_INT_EQ(parse(IFACE "privatevpn-conf\npeer\tpv7\t" PUB1 "\t10.7.0.2/32\n"
	                          "pskof\tpv7\t" PUB2 "\n",
	                    &d, err, sizeof(err)),
	              0);
	ASSERT_INT_EQ(d->nblocks, 1);
	ASSERT_INT_EQ(d->npsks, 1);
	ASSERT_STR_EQ(d->psks[0].name, "pv7");
	ASSERT_INT_EQ(pv_key_from_base64(want, PUB2), 0);
	ASSERT_TRUE(memcmp(d->psks[0].psk, want, sizeof(want)) == 0);
	ASSERT_INT_EQ(agentless_dump_dup(&copy, d), 0);
	ASSERT_TRUE(memcmp(copy->psks[0].psk, want, sizeof(want)) == 0);
	agentless_dump_free(copy);
	agentless_dump_free(d);
	TEST_DONE();
}

static void test_dump_request(void)
{
	struct pv_server s = {.id = "s", .n_ifaces = 1, .ifaces = {{.name = "wg0"}}};
	struct al_buf in = {0};

	TEST_START("a dump request asks for valid names' PSKs only");
	ASSERT_INT_EQ(al_dump_encode(&in, &s, "pv7\nbad name\npv12\n"), 0);
	ASSERT_STR_EQ(in.p, "privatevpn-batch 1\niface wg0\ndump\npsk pv7\npsk pv12\nend\n");
	al_buf_free(&in, 0);
	TEST_DONE();
}

static void refuse(const char *name, const char *text, const char *want)
{
	struct agentless_dump *d = (struct agentless_dump *)1;
	char err[256] = "";

	TEST_START(name);
	ASSERT_INT_EQ(parse(text, &d, err, sizeof(err)), PV_EINVAL);
	ASSERT_TRUE(d == NULL);
	ASSERT_STR_CONTAINS(err, want);
	TEST_DONE();
}

#define IFACE_OTHER "(hidden)\t6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8=\t51821\toff\n"
#define LIVE2       PUB2 "\t(hidden)\t(none)\t10.8.0.2/32,fddd:2c4:2c4:2c5::2/128\t0\t0\t0\toff\n"

static void test_interfaces_merge(void)
{
	struct agentless_dump *acc = NULL, *d = NULL;
	char err[256] = "";

	TEST_START("the dumps of wg0 and wg1 merge, each peer and block tagged with its interface");
	ASSERT_INT_EQ(parse(IFACE LIVE1 "privatevpn-conf\npeer\tpv7\t" PUB1 "\t10.7.0.12/32\n", &d,
	                    err, sizeof(err)),
	              0);
	ASSERT_INT_EQ(al_dump_merge(&acc, d, 0), 0);
	ASSERT_INT_EQ(parse(IFACE LIVE2 "privatevpn-conf\npeer\tpv9\t" PUB2 "\t10.8.0.2/32\n"
	                                "pskof\tpv9\t" PUB1 "\n",
	                    &d, err, sizeof(err)),
	              0);
	ASSERT_INT_EQ(al_dump_merge(&acc, d, 1), 0);
	ASSERT_INT_EQ(acc->live->n, 2);
	ASSERT_INT_EQ(acc->live->peers[0].iface, 0);
	ASSERT_STR_EQ(acc->live->peers[1].pubkey, PUB2);
	ASSERT_INT_EQ(acc->live->peers[1].iface, 1);
	ASSERT_INT_EQ(acc->nblocks, 2);
	ASSERT_STR_EQ(acc->blocks[1].name, "pv9");
	ASSERT_INT_EQ(acc->blocks[1].iface, 1);
	ASSERT_STR_EQ(acc->blocks[1].allowed_ips, "10.8.0.2/32");
	ASSERT_INT_EQ(acc->npsks, 1);
	ASSERT_STR_EQ(acc->psks[0].name, "pv9");
	TEST_DONE();

	TEST_START("an interface whose key is not wg0's is refused (clients get one server key)");
	ASSERT_INT_EQ(parse(IFACE_OTHER "privatevpn-conf\n", &d, err, sizeof(err)), 0);
	ASSERT_INT_EQ(al_dump_merge(&acc, d, 2), PV_EINVAL);
	ASSERT_INT_EQ(acc->live->n, 2);
	agentless_dump_free(acc);
	TEST_DONE();
}

int main(void)
{
	test_live_and_blocks();
	test_interfaces_merge();
	test_empty_conf();
	test_psks_asked_for();
	test_dump_request();
	refuse("a PSK line with a bad key is refused", IFACE "privatevpn-conf\npskof\tpv1\tnope\n",
	       "bad PSK");
	refuse("a dump without the listing (an old remote script) is refused", IFACE LIVE1,
	       "no privatevpn-conf");
	refuse("a broken live part is refused by the one dump parser",
	       IFACE PUB1 "\tx\n"
	                  "privatevpn-conf\n",
	       "peer line needs 8");
	refuse("a block name that could not come from the script is refused",
	       IFACE "privatevpn-conf\npeer\ta;b\t(none)\t(none)\n", "bad block name");
	refuse("a listing line with too few fields is refused",
	       IFACE "privatevpn-conf\npeer\tpv1\t" PUB1 "\n", "line 1");
	refuse("a non-canonical key in the listing is refused",
	       IFACE
	       "privatevpn-conf\npeer\tpv1\tgm+ReLG11ZIa3BtN0SM6TL+1NXytjLwL1ajq9Tb6u1d=\tx\n",
	       "bad public key");
	refuse("addresses with a blank are refused",
	       IFACE "privatevpn-conf\npeer\tpv1\t(none)\t10.7.0.2/32, x\n", "allowed-ips");
	TEST_SUMMARY();
}
