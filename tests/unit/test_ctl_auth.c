/* SPDX-License-Identifier: MIT */
/*
 * API keys and the admin token.  The vectors were computed outside our code:
 *   printf 'u123:pro' | openssl dgst -sha256 -hmac 'portal-secret-2024'         ->
 * 16c9779541a73f0d... printf 'alice.smith:basic' | openssl dgst -sha256 -hmac 'previous-secret' ->
 * 7f79e5f089e0e5c5... (the seed's Python snippet gives the same first 16 hex digits).
 * Later key generations:
 *   printf 'u123:pro:2' | openssl dgst -sha256 -hmac 'portal-secret-2024'        ->
 * ceed5e71c3fea211... printf 'alice.smith:basic:7' | openssl dgst -sha256 -hmac 'previous-secret'
 * -> 81980bac4503ce5f...
 */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller.h"
#include "test.h"

static const struct ctl_secrets secrets = {"portal-secret-2024", "previous-secret"};

static unsigned last_gen;

static int verify(const char *key, char *user, enum pv_tier *tier)
{
	last_gen = 99;
	return ctl_key_verify(&secrets, key, user, tier, &last_gen);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ASSERT_TRUE(f != NULL);
	fputs(text, f);
	fclose(f);
	ASSERT_INT_EQ(chmod(path, mode), 0);
}

