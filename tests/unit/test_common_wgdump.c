/* SPDX-License-Identifier: MIT */
/*
 * The one `wg show dump` parser (common/wgdump.c), used by the controller and
 * vpnctl: real output parses, hostile lines are refused with the line named.
 */
#include <string.h>

#include "pv.h"
#include "test.h"

#define IFACE "(hidden)\tfVqRUdZ6/pw7AvWZ/g0l9TmxjzR+JXW8oNIHIeAm5n4=\t51820\toff\n"
#define PUB1  "gm+ReLG11ZIa3BtN0SM6TL+1NXytjLwL1ajq9Tb6u1c="
#define PUB2  "6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8="
#define PEER1                                                                                      \
	PUB1 "\t(hidden)\t203.0.113.101:41414\t10.7.0.2/32,fddd:2c4:2c4:2c4::2/128\t1764051000\t1234\t5678\t25\n"
#define PEER2 PUB2 "\t(none)\t(none)\t(none)\t0\t0\t0\toff\n"

static int parse(const char *text, struct pv_wg_dump **d, char *err, size_t errlen)
{
	return pv_wg_dump_parse(d, text, strlen(text), err, errlen);
}

static void test_real_dump_parses(void)
{
	struct pv_wg_dump *d = NULL;
	char err[256] = "";

	TEST_START("a dump with an interface and two peers parses into structs");
	ASSERT_INT_EQ(parse(IFACE PEER1 PEER2, &d, err, sizeof(err)), 0);
	ASSERT_STR_EQ(d->pubkey, "fVqRUdZ6/pw7AvWZ/g0l9TmxjzR+JXW8oNIHIeAm5n4=");
	ASSERT_INT_EQ(d->listen_port, 51820);
	ASSERT_INT_EQ(d->n, 2);
	ASSERT_STR_EQ(d->peers[0].pubkey, PUB1);
	ASSERT_STR_EQ(d->peers[0].endpoint, "203.0.113.101:41414");
	ASSERT_STR_EQ(d->peers[0].allowed_ips, "10.7.0.2/32,fddd:2c4:2c4:2c4::2/128");
	ASSERT_INT_EQ(d->peers[0].latest_handshake, 1764051000);
	ASSERT_INT_EQ(d->peers[0].rx_bytes, 1234);
	ASSERT_INT_EQ(d->peers[0].tx_bytes, 5678);
	ASSERT_STR_EQ(d->peers[1].endpoint, "(none)");
	ASSERT_INT_EQ(d->peers[1].latest_handshake, 0);
	pv_wg_dump_free(d);
	TEST_DONE();
}

static void test_private_key_is_not_kept(void)
{
	const char *priv = "eLY6k1TaEaipiHXeqEy41wcS3pouw9gpsNwRuKwfRUM=";
	char text[512], err[256];
	struct pv_wg_dump *d = NULL;

	TEST_START("an unmasked interface line parses but its private key is stored nowhere");
	snprintf(text, sizeof(text), "%s\t%s\t51820\toff\n", priv, PUB1);
	ASSERT_INT_EQ(parse(text, &d, err, sizeof(err)), 0);
	ASSERT_TRUE(memmem(d, sizeof(*d), priv, strlen(priv)) == NULL);
	ASSERT_STR_EQ(d->pubkey, PUB1);
	pv_wg_dump_free(d);
	TEST_DONE();
}

static void test_fwmark_is_hex(void)
{
	struct pv_wg_dump *d = NULL;
	char err[256];

	TEST_START("a fwmark is read as wg prints it, 0x-hex (a full wg-quick tunnel's 0xca6c)");
	ASSERT_INT_EQ(parse("(hidden)\t" PUB1 "\t51820\t0xca6c\n", &d, err, sizeof(err)), 0);
	ASSERT_INT_EQ(d->fwmark, 0xca6c);
	pv_wg_dump_free(d);
	ASSERT_INT_EQ(parse("(hidden)\t" PUB1 "\t51820\t0x1\n", &d, err, sizeof(err)), 0);
	ASSERT_INT_EQ(d->fwmark, 1);
	pv_wg_dump_free(d);
	TEST_DONE();
}

