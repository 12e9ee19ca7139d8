/* SPDX-License-Identifier: MIT */
/* Leases: lowest free host number first, gaps refilled, 253 per server interface (wg0 first),
 * per-server, released with the peer. */
#include "test_db_fixture.h"

#define CAPACITY (PV_HOST_MAX - PV_HOST_MIN + 1)

static void test_lowest_first(void)
{
	struct db *db = fixture_open("lowest.db", 1);
	unsigned i;

	TEST_START(
	        "the first three peers on a server get host numbers 2, 3 and 4, as PENDING rows");
	for (i = 0; i < 3; i++) {
		struct db_peer p = fixture_reserve(db, "srv-1", i);

		ASSERT_INT_EQ(p.host, PV_HOST_MIN + i);
		ASSERT_INT_EQ(p.state, DB_PEER_PENDING);
		ASSERT_STR_EQ(p.server_id, "srv-1");
	}
	db_close(db);
	ASSERT_INT_EQ(fixture_query_int("lowest.db", "SELECT count(*) = 3 AND min(ip) = 2 AND "
	                                             "max(ip) = 4 FROM lease"),
	              1);
	TEST_DONE();
}

static void test_gap_filled_first(void)
{
	struct db *db = fixture_open("gap.db", 1);
	struct db_peer p[5], again;
	unsigned i;

	TEST_START(
	        "a released lease is reused before any higher one: the lowest gap is filled first");
	for (i = 0; i < 5; i++)
		p[i] = fixture_reserve(db, "srv-1", i);
	ASSERT_INT_EQ(db_peer_delete(db, p[3].id), 0); /* host 5 */
	ASSERT_INT_EQ(db_peer_delete(db, p[1].id), 0); /* host 3 */
	again = fixture_reserve(db, "srv-1", 10);
	ASSERT_INT_EQ(again.host, 3);
	again = fixture_reserve(db, "srv-1", 11);
	ASSERT_INT_EQ(again.host, 5);
	again = fixture_reserve(db, "srv-1", 12);
	ASSERT_INT_EQ(again.host, 7);
	ASSERT_INT_EQ(db_peer_delete(db, p[0].id), 0); /* host 2, the bottom end */
	again = fixture_reserve(db, "srv-1", 13);
	ASSERT_INT_EQ(again.host, 2);
	db_close(db);
	TEST_DONE();
}

static void test_server_fills(void)
{
	struct db *db = fixture_open("full.db", 1);
	struct db_peer p;
	unsigned i;

	TEST_START("253 leases fill a server with 2..254 and the 254th reservation is PV_EFULL");
	for (i = 0; i < CAPACITY; i++) {
		p = fixture_reserve(db, "srv-1", i);
		ASSERT_INT_EQ(p.host, PV_HOST_MIN + i);
	}
	ASSERT_INT_EQ(db_peer_reserve(db, "alice", "laptop", "srv-1", fixture_key(999), NULL, &p),
	              PV_EFULL);
	ASSERT_STR_CONTAINS(db_errmsg(db), "srv-1 is full");
	db_close(db);
	TEST_DONE();

	TEST_START("the refused 254th reservation wrote neither a peer nor a lease");
	ASSERT_INT_EQ(fixture_query_int("full.db", "SELECT count(*) FROM peers"), CAPACITY);
	ASSERT_INT_EQ(fixture_query_int("full.db", "SELECT count(*) FROM lease"), CAPACITY);
	ASSERT_INT_EQ(fixture_query_int("full.db", "SELECT count(DISTINCT ip) FROM lease"),
	              CAPACITY);
	ASSERT_INT_EQ(fixture_query_int("full.db", "SELECT min(ip) * 1000 + max(ip) FROM lease"),
	              PV_HOST_MIN * 1000 + PV_HOST_MAX);
	TEST_DONE();
}

static void test_per_server(void)
{
	struct db *db = fixture_open("per-server.db", 3);
	struct db_peer a, b, c;

	TEST_START(
	        "leases are per server: each server hands out host 2 first, even to the same key");
	a = fixture_reserve(db, "srv-1", 1);
	b = fixture_reserve(db, "srv-2", 1);
	c = fixture_reserve(db, "srv-3", 2);
	ASSERT_INT_EQ(a.host, 2);
	ASSERT_INT_EQ(b.host, 2);
	ASSERT_INT_EQ(c.host, 2);
	ASSERT_INT_EQ(fixture_reserve(db, "srv-2", 3).host, 3);
	db_close(db);
	TEST_DONE();
}

