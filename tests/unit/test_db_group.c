/* SPDX-License-Identifier: MIT */
/*
 * Group commit (db_group_begin/commit): the writes of a group are invisible
 * to other connections until its one COMMIT, a failing step inside rolls
 * back alone, addresses stay distinct; and the change counters caches use
 * (data_version for other connections' commits, db_changes for our own).
 */
#include "test_db_fixture.h"

#define COUNT_PEERS "SELECT count(*) FROM peers"

static void test_group_commits_once(void)
{
	struct db *db = fixture_open("group.db", 1);
	struct db_peer a, b, dup;

	TEST_START(fixture_pg() ? "on PostgreSQL a group's writes commit one by one, hosts distinct"
	                        : "a group's writes appear to others only at its commit, hosts "
	                          "distinct");
	ASSERT_INT_EQ(db_group_begin(db), 0);
	ASSERT_INT_EQ(db_group_begin(db), PV_EINVAL);
	a = fixture_reserve(db, "srv-1", 1);
	b = fixture_reserve(db, "srv-1", 2);
	ASSERT_TRUE(a.host != b.host);
	ASSERT_INT_EQ(fixture_query_int("group.db", COUNT_PEERS), fixture_pg() ? 2 : 0);
	TEST_DONE();

	TEST_START("a failing step inside a group rolls back alone; the others commit");
	ASSERT_TRUE(db_peer_reserve(db, "alice", "phone", "srv-1", fixture_key(1), NULL, &dup) < 0);
	ASSERT_INT_EQ(db_peer_activate(db, a.id, 0), 0);
	ASSERT_INT_EQ(db_group_commit(db), 0);
	ASSERT_INT_EQ(fixture_query_int("group.db", COUNT_PEERS), 2);
	ASSERT_INT_EQ(fixture_query_int("group.db", "SELECT count(*) FROM peers WHERE state = 1"),
	              1);
	ASSERT_INT_EQ(db_group_commit(db), PV_EINVAL);
	db_close(db);
	TEST_DONE();
}

static void test_change_counters(void)
{
	struct db *db = fixture_open("counters.db", 1);
	int64_t v0, v1, v2, c0;
	struct db_user u;
	int up, down, unknown;

	TEST_START("data_version moves on another connection's commit, db_changes on ours");
	ASSERT_INT_EQ(db_data_version(db, &v0), 0);
	c0 = db_changes(db);
	ASSERT_INT_EQ(db_user_upsert(db, "bob", PV_TIER_PRO, 1), 0);
	ASSERT_INT_EQ(db_data_version(db, &v1), 0);
	/* PostgreSQL's version (the WAL position) moves on our own commits too (db.h). */
	ASSERT_TRUE(fixture_pg() ? v1 != v0 : v1 == v0);
	ASSERT_TRUE(db_changes(db) > c0);
	fixture_query_int("counters.db",
	                  "INSERT INTO users(id, tier, active, created_at, updated_at) VALUES "
	                  "('carol', 1, 1, 0, 0) RETURNING 1");
	ASSERT_INT_EQ(db_data_version(db, &v2), 0);
	ASSERT_TRUE(v2 != v1);
	TEST_DONE();

	TEST_START("reads leave db_changes where it was");
	c0 = db_changes(db);
	ASSERT_INT_EQ(db_user_get(db, "bob", &u), 0);
	ASSERT_INT_EQ(db_servers_count(db, &up, &down, &unknown), 0);
	ASSERT_INT_EQ(db_changes(db), c0);
	db_close(db);
	TEST_DONE();
}

int main(void)
{
	fixture_setup();
	test_group_commits_once();
	test_change_counters();
	TEST_SUMMARY();
}
