/* SPDX-License-Identifier: MIT */
/*
 * Users, peers and the audit trail: upserts, activation replacing an older
 * peer, UNIQUE refusals without half-state, filtered lists, generated names,
 * hostile strings kept as data, and bad arguments refused without change.
 */
#include "test_db_fixture.h"

#define HOSTILE_USER   "'); DROP TABLE users;--"
#define HOSTILE_DEVICE "Zoë's \"phone\" 📱 %s %n \\ ;"

static void test_users(void)
{
	struct db *db = fixture_open("users.db", 1);
	struct db_user u;

	TEST_START("a user is created, changes tier, is deactivated and reactivated in place");
	ASSERT_INT_EQ(db_user_upsert(db, "bob", PV_TIER_BASIC, 1), 0);
	ASSERT_INT_EQ(db_user_get(db, "bob", &u), 0);
	ASSERT_STR_EQ(u.id, "bob");
	ASSERT_INT_EQ(u.tier, PV_TIER_BASIC);
	ASSERT_INT_EQ(u.active, 1);
	ASSERT_INT_EQ(db_user_upsert(db, "bob", PV_TIER_PRO, 1), 0);
	ASSERT_INT_EQ(db_user_get(db, "bob", &u), 0);
	ASSERT_INT_EQ(u.tier, PV_TIER_PRO);
	ASSERT_INT_EQ(db_user_upsert(db, "bob", PV_TIER_PRO, 0), 0);
	ASSERT_INT_EQ(db_user_get(db, "bob", &u), 0);
	ASSERT_INT_EQ(u.active, 0);
	ASSERT_INT_EQ(db_user_upsert(db, "bob", PV_TIER_BASIC, 1), 0);
	ASSERT_INT_EQ(db_user_get(db, "bob", &u), 0);
	ASSERT_INT_EQ(u.tier, PV_TIER_BASIC);
	ASSERT_INT_EQ(u.active, 1);
	ASSERT_INT_EQ(fixture_query_int("users.db", "SELECT count(*) FROM users WHERE id = 'bob'"),
	              1);
	ASSERT_INT_EQ(db_user_get(db, "carol", &u), PV_ENOTFOUND);
	TEST_DONE();

	TEST_START("a bad tier, active flag or user id is PV_EINVAL and writes nothing");
	ASSERT_INT_EQ(db_user_upsert(db, "dave", PV_TIER_NONE, 1), PV_EINVAL);
	ASSERT_INT_EQ(db_user_upsert(db, "dave", (enum pv_tier)7, 1), PV_EINVAL);
	ASSERT_INT_EQ(db_user_upsert(db, "dave", PV_TIER_PRO, 2), PV_EINVAL);
	ASSERT_INT_EQ(db_user_upsert(db, "", PV_TIER_PRO, 1), PV_EINVAL);
	ASSERT_INT_EQ(db_user_upsert(db, NULL, PV_TIER_PRO, 1), PV_EINVAL);
	ASSERT_INT_EQ(
	        db_user_upsert(db,
	                       "x1234567890123456789012345678901234567890123456789012345678901234",
	                       PV_TIER_PRO, 1),
	        PV_EINVAL);
	ASSERT_STR_CONTAINS(db_errmsg(db), "longer than 64");
	ASSERT_INT_EQ(fixture_query_int("users.db", "SELECT count(*) FROM users"),
	              2); /* alice, bob */
	db_close(db);
	TEST_DONE();
}

static void test_activate_replaces(void)
{
	struct db *db = fixture_open("replace.db", 1);
	struct db_peer old = fixture_reserve(db, "srv-1", 1), new, got;

	TEST_START(
	        "activating a new peer deletes the one it replaces and releases its lease at once");
	ASSERT_INT_EQ(db_peer_activate(db, old.id, 0), 0);
	ASSERT_INT_EQ(db_peer_get(db, old.id, &got), 0);
	ASSERT_INT_EQ(got.state, DB_PEER_ACTIVE);
	new = fixture_reserve(db, "srv-1", 2);
	ASSERT_INT_EQ(new.host, 3);
	ASSERT_INT_EQ(db_peer_activate(db, new.id, old.id), 0);
	ASSERT_INT_EQ(db_peer_get(db, old.id, &got), PV_ENOTFOUND);
	ASSERT_INT_EQ(db_peer_get(db, new.id, &got), 0);
	ASSERT_INT_EQ(got.state, DB_PEER_ACTIVE);
	ASSERT_INT_EQ(got.host, 3);
	ASSERT_INT_EQ(fixture_query_int("replace.db", "SELECT count(*) FROM lease"), 1);
	ASSERT_INT_EQ(fixture_query_int("replace.db", "SELECT max(ip) FROM lease"), 3);
	ASSERT_INT_EQ(fixture_reserve(db, "srv-1", 3).host, 2); /* the old lease is free again */
	TEST_DONE();

	TEST_START("activation tolerates an already deleted replaced peer but not a missing peer");
	got = fixture_reserve(db, "srv-1", 4);
	ASSERT_INT_EQ(db_peer_activate(db, got.id, old.id), 0);
	ASSERT_INT_EQ(db_peer_activate(db, 424242, 0), PV_ENOTFOUND);
	TEST_DONE();

	TEST_START("only a PENDING row is activated: one a revoke took over (REMOVING) stays so");
	got = fixture_reserve(db, "srv-1", 5);
	ASSERT_INT_EQ(db_peer_set_state(db, got.id, DB_PEER_REMOVING), 0);
	ASSERT_INT_EQ(db_peer_activate(db, got.id, 0), PV_ENOTFOUND);
	ASSERT_INT_EQ(db_peer_get(db, got.id, &got), 0);
	ASSERT_INT_EQ(got.state, DB_PEER_REMOVING);
	ASSERT_INT_EQ(db_peer_activate(db, new.id, 0), PV_ENOTFOUND); /* already ACTIVE */
	ASSERT_INT_EQ(db_peer_activate(db, new.id, new.id), PV_EINVAL);
	ASSERT_INT_EQ(db_peer_get(db, new.id, &got), 0);
	db_close(db);
	TEST_DONE();
}

