/* SPDX-License-Identifier: MIT */
/* Servers: fleet sync and retirement, health records, status with load, lists and up/down counts.
 */
#include "test_db_fixture.h"

static void test_sync_and_retire(void)
{
	struct db *db = fixture_open("sync.db", 3);
	struct pv_fleet *smaller = fixture_fleet(2);
	struct db_server_status st, *l = NULL;
	struct db_peer p;
	size_t n = 0;

	TEST_START("a fleet sync inserts every server with unknown health and no load");
	ASSERT_INT_EQ(db_servers_list(db, &l, &n), 0);
	ASSERT_INT_EQ(n, 3);
	ASSERT_STR_EQ(l[0].id, "srv-1");
	ASSERT_STR_EQ(l[2].id, "srv-3");
	ASSERT_INT_EQ(l[1].up, -1);
	ASSERT_INT_EQ(l[1].peers, 0);
	ASSERT_STR_EQ(l[1].wg_pubkey, "");
	ASSERT_INT_EQ(l[1].checked_at, 0);
	free(l);
	ASSERT_INT_EQ(fixture_query_int("sync.db", "SELECT tier FROM servers WHERE id = 'srv-1'"),
	              PV_TIER_BASIC);
	TEST_DONE();

	TEST_START(
	        "a server gone from the fleet file is retired: kept with its peers, no new ones");
	p = fixture_reserve(db, "srv-3", 1);
	ASSERT_INT_EQ(db_servers_sync(db, smaller), 0);
	ASSERT_INT_EQ(db_servers_list(db, &l, &n), 0);
	ASSERT_INT_EQ(n, 2);
	free(l);
	ASSERT_INT_EQ(db_server_status(db, "srv-3", &st), 0);
	ASSERT_INT_EQ(st.peers, 1);
	ASSERT_INT_EQ(db_peer_get(db, p.id, &p), 0);
	ASSERT_INT_EQ(db_peer_reserve(db, "alice", "laptop", "srv-3", fixture_key(2), NULL, &p),
	              PV_ENOTFOUND);
	ASSERT_STR_CONTAINS(db_errmsg(db), "retired");
	pv_fleet_free(smaller);
	TEST_DONE();

	TEST_START("a server back in the fleet file is no longer retired and keeps its leases");
	smaller = fixture_fleet(3);
	snprintf(smaller->servers[2].location, sizeof(smaller->servers[2].location), "Moved");
	ASSERT_INT_EQ(db_servers_sync(db, smaller), 0);
	ASSERT_INT_EQ(fixture_reserve(db, "srv-3", 3).host, 3);
	ASSERT_INT_EQ(fixture_query_int("sync.db", "SELECT location = 'Moved' FROM servers WHERE "
	                                           "id = 'srv-3'"),
	              1);
	pv_fleet_free(smaller);
	db_close(db);
	TEST_DONE();
}

/* db_server_record with only the fields these cases look at. */
static int set_health(struct db *db, const char *id, int up, int live, const char *key)
{
	struct db_server_health h = {.up = up, .live_peers = live, .wg_pubkey = key};

	return db_server_record(db, id, &h, NULL, 0);
}

static void test_health(void)
{
	struct db *db = fixture_open("health.db", 3);
	struct db_server_status st;
	int up = -9, down = -9, unknown = -9;
	char key[PV_KEY_B64_LEN + 1];

	TEST_START("health is recorded with live peers, check time and the learnt WireGuard key");
	memcpy(key, fixture_key(77), sizeof(key));
	fixture_reserve(db, "srv-1", 1);
	fixture_reserve(db, "srv-1", 2);
	ASSERT_INT_EQ(set_health(db, "srv-1", 1, 5, key), 0);
	ASSERT_INT_EQ(db_server_status(db, "srv-1", &st), 0);
	ASSERT_STR_EQ(st.id, "srv-1");
	ASSERT_INT_EQ(st.up, 1);
	ASSERT_INT_EQ(st.peers, 2);
	ASSERT_INT_EQ(st.live_peers, 5);
	ASSERT_STR_EQ(st.wg_pubkey, key);
	ASSERT_TRUE(st.checked_at > 1700000000);
	ASSERT_TRUE(st.state_since == st.checked_at);
	TEST_DONE();

	TEST_START("a failed check marks the server down and keeps the key already learnt");
	ASSERT_INT_EQ(set_health(db, "srv-1", 0, 0, NULL), 0);
	ASSERT_INT_EQ(db_server_status(db, "srv-1", &st), 0);
	ASSERT_INT_EQ(st.up, 0);
	ASSERT_STR_EQ(st.wg_pubkey, key);
	TEST_DONE();

	TEST_START("a peer's counters and a server's totals are kept per pass");
	{
		struct db_server_health h = {.up = 1,
		                             .live_peers = 1,
		                             .active_peers = 1,
		                             .rx_bytes = 300,
		                             .tx_bytes = 400};
		struct db_peer_stats ps = {
		        .latest_handshake = 1764050000, .rx_bytes = 300, .tx_bytes = 400};
		struct db_peer_filter f = {NULL, "srv-1", NULL, DB_PEER_ANY};
		struct db_peer *peers = NULL;
		size_t n = 0;

		memcpy(ps.pubkey, fixture_key(1), sizeof(ps.pubkey));
		ASSERT_INT_EQ(db_server_record(db, "srv-1", &h, &ps, 1), 0);
		ASSERT_INT_EQ(db_server_status(db, "srv-1", &st), 0);
		ASSERT_INT_EQ(st.active_peers, 1);
		ASSERT_INT_EQ(st.rx_bytes, 300);
		ASSERT_INT_EQ(st.tx_bytes, 400);
		ASSERT_INT_EQ(db_peers_list(db, &f, &peers, &n), 0);
		ASSERT_INT_EQ(n, 2);
		ASSERT_INT_EQ(peers[0].last_handshake, 1764050000);
		ASSERT_INT_EQ(peers[0].rx_bytes, 300);
		ASSERT_INT_EQ(peers[1].last_handshake, 0);
		free(peers);
		ASSERT_INT_EQ(set_health(db, "srv-1", 0, 0, NULL), 0);
	}
	TEST_DONE();

	TEST_START("servers are counted as up, down and never checked");
	ASSERT_INT_EQ(set_health(db, "srv-2", 1, 0, NULL), 0);
	ASSERT_INT_EQ(db_servers_count(db, &up, &down, &unknown), 0);
	ASSERT_INT_EQ(up, 1);
	ASSERT_INT_EQ(down, 1);
	ASSERT_INT_EQ(unknown, 1);
	TEST_DONE();

	TEST_START("bad health input and unknown servers are refused without a change");
	ASSERT_INT_EQ(set_health(db, "srv-2", 0, 0, "bad key"), PV_EINVAL);
	ASSERT_INT_EQ(set_health(db, "srv-2", 2, 0, NULL), PV_EINVAL);
	ASSERT_INT_EQ(set_health(db, "srv-2", 1, -1, NULL), PV_EINVAL);
	ASSERT_INT_EQ(set_health(db, "srv-9", 1, 0, NULL), PV_ENOTFOUND);
	ASSERT_INT_EQ(db_server_status(db, "srv-9", &st), PV_ENOTFOUND);
	ASSERT_INT_EQ(db_server_status(db, "srv-2", &st), 0);
	ASSERT_INT_EQ(st.up, 1);
	db_close(db);
	TEST_DONE();
}

int main(void)
{
	fixture_setup();
	test_sync_and_retire();
	test_health();
	TEST_SUMMARY();
}