static void test_delete_releases(void)
{
	struct db *db = fixture_open("release.db", 1);
	struct db_peer p = fixture_reserve(db, "srv-1", 1);

	TEST_START("deleting a peer releases its lease in the same statement (cascade)");
	ASSERT_INT_EQ(fixture_query_int("release.db", "SELECT count(*) FROM lease"), 1);
	ASSERT_INT_EQ(db_peer_delete(db, p.id), 0);
	ASSERT_INT_EQ(fixture_query_int("release.db", "SELECT count(*) FROM lease"), 0);
	ASSERT_INT_EQ(db_peer_delete(db, p.id), PV_ENOTFOUND);
	db_close(db);
	TEST_DONE();
}

/* The same on PostgreSQL: a raw session's second lease for p's address is a unique_violation. */
static void constraint_pg(const struct db_peer *p)
{
	PGconn *c = fixture_pg_connect(fixture_pg_dbname("constraint.db"));
	PGresult *res;
	char sql[200];

	/* Only the test builds SQL text, with ids it made itself. */
	snprintf(sql, sizeof(sql),
	         "INSERT INTO peers (user_id, device, server_id, pubkey, host, state, created_at, "
	         "updated_at) VALUES ('alice', 'x', 'srv-1', 'k', %u, 0, 0, 0) RETURNING id",
	         p->host);
	res = PQexec(c, sql);
	ASSERT_INT_EQ(PQresultStatus(res), PGRES_TUPLES_OK);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO lease (server_id, ip, peer_id) VALUES ('srv-1', %u, %s)", p->host,
	         PQgetvalue(res, 0, 0));
	PQclear(res);
	res = PQexec(c, sql);
	ASSERT_INT_EQ(PQresultStatus(res), PGRES_FATAL_ERROR);
	ASSERT_STR_EQ(PQresultErrorField(res, PG_DIAG_SQLSTATE), "23505");
	PQclear(res);
	PQfinish(c);
}

/* Open `name` with one server, srv-1, of three interfaces. */
static struct db *open_three(const char *name)
{
	struct db *db = fixture_open(name, 1);
	struct pv_fleet *f = fixture_fleet(1);
	struct pv_server *s = &f->servers[0];
	size_t k;

	s->n_ifaces = 3;
	for (k = 0; k < 3; k++) {
		snprintf(s->ifaces[k].name, sizeof(s->ifaces[k].name), "wg%zu", k);
		s->ifaces[k].port = (uint16_t)(51820 + k);
	}
	if (db_servers_sync(db, f) != 0)
		TEST_FAIL("sync: %s", db_errmsg(db));
	pv_fleet_free(f);
	return db;
}

static void test_interfaces_fill_in_order(void)
{
	struct db *db = open_three("three.db");
	struct db_server_status st;
	struct db_peer p, first_wg1 = {0};
	unsigned i, k;

	TEST_START(
	        "3 interfaces: leases fill wg0 (2..254), then wg1 (258..510), then wg2 (514..766)");
	for (i = 0; i < 3 * CAPACITY; i++) {
		p = fixture_reserve(db, "srv-1", i);
		k = i / CAPACITY;
		ASSERT_INT_EQ(p.host, k * 256 + PV_HOST_MIN + i % CAPACITY);
		if (i == CAPACITY)
			first_wg1 = p;
	}
	ASSERT_INT_EQ(db_server_status(db, "srv-1", &st), 0);
	ASSERT_INT_EQ(st.capacity, 759);
	ASSERT_INT_EQ(st.peers, 759);
	ASSERT_INT_EQ(db_peer_reserve(db, "alice", "laptop", "srv-1", fixture_key(9999), NULL, &p),
	              PV_EFULL);
	ASSERT_STR_CONTAINS(db_errmsg(db), "3 interface(s)");
	TEST_DONE();

	TEST_START("a lease freed on wg1 is the next one handed out, before nothing else is free");
	ASSERT_INT_EQ(db_peer_delete(db, first_wg1.id), 0);
	ASSERT_INT_EQ(fixture_reserve(db, "srv-1", 10000).host, 258);
	db_close(db);
	ASSERT_INT_EQ(fixture_query_int("three.db", "SELECT count(DISTINCT ip) FROM lease"), 759);
	ASSERT_INT_EQ(fixture_query_int("three.db", "SELECT count(*) FROM lease WHERE ip % 256 < 2"
	                                            " OR ip % 256 > 254"),
	              0);
	TEST_DONE();
}