static void test_duplicate_key(void)
{
	struct db *db = fixture_open("dupkey.db", 2);
	struct db_peer p = fixture_reserve(db, "srv-1", 7), q;

	TEST_START(
	        "a second peer with the same public key on a server is PV_EEXIST and leaves nothing");
	ASSERT_INT_EQ(db_peer_reserve(db, "alice", "phone", "srv-1", fixture_key(7), NULL, &q),
	              PV_EEXIST);
	ASSERT_STR_CONTAINS(db_errmsg(db), fixture_pg() ? "unique constraint" : "UNIQUE");
	ASSERT_INT_EQ(fixture_query_int("dupkey.db", "SELECT count(*) FROM peers"), 1);
	ASSERT_INT_EQ(fixture_query_int("dupkey.db", "SELECT count(*) FROM lease"), 1);
	/* The handle is usable and the refused attempt held no address. */
	ASSERT_INT_EQ(fixture_reserve(db, "srv-1", 8).host, p.host + 1);
	TEST_DONE();

	TEST_START("the same public key on another server is a different peer");
	ASSERT_INT_EQ(fixture_reserve(db, "srv-2", 7).host, 2);
	db_close(db);
	TEST_DONE();
}

static void test_names(void)
{
	struct db *db = fixture_open("names.db", 1);
	struct db_peer a = fixture_reserve(db, "srv-1", 1), b;
	char want[16];

	TEST_START(
	        "peer names are \"pv\" + row id, valid client names, never reused after a delete");
	snprintf(want, sizeof(want), "pv%lld", (long long)a.id);
	ASSERT_STR_EQ(a.name, want);
	ASSERT_TRUE(pv_peer_name_is_valid(a.name));
	ASSERT_INT_EQ(db_peer_delete(db, a.id), 0);
	b = fixture_reserve(db, "srv-1", 2);
	ASSERT_TRUE(b.id > a.id);
	ASSERT_TRUE(strcmp(a.name, b.name) != 0);
	ASSERT_INT_EQ(b.host, a.host);
	ASSERT_INT_EQ(db_peer_get(db, b.id, &a), 0);
	ASSERT_STR_EQ(a.name, b.name);
	db_close(db);
	TEST_DONE();
}

