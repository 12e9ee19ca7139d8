/* SPDX-License-Identifier: MIT */
/*
 * The key -> user check's cache (usercache.c): a looked-up row is served
 * without the DB, an admin change is seen once ctl_users_changed() ran, a
 * write by another process (another connection) is seen at once, and an
 * unknown user is never cached.
 */
#include "controller.h"
#include "test_db_fixture.h"

#define SET_TIER_BASIC "UPDATE users SET tier = 1 WHERE id = 'bob' RETURNING 1"

static void test_cache(void)
{
	struct ctl ctl = {0};
	struct db_user u;

	ctl.db = fixture_open("cache.db", 1);
	TEST_START("a cached row is served until ctl_users_changed() drops it");
	ASSERT_INT_EQ(db_user_upsert(ctl.db, "bob", PV_TIER_PRO, 1), 0);
	ASSERT_INT_EQ(ctl_user_get(&ctl, "bob", &u), 0);
	ASSERT_INT_EQ(u.active, 1);
	/* Our own write does not move data_version: only the call makes it visible. */
	ASSERT_INT_EQ(db_user_upsert(ctl.db, "bob", PV_TIER_PRO, 0), 0);
	ASSERT_INT_EQ(ctl_user_get(&ctl, "bob", &u), 0);
	ASSERT_INT_EQ(u.active, 1);
	ctl_users_changed(&ctl);
	ASSERT_INT_EQ(ctl_user_get(&ctl, "bob", &u), 0);
	ASSERT_INT_EQ(u.active, 0);
	TEST_DONE();

	TEST_START("another process's write is seen at once; unknown users are not cached");
	ASSERT_INT_EQ(u.tier, PV_TIER_PRO);
	fixture_query_int("cache.db", SET_TIER_BASIC);
	ASSERT_INT_EQ(ctl_user_get(&ctl, "bob", &u), 0);
	ASSERT_INT_EQ(u.tier, PV_TIER_BASIC);
	ASSERT_INT_EQ(ctl_user_get(&ctl, "carol", &u), PV_ENOTFOUND);
	ASSERT_INT_EQ(db_user_upsert(ctl.db, "carol", PV_TIER_BASIC, 1), 0);
	ASSERT_INT_EQ(ctl_user_get(&ctl, "carol", &u), 0);
	ctl_users_free(&ctl);
	db_close(ctl.db);
	TEST_DONE();
}

int main(void)
{
	fixture_setup();
	test_cache();
	TEST_SUMMARY();
}
