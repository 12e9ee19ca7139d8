/* SPDX-License-Identifier: MIT */
/* db/ opening: migrations run once, the file is in WAL mode, unusable files are refused
 * clearly, and a file of before migration 5 keeps its rows through it. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_db_fixture.h"

static void test_migrations_apply_once(void)
{
	struct db *db = NULL;
	long long count, version, applied;

	TEST_START("a new file gets every migration once, and re-opening it applies nothing");
	ASSERT_INT_EQ(db_open(&db, fixture_path("schema.db")), 0);
	db_close(db);
	count = fixture_query_int("schema.db", "SELECT count(*) FROM schema_version");
	version = fixture_query_int("schema.db", "SELECT max(version) FROM schema_version");
	applied = fixture_query_int("schema.db", "SELECT sum(applied_at) FROM schema_version");
	ASSERT_TRUE(count >= 1);
	ASSERT_INT_EQ(count, version); /* numbered 1..N without gaps */
	/* Every table of the schema exists. */
	ASSERT_INT_EQ(fixture_query_int("schema.db",
	                                "SELECT count(*) FROM sqlite_master WHERE "
	                                "name IN ('users','servers','peers','lease','audit')"),
	              5);
	ASSERT_INT_EQ(db_open(&db, fixture_path("schema.db")), 0);
	db_close(db);
	ASSERT_INT_EQ(db_open(&db, fixture_path("schema.db")), 0);
	db_close(db);
	ASSERT_INT_EQ(fixture_query_int("schema.db", "SELECT count(*) FROM schema_version"), count);
	ASSERT_INT_EQ(fixture_query_int("schema.db", "SELECT sum(applied_at) FROM schema_version"),
	              applied);
	TEST_DONE();
}

static void test_journal_mode_is_wal(void)
{
	struct db *db = NULL;

	TEST_START("the file is in WAL mode after db_open, as seen by another connection");
	ASSERT_INT_EQ(db_open(&db, fixture_path("wal.db")), 0);
	ASSERT_INT_EQ(fixture_query_int("wal.db", "SELECT journal_mode = 'wal' FROM "
	                                          "pragma_journal_mode"),
	              1);
	ASSERT_TRUE(access(fixture_path("wal.db-wal"), F_OK) == 0);
	db_close(db);
	TEST_DONE();
}

static void test_newer_schema_refused(void)
{
	struct db *db = NULL;

	TEST_START("a file from a newer build (higher schema version) is refused, not touched");
	ASSERT_INT_EQ(db_open(&db, fixture_path("newer.db")), 0);
	db_close(db);
	fixture_query_int("newer.db", "INSERT INTO schema_version VALUES (999, 0) RETURNING 1");
	ASSERT_INT_EQ(db_open(&db, fixture_path("newer.db")), PV_EDB);
	ASSERT_STR_CONTAINS(db_errmsg(db), "newer");
	ASSERT_STR_CONTAINS(db_errmsg(db), "999");
	db_close(db);
	ASSERT_INT_EQ(fixture_query_int("newer.db", "SELECT max(version) FROM schema_version"),
	              999);
	TEST_DONE();
}