static void test_lists(void)
{
	struct db *db = fixture_open("lists.db", 2);
	struct db_peer *l = NULL;
	struct db_peer p[4];
	size_t n = 0;

	ASSERT_INT_EQ(db_user_upsert(db, "bob", PV_TIER_PRO, 1), 0);
	p[0] = fixture_reserve(db, "srv-1", 1); /* alice laptop 1 */
	p[1] = fixture_reserve(db, "srv-2", 2); /* alice laptop 2 */
	ASSERT_INT_EQ(db_peer_reserve(db, "alice", "phone", "srv-1", fixture_key(3), NULL, &p[2]),
	              0);
	ASSERT_INT_EQ(db_peer_reserve(db, "bob", "laptop", "srv-1", fixture_key(4), NULL, &p[3]),
	              0);
	ASSERT_INT_EQ(db_peer_activate(db, p[0].id, 0), 0);
	ASSERT_INT_EQ(db_peer_set_state(db, p[1].id, DB_PEER_REMOVING), 0);

	TEST_START("peers list by user, by server and by (user, device, server), ordered by id");
	{
		struct db_peer_filter f = {"alice", NULL, NULL, DB_PEER_ANY};

		ASSERT_INT_EQ(db_peers_list(db, &f, &l, &n), 0);
		ASSERT_INT_EQ(n, 3);
		ASSERT_INT_EQ(l[0].id, p[0].id);
		ASSERT_INT_EQ(l[2].id, p[2].id);
		ASSERT_STR_EQ(l[2].device, "phone");
		free(l);
	}
	{
		struct db_peer_filter f = {NULL, "srv-1", NULL, DB_PEER_ANY};

		ASSERT_INT_EQ(db_peers_list(db, &f, &l, &n), 0);
		ASSERT_INT_EQ(n, 3);
		ASSERT_STR_EQ(l[2].user_id, "bob");
		free(l);
	}
	{
		struct db_peer_filter f = {"alice", "srv-1", "laptop", DB_PEER_ANY};

		ASSERT_INT_EQ(db_peers_list(db, &f, &l, &n), 0);
		ASSERT_INT_EQ(n, 1);
		ASSERT_INT_EQ(l[0].id, p[0].id);
		ASSERT_STR_EQ(l[0].pubkey, fixture_key(1));
		ASSERT_STR_EQ(l[0].name, p[0].name);
		free(l);
	}
	{
		struct db_peer_filter f = {"alice", NULL, "laptop", DB_PEER_ANY};

		ASSERT_INT_EQ(db_peers_list(db, &f, &l, &n), 0);
		ASSERT_INT_EQ(n, 2);
		ASSERT_INT_EQ(l[0].id, p[0].id);
		ASSERT_INT_EQ(l[1].id, p[1].id);
		free(l);
	}
	{
		struct db_peer_filter f = {"nobody", NULL, NULL, DB_PEER_ANY};

		ASSERT_INT_EQ(db_peers_list(db, &f, &l, &n), 0);
		ASSERT_INT_EQ(n, 0);
		free(l);
	}
	TEST_DONE();

	TEST_START("other devices are counted distinct, without the named one, up to the cap");
	{
		int others = -1;

		ASSERT_INT_EQ(db_user_other_devices(db, "alice", "tablet", 10, &others), 0);
		ASSERT_INT_EQ(others, 2); /* laptop (twice) and phone */
		ASSERT_INT_EQ(db_user_other_devices(db, "alice", "laptop", 10, &others), 0);
		ASSERT_INT_EQ(others, 1);
		ASSERT_INT_EQ(db_user_other_devices(db, "alice", "tablet", 1, &others), 0);
		ASSERT_INT_EQ(others, 1);
		ASSERT_INT_EQ(db_user_other_devices(db, "nobody", "laptop", 10, &others), 0);
		ASSERT_INT_EQ(others, 0);
	}
	TEST_DONE();

	TEST_START(
	        "state filters: ACTIVE only, and NOT_ACTIVE finds PENDING and REMOVING leftovers");
	{
		struct db_peer_filter f = {NULL, NULL, NULL, DB_PEER_ACTIVE};

		ASSERT_INT_EQ(db_peers_list(db, &f, &l, &n), 0);
		ASSERT_INT_EQ(n, 1);
		ASSERT_INT_EQ(l[0].id, p[0].id);
		free(l);
		f.state = DB_PEER_NOT_ACTIVE;
		ASSERT_INT_EQ(db_peers_list(db, &f, &l, &n), 0);
		ASSERT_INT_EQ(n, 3);
		ASSERT_INT_EQ(l[0].id, p[1].id);
		ASSERT_INT_EQ(l[0].state, DB_PEER_REMOVING);
		ASSERT_INT_EQ(l[1].state, DB_PEER_PENDING);
		free(l);
		f.state = DB_PEER_PENDING;
		f.user_id = "bob";
		ASSERT_INT_EQ(db_peers_list(db, &f, &l, &n), 0);
		ASSERT_INT_EQ(n, 1);
		ASSERT_INT_EQ(l[0].id, p[3].id);
		free(l);
		f.state = 9;
		ASSERT_INT_EQ(db_peers_list(db, &f, &l, &n), PV_EINVAL);
		ASSERT_TRUE(l == NULL);
		ASSERT_INT_EQ(n, 0);
	}
	ASSERT_INT_EQ(db_peer_set_state(db, p[1].id, (enum db_peer_state)5), PV_EINVAL);
	ASSERT_INT_EQ(db_peer_set_state(db, 424242, DB_PEER_ACTIVE), PV_ENOTFOUND);
	db_close(db);
	TEST_DONE();
}

