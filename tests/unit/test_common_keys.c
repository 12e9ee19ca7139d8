/* SPDX-License-Identifier: MIT */
/* WireGuard key handling: canonical base64, X25519 agreeing with `wg pubkey`, name rule. */
#include <stdint.h>

#include "pv.h"
#include "test.h"

/* Produced by `wg genkey | tee /dev/stderr | wg pubkey` on a Debian 12 machine. */
static const char *wg_priv = "eLY6k1TaEaipiHXeqEy41wcS3pouw9gpsNwRuKwfRUM=";
static const char *wg_pub = "6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8=";

static void test_public_key_matches_wg(void)
{
	uint8_t priv[PV_KEY_LEN], pub[PV_KEY_LEN];
	char b64[PV_KEY_B64_LEN + 1];

	TEST_START("the public key of a wg genkey private key equals wg pubkey's");
	ASSERT_INT_EQ(pv_key_from_base64(priv, wg_priv), 0);
	ASSERT_INT_EQ(pv_pubkey_from_private(pub, priv), 0);
	pv_key_to_base64(b64, pub);
	ASSERT_STR_EQ(b64, wg_pub);
	TEST_DONE();
}

static void test_generated_pair_is_consistent(void)
{
	uint8_t priv[PV_KEY_LEN], pub[PV_KEY_LEN], again[PV_KEY_LEN], other[PV_KEY_LEN];

	TEST_START("a generated pair is clamped like wg genkey and derives its own public key");
	ASSERT_INT_EQ(pv_keypair_generate(priv, pub), 0);
	ASSERT_INT_EQ(priv[0] & 7, 0);
	ASSERT_INT_EQ(priv[31] & 0xc0, 0x40);
	ASSERT_INT_EQ(pv_pubkey_from_private(again, priv), 0);
	ASSERT_INT_EQ(memcmp(pub, again, PV_KEY_LEN), 0);
	ASSERT_INT_EQ(pv_keypair_generate(other, again), 0);
	ASSERT_TRUE(memcmp(priv, other, PV_KEY_LEN) != 0);
	TEST_DONE();
}

static void test_non_canonical_keys_are_refused(void)
{
	static const char *bad[] = {
	        "",
	        "6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8",   /* 43: no padding */
	        "6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8==", /* 45 */
	        "6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF9=",  /* trailing bits set */
	        " SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8=",  /* whitespace */
	        "6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgl;ijF8=",  /* shell char */
	        "6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliij=8=",  /* padding inside */
	        "6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8=\n",
	};
	uint8_t k[PV_KEY_LEN];
	size_t i;

	TEST_START("keys that are not exactly what wg prints are refused");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (pv_key_from_base64(k, bad[i]) != PV_EINVAL)
			TEST_FAIL("accepted bad key #%zu \"%s\"", i, bad[i]);
		ASSERT_INT_EQ(pv_key_is_valid_base64(bad[i]), 0);
	}
	ASSERT_INT_EQ(pv_key_is_valid_base64(wg_pub), 1);
	TEST_DONE();
}

static void test_peer_names_follow_the_script_rule(void)
{
	TEST_START("peer names follow wireguard-install.sh: [A-Za-z0-9_-]{1,15}");
	ASSERT_INT_EQ(pv_peer_name_is_valid("pv12"), 1);
	ASSERT_INT_EQ(pv_peer_name_is_valid("a-b_C9"), 1);
	ASSERT_INT_EQ(pv_peer_name_is_valid("123456789012345"), 1);
	ASSERT_INT_EQ(pv_peer_name_is_valid("1234567890123456"), 0);
	ASSERT_INT_EQ(pv_peer_name_is_valid(""), 0);
	ASSERT_INT_EQ(pv_peer_name_is_valid("x\n# END_PEER x"), 0);
	ASSERT_INT_EQ(pv_peer_name_is_valid("a;b"), 0);
	ASSERT_INT_EQ(pv_peer_name_is_valid("$(id)"), 0);
	ASSERT_INT_EQ(pv_peer_name_is_valid("a b"), 0);
	TEST_DONE();
}

static void test_tiers(void)
{
	TEST_START("Pro reaches every server and Basic only Basic servers");
	ASSERT_INT_EQ(pv_tier_parse("Basic"), PV_TIER_BASIC);
	ASSERT_INT_EQ(pv_tier_parse("pro"), PV_TIER_PRO);
	ASSERT_INT_EQ(pv_tier_parse("gold"), PV_TIER_NONE);
	ASSERT_INT_EQ(pv_tier_allows(PV_TIER_PRO, PV_TIER_BASIC), 1);
	ASSERT_INT_EQ(pv_tier_allows(PV_TIER_BASIC, PV_TIER_BASIC), 1);
	ASSERT_INT_EQ(pv_tier_allows(PV_TIER_BASIC, PV_TIER_PRO), 0);
	ASSERT_INT_EQ(pv_tier_allows(PV_TIER_NONE, PV_TIER_BASIC), 0);
	ASSERT_STR_EQ(pv_tier_name(PV_TIER_PRO), "pro");
	TEST_DONE();
}

int main(void)
{
	test_public_key_matches_wg();
	test_generated_pair_is_consistent();
	test_non_canonical_keys_are_refused();
	test_peer_names_follow_the_script_rule();
	test_tiers();
	TEST_SUMMARY();
}
