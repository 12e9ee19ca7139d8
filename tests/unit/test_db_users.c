/* SPDX-License-Identifier: MIT */
/*
 * Users' key generations and the admin list: every revocation (tier change,
 * deactivation, rotation) bumps the generation for good, re-issuing keeps
 * it, and the list pages by id with peer and device counts.
 */
#include "test_db_fixture.h"

static unsigned gen_of(struct db *db, const char *user)
{
	struct db_user u;

	ASSERT_INT_EQ(db_user_get(db, user, &u), 0);
	return u.key_gen;
}

static void test_generations(void)
{
	struct db *db = fixture_open("gen.db", 1);
	unsigned gen = 0;

	TEST_START("a new user starts at key generation 0 (the seed's key format)");
	ASSERT_INT_EQ(db_user_upsert(db, "bob", PV_TIER_BASIC, 1), 0);
	ASSERT_INT_EQ(gen_of(db, "bob"), 0);
	TEST_DONE();

	TEST_START("re-issuing the same tier to an active user keeps the generation");
	ASSERT_INT_EQ(db_user_upsert(db, "bob", PV_TIER_BASIC, 1), 0);
	ASSERT_INT_EQ(gen_of(db, "bob"), 0);
	TEST_DONE();

	TEST_START("a tier change bumps it, and setting the tier back bumps it again");
	ASSERT_INT_EQ(db_user_upsert(db, "bob", PV_TIER_PRO, 1), 0);
	ASSERT_INT_EQ(gen_of(db, "bob"), 1);
	ASSERT_INT_EQ(db_user_upsert(db, "bob", PV_TIER_BASIC, 1), 0);
	ASSERT_INT_EQ(gen_of(db, "bob"), 2);
	TEST_DONE();

	TEST_START("disabling bumps it; re-enabling does not bring the old generation back");
	ASSERT_INT_EQ(db_user_upsert(db, "bob", PV_TIER_BASIC, 0), 0);
	ASSERT_INT_EQ(gen_of(db, "bob"), 3);
	ASSERT_INT_EQ(db_user_upsert(db, "bob", PV_TIER_BASIC, 0), 0);
	ASSERT_INT_EQ(gen_of(db, "bob"), 3); /* already disabled: nothing more to revoke */
	ASSERT_INT_EQ(db_user_upsert(db, "bob", PV_TIER_BASIC, 1), 0);
	ASSERT_INT_EQ(gen_of(db, "bob"), 3);
	TEST_DONE();

	TEST_START("rotating returns the new generation and stores it");
	ASSERT_INT_EQ(db_user_rotate_key(db, "bob", &gen), 0);
	ASSERT_INT_EQ(gen, 4);
	ASSERT_INT_EQ(gen_of(db, "bob"), 4);
	ASSERT_INT_EQ(db_user_rotate_key(db, "bob", &gen), 0);
	ASSERT_INT_EQ(gen, 5);
	ASSERT_INT_EQ(gen_of(db, "alice"), 0); /* other users untouched */
	TEST_DONE();

	TEST_START("rotating an unknown user is PV_ENOTFOUND and creates nobody");
	gen = 77;
	ASSERT_INT_EQ(db_user_rotate_key(db, "carol", &gen), PV_ENOTFOUND);
	ASSERT_INT_EQ(gen, 77);
	ASSERT_INT_EQ(fixture_query_int("gen.db", "SELECT count(*) FROM users"), 2);
	ASSERT_INT_EQ(db_user_rotate_key(db, "", &gen), PV_EINVAL);
	TEST_DONE();
	db_close(db);
}

static void test_list(void)
{
	struct db *db = fixture_open("list.db", 2);
	struct db_user_summary *s = NULL;
	char id[8];
	size_t n = 0;
	int i;

	for (i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "u%d", i);
		ASSERT_INT_EQ(db_user_upsert(db, id, PV_TIER_BASIC, i % 2), 0);
	}
	fixture_reserve(db, "srv-1", 1);
	fixture_reserve(db, "srv-2", 2);

	TEST_START("the list is ordered by id and pages from a cursor");
	ASSERT_INT_EQ(db_users_list(db, NULL, 4, &s, &n), 0);
	ASSERT_INT_EQ(n, 4);
	ASSERT_STR_EQ(s[0].user.id, "alice");
	ASSERT_STR_EQ(s[3].user.id, "u2");
	ASSERT_INT_EQ(s[3].user.active, 0);
	free(s);
	ASSERT_INT_EQ(db_users_list(db, "u2", 4, &s, &n), 0);
	ASSERT_INT_EQ(n, 2);
	ASSERT_STR_EQ(s[0].user.id, "u3");
	ASSERT_STR_EQ(s[1].user.id, "u4");
	free(s);
	ASSERT_INT_EQ(db_users_list(db, "u4", 4, &s, &n), 0);
	ASSERT_INT_EQ(n, 0);
	free(s);
	TEST_DONE();

	TEST_START("each entry counts the user's peers and distinct devices");
	ASSERT_INT_EQ(db_users_list(db, NULL, 1, &s, &n), 0);
	ASSERT_INT_EQ(n, 1);
	ASSERT_STR_EQ(s[0].user.id, "alice");
	ASSERT_INT_EQ(s[0].peers, 2);
	ASSERT_INT_EQ(s[0].devices, 1); /* both on "laptop" */
	ASSERT_INT_EQ(s[0].user.tier, PV_TIER_PRO);
	free(s);
	TEST_DONE();

	TEST_START("a limit below 1 is PV_EINVAL");
	ASSERT_INT_EQ(db_users_list(db, NULL, 0, &s, &n), PV_EINVAL);
	ASSERT_TRUE(s == NULL);
	TEST_DONE();
	db_close(db);
}

int main(void)
{
	fixture_setup();
	test_generations();
	test_list();
	TEST_SUMMARY();
}
