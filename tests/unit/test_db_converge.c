/* SPDX-License-Identifier: MIT */
/*
 * What the reconcile needs from db/: PSKs sealed per row (and opening only
 * on that row with that key), a refused address turned into a reservation
 * while the peer moves on, and foreign reservations that follow the server.
 */
#include <openssl/crypto.h>

#include "test_db_fixture.h"

static const uint8_t state_key[PV_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

static struct db_peer reserve_psk(struct db *db, const char *server, unsigned n,
                                  const uint8_t psk[PV_KEY_LEN])
{
	struct db_peer p;
	int r = db_peer_reserve(db, "alice", "laptop", server, fixture_key(n), psk, &p);

	if (r != 0)
		TEST_FAIL("reserve: %s: %s", pv_strerror(r), db_errmsg(db));
	return p;
}

static void test_sealed_psk(void)
{
	struct db *db = fixture_open("seal.db", 2);
	uint8_t psk[PV_KEY_LEN], back[PV_KEY_LEN], other_key[PV_KEY_LEN] = {9};
	struct db_peer p, q;

	TEST_START("a PSK is kept sealed: it opens with the state key, and never lies in the file");
	memset(psk, 0xa5, sizeof(psk));
	ASSERT_INT_EQ(db_peer_reserve(db, "alice", "laptop", "srv-1", fixture_key(1), psk, &p),
	              PV_EINVAL); /* no state key yet: refused, nothing written */
	db_set_seal_key(db, state_key);
	p = reserve_psk(db, "srv-1", 1, psk);
	ASSERT_TRUE(p.has_psk);
	ASSERT_INT_EQ(db_peer_psk(db, &p, back), 0);
	ASSERT_TRUE(memcmp(back, psk, sizeof(psk)) == 0);
	ASSERT_INT_EQ(fixture_query_int("seal.db", "SELECT length(psk_sealed) FROM peers"),
	              PV_SEALED_LEN);
	ASSERT_INT_EQ(fixture_query_int(
	                      "seal.db",
	                      fixture_pg() ? "SELECT position('\\xa5a5a5a5'::bytea IN "
	                                     "psk_sealed) FROM peers"
	                                   : "SELECT instr(psk_sealed, x'a5a5a5a5') FROM peers"),
	              0);
	TEST_DONE();

	TEST_START("a sealed PSK moved to another row, or opened with another key, does not open");
	q = reserve_psk(db, "srv-2", 2, psk);
	ASSERT_INT_EQ(db_peer_find_key(db, "srv-2", fixture_key(2), &q), 0);
	fixture_query_int("seal.db",
	                  "UPDATE peers SET psk_sealed = (SELECT psk_sealed FROM peers"
	                  " WHERE server_id = 'srv-1') WHERE server_id = 'srv-2' RETURNING 1");
	ASSERT_INT_EQ(db_peer_psk(db, &q, back), PV_ECRYPTO);
	db_set_seal_key(db, other_key);
	ASSERT_INT_EQ(db_peer_psk(db, &p, back), PV_ECRYPTO);
	TEST_DONE();

	TEST_START("a row from before sealed PSKs says so (PV_ENOTFOUND), not a wrong PSK");
	db_set_seal_key(db, state_key);
	p = fixture_reserve(db, "srv-1", 3);
	ASSERT_TRUE(!p.has_psk);
	ASSERT_INT_EQ(db_peer_psk(db, &p, back), PV_ENOTFOUND);
	TEST_DONE();

	TEST_START("such a row adopts the PSK read back from its server, once");
	ASSERT_INT_EQ(db_peer_adopt_psk(db, &p, psk), 0);
	ASSERT_INT_EQ(db_peer_psk(db, &p, back), 0);
	ASSERT_TRUE(memcmp(back, psk, sizeof(psk)) == 0);
	ASSERT_INT_EQ(db_peer_adopt_psk(db, &p, other_key), PV_EEXIST);
	ASSERT_INT_EQ(db_peer_psk(db, &p, back), 0);
	ASSERT_TRUE(memcmp(back, psk, sizeof(psk)) == 0);
	db_close(db);
	TEST_DONE();
}

static void test_relocate(void)
{
	struct db *db = fixture_open("move.db", 1);
	struct db_peer p;

	TEST_START("a refused address becomes a reservation and the peer moves to the next free");
	(void)fixture_reserve(db, "srv-1", 1); /* host 2 */
	p = fixture_reserve(db, "srv-1", 2);   /* host 3 */
	ASSERT_INT_EQ(p.host, 3);
	ASSERT_INT_EQ(db_peer_relocate(db, &p), 0);
	ASSERT_INT_EQ(p.host, 4);
	ASSERT_INT_EQ(fixture_query_int("move.db", "SELECT count(*) FROM lease WHERE ip = 3 AND"
	                                           " peer_id IS NULL AND foreign_key = ''"),
	              1);
	ASSERT_INT_EQ(fixture_query_int("move.db", "SELECT host FROM peers WHERE name = 'pv2'"), 4);
	ASSERT_INT_EQ(fixture_query_int("move.db", "SELECT ip FROM lease WHERE peer_id = 2"), 4);
	TEST_DONE();

	TEST_START("the next reservation skips the reserved address");
	p = fixture_reserve(db, "srv-1", 3);
	ASSERT_INT_EQ(p.host, 5);
	db_close(db);
	TEST_DONE();
}

static void test_foreign_sync(void)
{
	struct db *db = fixture_open("foreign.db", 1);
	struct db_foreign f[3] = {{2, ""}, {10, ""}, {99, ""}};
	struct db_foreign_change c;
	struct db_peer p;

	TEST_START("foreign addresses 2, 10, 99 are reserved and the allocator steps around them");
	memcpy(f[1].pubkey, fixture_key(50), sizeof(f[1].pubkey));
	ASSERT_INT_EQ(db_foreign_sync(db, "srv-1", f, 3, &c), 0);
	ASSERT_INT_EQ(c.reserved, 3);
	ASSERT_INT_EQ(c.released, 0);
	ASSERT_TRUE(DB_HOST_IN(c.reserved_hosts, 2) && DB_HOST_IN(c.reserved_hosts, 10) &&
	            DB_HOST_IN(c.reserved_hosts, 99) && !DB_HOST_IN(c.reserved_hosts, 3));
	p = fixture_reserve(db, "srv-1", 1);
	ASSERT_INT_EQ(p.host, 3);
	TEST_DONE();

	TEST_START("the same set again changes nothing; a gone one is released, a leased one kept");
	ASSERT_INT_EQ(db_foreign_sync(db, "srv-1", f, 3, &c), 0);
	ASSERT_INT_EQ(c.reserved + c.released, 0);
	f[1].host = 3; /* our peer's address: stays ours */
	ASSERT_INT_EQ(db_foreign_sync(db, "srv-1", f, 3, &c), 0);
	ASSERT_INT_EQ(c.reserved, 0);
	ASSERT_INT_EQ(c.released, 1);
	ASSERT_TRUE(DB_HOST_IN(c.released_hosts, 10));
	ASSERT_INT_EQ(fixture_query_int("foreign.db", "SELECT count(*) FROM lease WHERE ip = 3 AND"
	                                              " peer_id IS NOT NULL"),
	              1);
	ASSERT_INT_EQ(db_foreign_sync(db, "srv-1", NULL, 0, &c), 0);
	ASSERT_INT_EQ(c.released, 2);
	ASSERT_INT_EQ(fixture_query_int("foreign.db", "SELECT count(*) FROM lease"), 1);
	db_close(db);
	TEST_DONE();
}

int main(void)
{
	fixture_setup();
	test_sealed_psk();
	test_relocate();
	test_foreign_sync();
	TEST_SUMMARY();
}