static void test_bad_reservations(void)
{
	struct db *db = fixture_open("bad.db", 1);
	struct db_peer p;

	TEST_START("bad keys, ids and unknown users or servers are refused and write nothing");
	ASSERT_INT_EQ(db_peer_reserve(db, "alice", "laptop", "srv-1", "not-a-key", NULL, &p),
	              PV_EINVAL);
	ASSERT_INT_EQ(db_peer_reserve(db, "alice", "laptop", "srv-1", NULL, NULL, &p), PV_EINVAL);
	ASSERT_INT_EQ(db_peer_reserve(db, "alice", "", "srv-1", fixture_key(1), NULL, &p),
	              PV_EINVAL);
	ASSERT_INT_EQ(db_peer_reserve(db, "alice", "laptop", "srv-99", fixture_key(1), NULL, &p),
	              PV_ENOTFOUND);
	ASSERT_STR_CONTAINS(db_errmsg(db), "srv-99");
	ASSERT_INT_EQ(db_peer_reserve(db, "mallory", "laptop", "srv-1", fixture_key(1), NULL, &p),
	              PV_ENOTFOUND);
	ASSERT_INT_EQ(fixture_query_int("bad.db", "SELECT count(*) FROM peers"), 0);
	ASSERT_INT_EQ(fixture_query_int("bad.db", "SELECT count(*) FROM lease"), 0);
	ASSERT_INT_EQ(fixture_reserve(db, "srv-1", 1).host, 2);
	db_close(db);
	TEST_DONE();
}

static void test_hostile_strings(void)
{
	struct db *db = fixture_open("hostile.db", 1);
	struct db_peer_filter f = {HOSTILE_USER, NULL, HOSTILE_DEVICE, DB_PEER_ANY};
	struct db_peer p, *l = NULL;
	struct db_user u;
	size_t n = 0;

	TEST_START("quotes, SQL and unicode in ids and devices are stored and read back as data");
	ASSERT_INT_EQ(db_user_upsert(db, HOSTILE_USER, PV_TIER_BASIC, 1), 0);
	ASSERT_INT_EQ(db_user_get(db, HOSTILE_USER, &u), 0);
	ASSERT_STR_EQ(u.id, HOSTILE_USER);
	ASSERT_INT_EQ(db_peer_reserve(db, HOSTILE_USER, HOSTILE_DEVICE, "srv-1", fixture_key(1),
	                              NULL, &p),
	              0);
	ASSERT_INT_EQ(db_peers_list(db, &f, &l, &n), 0);
	ASSERT_INT_EQ(n, 1);
	ASSERT_STR_EQ(l[0].user_id, HOSTILE_USER);
	ASSERT_STR_EQ(l[0].device, HOSTILE_DEVICE);
	ASSERT_TRUE(pv_peer_name_is_valid(l[0].name));
	free(l);
	ASSERT_INT_EQ(db_audit(db, HOSTILE_USER, "generate-api-key", HOSTILE_DEVICE, "x'--"), 0);
	ASSERT_INT_EQ(fixture_query_int("hostile.db", "SELECT count(*) FROM users"), 2);
	ASSERT_INT_EQ(fixture_query_int("hostile.db", "SELECT count(*) FROM audit WHERE actor = "
	                                              "'''); DROP TABLE users;--'"),
	              1);
	db_close(db);
	TEST_DONE();
}

static void test_audit(void)
{
	struct db *db = fixture_open("audit.db", 1);

	TEST_START("audit rows keep time, actor, action, subject and detail, in order");
	ASSERT_INT_EQ(db_audit(db, "admin", "generate-api-key", "bob", "tier=pro active=1"), 0);
	ASSERT_INT_EQ(db_audit(db, "admin", "disable-user", "bob", NULL), 0);
	ASSERT_INT_EQ(fixture_query_int("audit.db", "SELECT count(*) FROM audit"), 2);
	ASSERT_INT_EQ(
	        fixture_query_int("audit.db",
	                          "SELECT count(*) FROM audit WHERE id = 1 AND actor = 'admin' "
	                          "AND action = 'generate-api-key' AND subject = 'bob' AND "
	                          "detail = 'tier=pro active=1' AND at > 1700000000"),
	        1);
	ASSERT_INT_EQ(fixture_query_int("audit.db", "SELECT count(*) FROM audit WHERE id = 2 AND "
	                                            "action = 'disable-user' AND detail IS NULL"),
	              1);
	TEST_DONE();

	TEST_START("an audit row without an actor or an action is refused");
	ASSERT_INT_EQ(db_audit(db, NULL, "x", NULL, NULL), PV_EINVAL);
	ASSERT_INT_EQ(db_audit(db, "admin", "", NULL, NULL), PV_EINVAL);
	ASSERT_INT_EQ(fixture_query_int("audit.db", "SELECT count(*) FROM audit"), 2);
	db_close(db);
	TEST_DONE();
}

int main(void)
{
	fixture_setup();
	test_users();
	test_activate_replaces();
	test_duplicate_key();
	test_names();
	test_lists();
	test_bad_reservations();
	test_hostile_strings();
	test_audit();
	TEST_SUMMARY();
}