static void test_interface_only(void)
{
	struct pv_wg_dump *d = NULL;
	char err[256];

	TEST_START("an interface without peers parses with n == 0");
	ASSERT_INT_EQ(parse(IFACE, &d, err, sizeof(err)), 0);
	ASSERT_INT_EQ(d->n, 0);
	pv_wg_dump_free(d);
	TEST_DONE();
}

static void refuse_len(const char *name, const char *text, size_t len, const char *want)
{
	struct pv_wg_dump *d = (struct pv_wg_dump *)1;
	char err[256] = "";

	TEST_START(name);
	ASSERT_INT_EQ(pv_wg_dump_parse(&d, text, len, err, sizeof(err)), PV_EINVAL);
	ASSERT_TRUE(d == NULL);
	ASSERT_STR_CONTAINS(err, want);
	TEST_DONE();
}

static void refuse(const char *name, const char *text, const char *want)
{
	refuse_len(name, text, strlen(text), want);
}

int main(void)
{
	char big[16384];

	test_real_dump_parses();
	test_private_key_is_not_kept();
	test_fwmark_is_hex();
	test_interface_only();
	refuse("a decimal fwmark (never printed by wg) is refused", "x\t" PUB1 "\t51820\t51820\n",
	       "fwmark");
	refuse("a fwmark above 32 bits is refused", "x\t" PUB1 "\t51820\t0x100000000\n", "fwmark");
	refuse("an empty dump is refused", "", "no interface line");
	refuse("an interface line with 5 fields is refused", "a\t" PUB1 "\t51820\toff\tx\n",
	       "line 1: interface line needs 4");
	refuse("a listen port above 65535 is refused", "x\t" PUB1 "\t65536\toff\n", "listen port");
	refuse("a peer line with 7 fields is refused",
	       IFACE PUB1 "\t(none)\t(none)\t(none)\t0\t0\t0\n", "line 2: peer line needs 8");
	refuse("a peer line with 9 fields is refused",
	       IFACE PUB1 "\t(none)\t(none)\t(none)\t0\t0\t0\toff\textra\n", "line 2: peer line");
	refuse("a non-canonical peer key is refused",
	       IFACE
	       "gm+ReLG11ZIa3BtN0SM6TL+1NXytjLwL1ajq9Tb6u1d=\t(none)\t(none)\t(none)\t0\t0\t0\toff\n",
	       "bad peer public key");
	refuse("a negative handshake is refused",
	       IFACE PUB1 "\t(none)\t(none)\t(none)\t-1\t0\t0\toff\n", "latest-handshake");
	refuse("a number with trailing junk is refused",
	       IFACE PUB1 "\t(none)\t(none)\t(none)\t0\t12x\t0\toff\n", "transfer-rx");
	refuse("a number with a leading space is refused",
	       IFACE PUB1 "\t(none)\t(none)\t(none)\t0\t0\t 1\toff\n", "transfer-tx");
	refuse("a counter above 2^64 is refused",
	       IFACE PUB1 "\t(none)\t(none)\t(none)\t0\t18446744073709551616\t0\toff\n",
	       "transfer-rx");
	refuse("an endpoint with a space is refused",
	       IFACE PUB1 "\t(none)\t1.2.3.4 :5\t(none)\t0\t0\t0\toff\n", "endpoint");
	refuse("an empty field is refused", IFACE PUB1 "\t(none)\t\t(none)\t0\t0\t0\toff\n",
	       "endpoint");
	refuse("a blank line between peers is refused", IFACE PEER1 "\n" PEER2,
	       "line 3: peer line needs 8");
	refuse("a bad keepalive is refused",
	       IFACE PUB1 "\t(none)\t(none)\t(none)\t0\t0\t0\t70000\n", "persistent-keepalive");
	refuse_len("a line with NUL is refused", IFACE "ab\0cd\n", sizeof(IFACE "ab\0cd\n") - 1,
	           "NUL");
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	refuse("a line longer than 8 KiB is refused", big, "too long");
	TEST_SUMMARY();
}
