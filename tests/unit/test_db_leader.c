/* SPDX-License-Identifier: MIT */
/*
 * Leader election (db_leader_poll): on SQLite the one controller always
 * leads; on PostgreSQL (tests/unit/with-pg.sh) one session at a time holds
 * the lead, keeps it across polls, and another takes it once the holder's
 * session ends, as when its controller is killed.
 */
#include <time.h>

#include "test_db_fixture.h"

static struct db *open_handle(void)
{
	struct db *db = NULL;
	int r;

	if ((r = db_open(&db, fixture_target("leader.db"))) != 0)
		TEST_FAIL("db_open: %s: %s", pv_strerror(r), db_errmsg(db));
	return db;
}

/* Poll until db leads (the server ends a closed session a moment later); 1 if it did in 10 s. */
static int poll_until_leader(struct db *db)
{
	const struct timespec pause = {0, 50000000L}; /* 50 ms */
	int leader = 0, i;

	for (i = 0; i < 200 && !leader; i++) {
		if (db_leader_poll(db, &leader) < 0)
			TEST_FAIL("poll: %s", db_errmsg(db));
		if (!leader)
			nanosleep(&pause, NULL);
	}
	return leader;
}

static void test_sqlite_always_leads(void)
{
	struct db *db = fixture_open("leader.db", 1);
	int leader = 0;

	TEST_START("alone on a SQLite file, a controller is always the leader");
	ASSERT_INT_EQ(db_leader_poll(db, &leader), 0);
	ASSERT_INT_EQ(leader, 1);
	db_close(db);
	TEST_DONE();
}

static void test_pg_one_leader(void)
{
	struct db *a, *b;
	int la = 0, lb = 1;

	db_close(fixture_open("leader.db", 1));
	a = open_handle();
	b = open_handle();
	TEST_START("of two sessions on PostgreSQL the first to poll leads, the other does not");
	ASSERT_INT_EQ(db_leader_poll(a, &la), 0);
	ASSERT_INT_EQ(la, 1);
	ASSERT_INT_EQ(db_leader_poll(b, &lb), 0);
	ASSERT_INT_EQ(lb, 0);
	TEST_DONE();

	TEST_START("the leader keeps the lead across polls");
	ASSERT_INT_EQ(db_leader_poll(a, &la), 0);
	ASSERT_INT_EQ(la, 1);
	ASSERT_INT_EQ(db_leader_poll(b, &lb), 0);
	ASSERT_INT_EQ(lb, 0);
	TEST_DONE();

	TEST_START("when the leader's session ends, the next poll of the other takes the lead");
	db_close(a);
	ASSERT_INT_EQ(poll_until_leader(b), 1);
	TEST_DONE();

	TEST_START("a leader whose session was terminated is told so at its next poll");
	fixture_query_int("leader.db", "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_locks"
	                               " WHERE locktype = 'advisory' AND pid <> pg_backend_pid()");
	ASSERT_TRUE(db_leader_poll(b, &lb) < 0);
	ASSERT_INT_EQ(lb, 0);
	ASSERT_INT_EQ(db_leader_poll(b, &lb), 0); /* a new session, and the lead is free */
	ASSERT_INT_EQ(lb, 1);
	db_close(b);
	TEST_DONE();
}

int main(void)
{
	fixture_setup();
	if (fixture_pg())
		test_pg_one_leader();
	else
		test_sqlite_always_leads();
	TEST_SUMMARY();
}