static void test_leases_by_interface(void)
{
	struct db *db = open_three("byiface.db");
	struct db_iface_leases *l = NULL;
	size_t n = 0;
	unsigned i;

	TEST_START("leases by interface: wg0 full, wg1 with 5, wg2 without a row");
	for (i = 0; i < CAPACITY + 5; i++)
		fixture_reserve(db, "srv-1", i);
	ASSERT_INT_EQ(db_iface_leases(db, NULL, &l, &n), 0);
	ASSERT_INT_EQ(n, 2);
	ASSERT_STR_EQ(l[0].server_id, "srv-1");
	ASSERT_INT_EQ(l[0].iface, 0);
	ASSERT_INT_EQ(l[0].used, CAPACITY);
	ASSERT_INT_EQ(l[1].iface, 1);
	ASSERT_INT_EQ(l[1].used, 5);
	free(l);
	TEST_DONE();

	TEST_START("leases by interface of one server; none for an unknown one");
	ASSERT_INT_EQ(db_iface_leases(db, "srv-1", &l, &n), 0);
	ASSERT_INT_EQ(n, 2);
	free(l);
	ASSERT_INT_EQ(db_iface_leases(db, "srv-9", &l, &n), 0);
	ASSERT_INT_EQ(n, 0);
	free(l);
	db_close(db);
	TEST_DONE();
}

static void test_lease_check_refuses_other_numbers(void)
{
	struct db *db = fixture_open("check.db", 1);
	static const unsigned bad[] = {1, 255, 256, 257, 4096 + 2};
	struct db_peer p = fixture_reserve(db, "srv-1", 1);
	char sql[160];
	size_t i;

	TEST_START("the schema refuses a lease number that is not host 2..254 of interface 0..15");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* Only the test builds SQL text, with numbers it chose. */
		snprintf(sql, sizeof(sql), "UPDATE peers SET host = %u WHERE id = %lld", bad[i],
		         (long long)p.id);
		ASSERT_INT_EQ(fixture_exec_refused("check.db", sql), 1);
		snprintf(sql, sizeof(sql), "UPDATE lease SET ip = %u WHERE peer_id = %lld", bad[i],
		         (long long)p.id);
		ASSERT_INT_EQ(fixture_exec_refused("check.db", sql), 1);
	}
	snprintf(sql, sizeof(sql), "UPDATE peers SET host = %u WHERE id = %lld", 15u * 256 + 254,
	         (long long)p.id);
	ASSERT_INT_EQ(fixture_exec_refused("check.db", sql), 0);
	db_close(db);
	TEST_DONE();
}

static void test_constraint_itself(void)
{
	struct db *db = fixture_open("constraint.db", 1);
	struct db_peer p = fixture_reserve(db, "srv-1", 1), q = fixture_reserve(db, "srv-1", 2);
	sqlite3 *raw = NULL;
	char sql[160];
	int rc;

	TEST_START("the lease table itself refuses a second row for the same (server, address)");
	ASSERT_INT_EQ(db_peer_delete(db, q.id), 0);
	if (fixture_pg()) {
		constraint_pg(&p);
		db_close(db);
		TEST_DONE();
		return;
	}
	ASSERT_INT_EQ(sqlite3_open(fixture_path("constraint.db"), &raw), SQLITE_OK);
	ASSERT_INT_EQ(sqlite3_exec(raw, "PRAGMA foreign_keys=ON", NULL, NULL, NULL), SQLITE_OK);
	/* Only the test builds SQL text, with ids it made itself. */
	snprintf(sql, sizeof(sql),
	         "INSERT INTO peers (user_id, device, server_id, pubkey, host, state, created_at, "
	         "updated_at) VALUES ('alice', 'x', 'srv-1', 'k', %u, 0, 0, 0)",
	         p.host);
	ASSERT_INT_EQ(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO lease (server_id, ip, peer_id) VALUES ('srv-1', %u, %lld)", p.host,
	         (long long)sqlite3_last_insert_rowid(raw));
	rc = sqlite3_exec(raw, sql, NULL, NULL, NULL);
	ASSERT_INT_EQ(rc, SQLITE_CONSTRAINT);
	ASSERT_INT_EQ(sqlite3_extended_errcode(raw), SQLITE_CONSTRAINT_PRIMARYKEY);
	sqlite3_close(raw);
	db_close(db);
	TEST_DONE();
}

int main(void)
{
	fixture_setup();
	test_lowest_first();
	test_gap_filled_first();
	test_server_fills();
	test_per_server();
	test_delete_releases();
	test_constraint_itself();
	test_interfaces_fill_in_order();
	test_leases_by_interface();
	test_lease_check_refuses_other_numbers();
	TEST_SUMMARY();
}