static int mode_of(const char *name)
{
	struct stat st;

	return stat(fixture_path(name), &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

static void test_files_are_private(void)
{
	struct db *db = NULL;
	mode_t old = umask(022);
	char path[512];
	int fd;

	TEST_START("the state file and its -wal/-shm are 0600 even under umask 022");
	ASSERT_INT_EQ(db_open(&db, fixture_path("private.db")), 0);
	ASSERT_INT_EQ(db_user_upsert(db, "u1", PV_TIER_PRO, 1), 0);
	ASSERT_INT_EQ(mode_of("private.db"), 0600);
	ASSERT_INT_EQ(mode_of("private.db-wal"), 0600);
	ASSERT_INT_EQ(mode_of("private.db-shm"), 0600);
	db_close(db);
	TEST_DONE();

	TEST_START("a state file left 0644 by an older version is tightened at open");
	snprintf(path, sizeof(path), "%s", fixture_path("loose.db"));
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	ASSERT_TRUE(fd >= 0);
	close(fd);
	ASSERT_INT_EQ(mode_of("loose.db"), 0644);
	ASSERT_INT_EQ(db_open(&db, path), 0);
	ASSERT_INT_EQ(mode_of("loose.db"), 0600);
	db_close(db);
	umask(old);
	TEST_DONE();
}

static void test_unusable_paths(void)
{
	struct db *db = NULL;

	TEST_START("an in-memory database is refused because it cannot be in WAL mode");
	ASSERT_INT_EQ(db_open(&db, ":memory:"), PV_EDB);
	ASSERT_STR_CONTAINS(db_errmsg(db), "wal");
	db_close(db);
	TEST_DONE();

	TEST_START("a path in a missing directory fails naming the path and SQLite's reason");
	ASSERT_INT_EQ(db_open(&db, "/nonexistent-pv-dir/state.db"), PV_EDB);
	ASSERT_STR_CONTAINS(db_errmsg(db), "/nonexistent-pv-dir/state.db");
	ASSERT_STR_CONTAINS(db_errmsg(db), "unable to open");
	db_close(db);
	TEST_DONE();

	TEST_START("an empty path is PV_EINVAL and yields no handle");
	ASSERT_INT_EQ(db_open(&db, ""), PV_EINVAL);
	ASSERT_TRUE(db == NULL);
	ASSERT_INT_EQ(db_open_flags(&db, fixture_path("x.db"), 1U << 7), PV_EINVAL);
	ASSERT_TRUE(db == NULL);
	TEST_DONE();
}

static void test_describe(void)
{
	char out[256];

	TEST_START("a PostgreSQL URL is described without its password or options; a path as is");
	ASSERT_INT_EQ(db_describe("postgresql://pv:s3cret@db.example:5433/state?sslmode=require",
	                          out, sizeof(out)),
	              0);
	ASSERT_STR_EQ(out, "postgresql://pv@db.example:5433/state");
	ASSERT_INT_EQ(db_describe("postgres:///pv?host=/run/pg&password=s3cret", out, sizeof(out)),
	              0);
	ASSERT_TRUE(strstr(out, "s3cret") == NULL);
	ASSERT_INT_EQ(db_describe("postgresql://pv:s3cret@[::1", out, sizeof(out)), PV_EINVAL);
	ASSERT_TRUE(strstr(out, "s3cret") == NULL);
	ASSERT_INT_EQ(db_describe("/var/lib/pv/state.db", out, sizeof(out)), 0);
	ASSERT_STR_EQ(out, "/var/lib/pv/state.db");
	TEST_DONE();
}

/* A file at schema 4, made by the db library of before migration 5 (fixtures/state-v4.sql).
 */
static void load_v4_fixture(const char *name)
{
	const char *src = getenv("PV_SRC");
	char path[4096], *sql = NULL;
	sqlite3 *raw = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/tests/unit/fixtures/state-v4.sql", src ? src : ".");
	if (pv_file_read(&sql, &len, path, 1u << 20, 0) < 0)
		TEST_FAIL("cannot read %s (PV_SRC set?)", path);
	if (sqlite3_open(fixture_path(name), &raw) != SQLITE_OK ||
	    sqlite3_exec(raw, sql, NULL, NULL, NULL) != SQLITE_OK)
		TEST_FAIL("loading %s: %s", path, sqlite3_errmsg(raw));
	sqlite3_close(raw);
	free(sql);
}

static void test_migration_5_keeps_rows(void)
{
	uint8_t key[PV_KEY_LEN], psk[PV_KEY_LEN], want[PV_KEY_LEN];
	struct db *db = NULL;
	struct db_peer p;

	TEST_START("migration 5 keeps a schema-4 file's peers, leases, sealed PSKs and id counter");
	load_v4_fixture("v4.db");
	ASSERT_INT_EQ(db_open(&db, fixture_path("v4.db")), 0);
	memset(key, 7, sizeof(key));
	db_set_seal_key(db, key);
	ASSERT_INT_EQ(fixture_query_int("v4.db", "SELECT count(*) FROM schema_version WHERE"
	                                         " version = 5"),
	              1);
	ASSERT_INT_EQ(db_peer_get(db, 1, &p), 0);
	ASSERT_STR_EQ(p.name, "pv1");
	ASSERT_INT_EQ(p.host, 2);
	ASSERT_INT_EQ(p.state, DB_PEER_ACTIVE);
	ASSERT_INT_EQ(db_peer_psk(db, &p, psk), 0);
	memset(want, 9, sizeof(want));
	ASSERT_TRUE(memcmp(psk, want, sizeof(psk)) == 0);
	ASSERT_INT_EQ(db_peer_get(db, 3, &p), 0);
	ASSERT_INT_EQ(p.host, 4);
	ASSERT_INT_EQ(db_peer_get(db, 2, &p), PV_ENOTFOUND);
	ASSERT_INT_EQ(fixture_query_int("v4.db",
	                                "SELECT count(*) FROM lease WHERE"
	                                " (ip = 2 AND peer_id = 1) OR (ip = 4 AND peer_id = 3)"
	                                " OR (ip = 200 AND peer_id IS NULL)"),
	              3);
	ASSERT_INT_EQ(fixture_query_int("v4.db", "SELECT count(*) FROM lease"), 3);
	ASSERT_INT_EQ(
	        fixture_query_int("v4.db", "SELECT count(*) FROM servers WHERE interfaces = 1"),
	        15);
	TEST_DONE();

	TEST_START(
	        "after migration 5: lowest free host, ids never reused, leases cascade as before");
	p = fixture_reserve(db, "us-east-1", 77);
	ASSERT_INT_EQ(p.host, 3);
	ASSERT_INT_EQ(p.id, 5);
	ASSERT_INT_EQ(db_peer_delete(db, 1), 0);
	ASSERT_INT_EQ(fixture_query_int("v4.db", "SELECT count(*) FROM lease WHERE ip = 2"), 0);
	ASSERT_INT_EQ(fixture_query_int("v4.db",
	                                "SELECT count(*) FROM pragma_foreign_key_list('lease')"
	                                " WHERE \"table\" = 'peers'"),
	              1);
	ASSERT_INT_EQ(fixture_query_int("v4.db", "SELECT count(*) FROM sqlite_master WHERE"
	                                         " name IN ('peers_v5', 'lease_v5')"),
	              0);
	ASSERT_INT_EQ(fixture_query_int("v4.db", "SELECT count(*) FROM sqlite_master WHERE"
	                                         " name = 'peers_by_user'"),
	              1);
	db_close(db);
	TEST_DONE();
}

int main(void)
{
	fixture_setup();
	test_migrations_apply_once();
	test_journal_mode_is_wal();
	test_newer_schema_refused();
	test_files_are_private();
	test_unusable_paths();
	test_describe();
	test_migration_5_keeps_rows();
	TEST_SUMMARY();
}