static void test_keys(void)
{
	char sig[CTL_SIG_HEX + 1], user[CTL_USER_MAX + 1], key[128];
	enum pv_tier tier = PV_TIER_NONE;

	TEST_START("a signature equals the first 16 hex digits of openssl dgst -hmac");
	ASSERT_INT_EQ(ctl_key_sign(sig, "portal-secret-2024", "u123", "pro", 0), 0);
	ASSERT_STR_EQ(sig, "16c9779541a73f0d");
	TEST_DONE();

	TEST_START("a seed-snippet key is accepted with the current secret");
	ASSERT_INT_EQ(verify("u123_pro_16c9779541a73f0d", user, &tier), 0);
	ASSERT_STR_EQ(user, "u123");
	ASSERT_INT_EQ(tier, PV_TIER_PRO);
	TEST_DONE();

	TEST_START("a key signed with the previous secret is still accepted");
	ASSERT_INT_EQ(verify("alice.smith_basic_7f79e5f089e0e5c5", user, &tier), 0);
	ASSERT_STR_EQ(user, "alice.smith");
	ASSERT_INT_EQ(tier, PV_TIER_BASIC);
	TEST_DONE();

	TEST_START("a key signed with neither secret is refused");
	ASSERT_INT_EQ(ctl_key_sign(sig, "some-other-secret", "u123", "pro", 0), 0);
	snprintf(key, sizeof(key), "u123_pro_%s", sig);
	ASSERT_INT_EQ(verify(key, user, &tier), PV_EAUTH);
	TEST_DONE();

	TEST_START("changing the tier, the user or one signature digit breaks the key");
	ASSERT_INT_EQ(verify("u123_basic_16c9779541a73f0d", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("u124_pro_16c9779541a73f0d", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("u123_pro_16c9779541a73f0e", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("u123_pro_16C9779541A73F0D", user, &tier), PV_EAUTH);
	TEST_DONE();

	TEST_START("keys that do not split into exactly three parts are refused");
	ASSERT_INT_EQ(verify("u123_pro", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("u_123_pro_16c9779541a73f0d", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("u123_pro_16c9779541a73f0d_", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("_pro_16c9779541a73f0d", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("u123_pro_16c9779541a73f0", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("u123_gold_16c9779541a73f0d", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify(NULL, user, &tier), PV_EAUTH);
	TEST_DONE();

	TEST_START("a made key verifies and names the canonical tier");
	ASSERT_INT_EQ(ctl_key_make(key, sizeof(key), secrets.current, "u123", PV_TIER_PRO, 0), 0);
	ASSERT_STR_EQ(key, "u123_pro_16c9779541a73f0d");
	ASSERT_INT_EQ(ctl_key_make(key, sizeof(key), secrets.current, "bad_user", PV_TIER_PRO, 0),
	              PV_EINVAL);
	ASSERT_INT_EQ(ctl_key_make(key, 10, secrets.current, "u123", PV_TIER_PRO, 0), PV_EINVAL);
	TEST_DONE();

	TEST_START("a generation-0 key says generation 0");
	ASSERT_INT_EQ(verify("u123_pro_16c9779541a73f0d", user, &tier), 0);
	ASSERT_INT_EQ(last_gen, 0);
	TEST_DONE();
}

static void test_generations(void)
{
	char user[CTL_USER_MAX + 1], key[128];
	enum pv_tier tier = PV_TIER_NONE;

	TEST_START("a later generation signs user:tier:GEN and appends -GEN to the key");
	ASSERT_INT_EQ(ctl_key_make(key, sizeof(key), secrets.current, "u123", PV_TIER_PRO, 2), 0);
	ASSERT_STR_EQ(key, "u123_pro_ceed5e71c3fea211-2");
	ASSERT_INT_EQ(verify(key, user, &tier), 0);
	ASSERT_STR_EQ(user, "u123");
	ASSERT_INT_EQ(tier, PV_TIER_PRO);
	ASSERT_INT_EQ(last_gen, 2);
	TEST_DONE();

	TEST_START("a later generation's key signed with the previous secret is accepted");
	ASSERT_INT_EQ(verify("alice.smith_basic_81980bac4503ce5f-7", user, &tier), 0);
	ASSERT_INT_EQ(last_gen, 7);
	TEST_DONE();

	TEST_START("a signature moved to another generation is refused");
	ASSERT_INT_EQ(verify("u123_pro_ceed5e71c3fea211-3", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("u123_pro_ceed5e71c3fea211", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("u123_pro_16c9779541a73f0d-2", user, &tier), PV_EAUTH);
	TEST_DONE();

	TEST_START("a generation is spelt one way only: no zero, sign, padding or overflow");
	ASSERT_INT_EQ(verify("u123_pro_ceed5e71c3fea211-02", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("u123_pro_ceed5e71c3fea211-+2", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("u123_pro_ceed5e71c3fea211-", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("u123_pro_16c9779541a73f0d-0", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("u123_pro_ceed5e71c3fea211- 2", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("u123_pro_ceed5e71c3fea211-2147483648", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("u123_pro_ceed5e71c3fea211-99999999999", user, &tier), PV_EAUTH);
	ASSERT_INT_EQ(verify("u123_pro_ceed5e71c3fea211.2", user, &tier), PV_EAUTH);
	TEST_DONE();

	TEST_START("the largest generation still makes and verifies a key");
	ASSERT_INT_EQ(ctl_key_make(key, sizeof(key), secrets.current, "u123", PV_TIER_BASIC,
	                           CTL_KEY_GEN_MAX),
	              0);
	ASSERT_INT_EQ(verify(key, user, &tier), 0);
	ASSERT_INT_EQ(last_gen, CTL_KEY_GEN_MAX);
	ASSERT_INT_EQ(ctl_key_make(key, sizeof(key), secrets.current, "u123", PV_TIER_BASIC,
	                           CTL_KEY_GEN_MAX + 1U),
	              PV_EINVAL);
	TEST_DONE();
}

static void test_admin(void)
{
	TEST_START("the admin token must come as an exact Bearer header");
	ASSERT_INT_EQ(ctl_admin_verify("0123456789abcdefXYZ", "Bearer 0123456789abcdefXYZ"), 0);
	ASSERT_INT_EQ(ctl_admin_verify("0123456789abcdefXYZ", "Bearer 0123456789abcdefXY"),
	              PV_EAUTH);
	ASSERT_INT_EQ(ctl_admin_verify("0123456789abcdefXYZ", "bearer 0123456789abcdefXYZ"),
	              PV_EAUTH);
	ASSERT_INT_EQ(ctl_admin_verify("0123456789abcdefXYZ", "0123456789abcdefXYZ"), PV_EAUTH);
	ASSERT_INT_EQ(ctl_admin_verify("0123456789abcdefXYZ", NULL), PV_EAUTH);
	TEST_DONE();
}

static void test_files(void)
{
	char path[64], err[256];
	struct ctl_secrets s;
	char *token = NULL;

	snprintf(path, sizeof(path), "/tmp/test_ctl_auth.%d", (int)getpid());

	TEST_START("a 0600 secrets file gives the current and the previous secret");
	write_file(path, "new-secret\nold-secret\n", 0600);
	ASSERT_INT_EQ(ctl_secrets_load(&s, path, err, sizeof(err)), 0);
	ASSERT_STR_EQ(s.current, "new-secret");
	ASSERT_STR_EQ(s.previous, "old-secret");
	ctl_secrets_clear(&s);
	write_file(path, "only-secret", 0600);
	ASSERT_INT_EQ(ctl_secrets_load(&s, path, err, sizeof(err)), 0);
	ASSERT_STR_EQ(s.current, "only-secret");
	ASSERT_TRUE(s.previous == NULL);
	ctl_secrets_clear(&s);
	TEST_DONE();

	TEST_START("a group-readable secrets file is refused, naming the field and file");
	write_file(path, "new-secret\n", 0640);
	ASSERT_INT_EQ(ctl_secrets_load(&s, path, err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "secrets_file");
	ASSERT_STR_CONTAINS(err, path);
	ASSERT_STR_CONTAINS(err, "0600");
	TEST_DONE();

	TEST_START("an empty first line or a third line is refused");
	write_file(path, "\nold\n", 0600);
	ASSERT_INT_EQ(ctl_secrets_load(&s, path, err, sizeof(err)), PV_EINVAL);
	write_file(path, "a\nb\nc\n", 0600);
	ASSERT_INT_EQ(ctl_secrets_load(&s, path, err, sizeof(err)), PV_EINVAL);
	TEST_DONE();

	TEST_START("the admin token file holds one line of at least 16 characters");
	write_file(path, "0123456789abcdefXYZ\n", 0600);
	ASSERT_INT_EQ(ctl_admin_token_load(&token, path, err, sizeof(err)), 0);
	ASSERT_STR_EQ(token, "0123456789abcdefXYZ");
	free(token);
	write_file(path, "short\n", 0600);
	ASSERT_INT_EQ(ctl_admin_token_load(&token, path, err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "admin_token_file");
	ASSERT_TRUE(token == NULL);
	write_file(path, "0123456789abcdefXYZ\n", 0644);
	ASSERT_INT_EQ(ctl_admin_token_load(&token, path, err, sizeof(err)), PV_EINVAL);
	TEST_DONE();

	TEST_START("a missing secrets file is an I/O error naming the path");
	unlink(path);
	ASSERT_TRUE(ctl_secrets_load(&s, path, err, sizeof(err)) < 0);
	ASSERT_STR_CONTAINS(err, path);
	TEST_DONE();
}

int main(void)
{
	test_keys();
	test_generations();
	test_admin();
	test_files();
	TEST_SUMMARY();
}
