/* SPDX-License-Identifier: MIT */
/*
 * Usage: counter deltas per user per day, resets, a removed peer's last
 * counters, revoked peers, ranges; draining and retiring.
 */
#include "test_db_fixture.h"

/* One health pass of srv-1 seeing fixture_key(n)'s counters at rx/tx. */
static void pass(struct db *db, unsigned n, uint64_t rx, uint64_t tx)
{
	struct db_server_health h = {.up = 1, .live_peers = 1};
	struct db_peer_stats ps = {.rx_bytes = rx, .tx_bytes = tx};

	memcpy(ps.pubkey, fixture_key(n), sizeof(ps.pubkey));
	ASSERT_INT_EQ(db_server_record(db, "srv-1", &h, &ps, 1), 0);
}

/* alice's usage over every day: rx in [0], tx in [1]. */
static void usage(struct db *db, uint64_t out[2])
{
	struct db_usage *u = NULL;
	size_t n = 0, i;

	ASSERT_INT_EQ(db_usage_list(db, "alice", "0000-00-00", "9999-99-99", &u, &n), 0);
	out[0] = out[1] = 0;
	for (i = 0; i < n; i++) {
		out[0] += u[i].rx_bytes;
		out[1] += u[i].tx_bytes;
	}
	free(u);
}

static void test_deltas(void)
{
	struct db *db = fixture_open("usage.db", 2);
	struct db_peer p = fixture_reserve(db, "srv-1", 1);
	struct db_peer_stats fin = {.rx_bytes = 800, .tx_bytes = 400}; /* at the removal */
	struct db_usage *u = NULL;
	uint64_t got[2], rx = 0, tx = 0;
	size_t n = 0;

	TEST_START("each pass adds the counters' growth since the last one");
	pass(db, 1, 1000, 5000);
	pass(db, 1, 1500, 5200);
	usage(db, got);
	ASSERT_INT_EQ(got[0], 1500);
	ASSERT_INT_EQ(got[1], 5200);
	TEST_DONE();

	TEST_START("a pass that sees the same counters adds nothing");
	pass(db, 1, 1500, 5200);
	usage(db, got);
	ASSERT_INT_EQ(got[0], 1500);
	TEST_DONE();

	TEST_START("a counter that went down (server restarted) counts from zero, not twice");
	pass(db, 1, 300, 100);
	usage(db, got);
	ASSERT_INT_EQ(got[0], 1800);
	ASSERT_INT_EQ(got[1], 5300);
	TEST_DONE();

	TEST_START("peers the DB does not know on that server add nothing");
	pass(db, 9, 99999, 99999);
	ASSERT_INT_EQ(db_usage_totals(db, &rx, &tx), 0);
	ASSERT_INT_EQ(rx, 1800);
	ASSERT_INT_EQ(tx, 5300);
	TEST_DONE();

	TEST_START(
	        "a removed peer's last counters add their growth; the next pass adds only its own");
	memcpy(fin.pubkey, fixture_key(1), sizeof(fin.pubkey));
	ASSERT_INT_EQ(db_peer_record_final(db, "srv-1", &fin), 0);
	usage(db, got);
	ASSERT_INT_EQ(got[0], 2300);
	ASSERT_INT_EQ(got[1], 5600);
	pass(db, 1, 800, 400);
	usage(db, got);
	ASSERT_INT_EQ(got[0], 2300);
	ASSERT_INT_EQ(got[1], 5600);
	TEST_DONE();

	TEST_START("usage stays after the peer is deleted, and ranges filter by day");
	ASSERT_INT_EQ(db_peer_delete(db, p.id), 0);
	usage(db, got);
	ASSERT_INT_EQ(got[0], 2300);
	ASSERT_INT_EQ(db_usage_list(db, NULL, "2000-01-01", "2000-12-31", &u, &n), 0);
	ASSERT_INT_EQ(n, 0);
	free(u);
	ASSERT_INT_EQ(db_usage_list(db, "bob", "0000-00-00", "9999-99-99", &u, &n), 0);
	ASSERT_INT_EQ(n, 0);
	free(u);
	db_close(db);
	TEST_DONE();
}

static void test_fleet_rows(void)
{
	struct db *db = fixture_open("fleet.db", 2);
	struct pv_fleet *f = fixture_fleet(3);
	struct db_server_status st;
	char *json = NULL;
	int n = -1;

	TEST_START("no entries before the first import; an added server's entry is listed");
	ASSERT_INT_EQ(db_fleet_entries(db, &json, &n), 0);
	ASSERT_INT_EQ(n, 0);
	ASSERT_STR_EQ(json, "[]");
	free(json);
	ASSERT_INT_EQ(db_server_add(db, &f->servers[2], "{\"id\":\"srv-3\"}"), 0);
	ASSERT_INT_EQ(db_server_add(db, &f->servers[2], "{\"id\":\"srv-3\"}"), PV_EEXIST);
	ASSERT_INT_EQ(db_fleet_entries(db, &json, &n), 0);
	ASSERT_INT_EQ(n, 1);
	ASSERT_STR_EQ(json, "[{\"id\":\"srv-3\"}]");
	free(json);
	TEST_DONE();

	TEST_START("draining is kept and shown; retiring is refused while peers hold leases");
	ASSERT_INT_EQ(db_server_set_draining(db, "srv-1", 1), 0);
	ASSERT_INT_EQ(db_server_status(db, "srv-1", &st), 0);
	ASSERT_INT_EQ(st.draining, 1);
	fixture_reserve(db, "srv-1", 1);
	ASSERT_INT_EQ(db_server_retire(db, "srv-1"), PV_EEXIST);
	ASSERT_INT_EQ(db_server_retire(db, "srv-2"), 0);
	ASSERT_INT_EQ(db_server_set_draining(db, "srv-2", 1), PV_ENOTFOUND);
	ASSERT_INT_EQ(db_server_retire(db, "srv-9"), PV_ENOTFOUND);
	pv_fleet_free(f);
	db_close(db);
	TEST_DONE();
}

int main(void)
{
	fixture_setup();
	test_deltas();
	test_fleet_rows();
	TEST_SUMMARY();
}
