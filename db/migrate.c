/* SPDX-License-Identifier: MIT */
/*
 * Numbered schema migrations, recorded in schema_version and applied at open,
 * each in its own write transaction, so two processes opening a new database
 * at once apply each step exactly once (SQLite: BEGIN IMMEDIATE; PostgreSQL:
 * a session advisory lock held around the whole run, since its DDL does not
 * wait on another session's CREATE TABLE IF NOT EXISTS).  Append new steps;
 * never edit one that has shipped.
 *
 * One list per backend, on one numbering: SQLite's 1-4 grew the schema step
 * by step; PostgreSQL starts at a baseline 4 that creates the same schema
 * as SQLite has after 4.  The next migration N is added to BOTH lists with
 * the same number, each in its own dialect (docs/ha.md says how).
 */
#include <stdio.h>

#include "db_int.h"

/* A server's fleet-entry columns: the same text in both backends' schemas. */
#define SERVER_ENTRY_COLUMNS                                                                       \
	" location TEXT NOT NULL,"                                                                 \
	" region TEXT NOT NULL,"                                                                   \
	" tier INTEGER NOT NULL CHECK (tier IN (1, 2)),"                                           \
	" wg_host TEXT NOT NULL,"                                                                  \
	" wg_port INTEGER NOT NULL CHECK (wg_port BETWEEN 1 AND 65535),"                           \
	" ssh_host TEXT NOT NULL,"                                                                 \
	" ssh_port INTEGER NOT NULL CHECK (ssh_port BETWEEN 1 AND 65535),"                         \
	" ssh_user TEXT NOT NULL,"

struct migration {
	int version;
	const char *sql; /* constant DDL, no data: run as one script */
};

static const struct migration sqlite_migrations[] = {
        {1, "CREATE TABLE users ("
            " id TEXT PRIMARY KEY NOT NULL,"
            " tier INTEGER NOT NULL CHECK (tier IN (1, 2)),"
            " active INTEGER NOT NULL CHECK (active IN (0, 1)),"
            " created_at INTEGER NOT NULL,"
            " updated_at INTEGER NOT NULL);"
            "CREATE TABLE servers ("
            " id TEXT PRIMARY KEY NOT NULL," SERVER_ENTRY_COLUMNS
            " wg_pubkey TEXT,"   /* NULL until the health pass learns it */
            " ssh_hostkey TEXT," /* NULL until registered */
            " up INTEGER NOT NULL DEFAULT -1 CHECK (up IN (-1, 0, 1)),"
            " live_peers INTEGER NOT NULL DEFAULT 0,"
            " checked_at INTEGER NOT NULL DEFAULT 0,"
            " retired INTEGER NOT NULL DEFAULT 0 CHECK (retired IN (0, 1)));"
            /* AUTOINCREMENT: ids, hence peer names, are never reused, so a stale
             * block left on a server can never be mistaken for a new peer. */
            "CREATE TABLE peers ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " user_id TEXT NOT NULL REFERENCES users(id),"
            " device TEXT NOT NULL,"
            " server_id TEXT NOT NULL REFERENCES servers(id),"
            " name TEXT," /* "pv" + id, set in the inserting transaction */
            " pubkey TEXT NOT NULL,"
            " host INTEGER NOT NULL CHECK (host BETWEEN 2 AND 254),"
            " state INTEGER NOT NULL CHECK (state IN (0, 1, 2)),"
            " created_at INTEGER NOT NULL,"
            " updated_at INTEGER NOT NULL,"
            " UNIQUE (server_id, name),"
            " UNIQUE (server_id, pubkey));"
            "CREATE INDEX peers_by_user ON peers (user_id, device);"
            /* One row per handed-out address: the primary key is the "UNIQUE per
             * (server, address)" rule, the cascade releases it with its peer. */
            "CREATE TABLE lease ("
            " server_id TEXT NOT NULL REFERENCES servers(id),"
            " ip INTEGER NOT NULL CHECK (ip BETWEEN 2 AND 254),"
            " peer_id INTEGER NOT NULL UNIQUE REFERENCES peers(id) ON DELETE CASCADE,"
            " PRIMARY KEY (server_id, ip)) WITHOUT ROWID;"
            "CREATE TABLE audit ("
            " id INTEGER PRIMARY KEY,"
            " at INTEGER NOT NULL,"
            " actor TEXT NOT NULL,"
            " action TEXT NOT NULL,"
            " subject TEXT,"
            " detail TEXT);"},
        /* Convergence: sealed PSKs (NULL for rows from before, which the
         * reconcile cannot restore), per-peer and per-server health, and
         * leases that reserve a foreign peer's address (peer_id NULL).  The
         * lease table is rebuilt: SQLite cannot relax a NOT NULL in place,
         * and nothing references it. */
        {2,
         "ALTER TABLE peers ADD COLUMN psk_sealed BLOB;"
         "ALTER TABLE peers ADD COLUMN last_handshake INTEGER NOT NULL DEFAULT 0;"
         "ALTER TABLE peers ADD COLUMN rx_bytes INTEGER NOT NULL DEFAULT 0;"
         "ALTER TABLE peers ADD COLUMN tx_bytes INTEGER NOT NULL DEFAULT 0;"
         "ALTER TABLE servers ADD COLUMN active_peers INTEGER NOT NULL DEFAULT 0;"
         "ALTER TABLE servers ADD COLUMN rx_bytes INTEGER NOT NULL DEFAULT 0;"
         "ALTER TABLE servers ADD COLUMN tx_bytes INTEGER NOT NULL DEFAULT 0;"
         "ALTER TABLE servers ADD COLUMN state_since INTEGER NOT NULL DEFAULT 0;"
         "ALTER TABLE servers ADD COLUMN repairs INTEGER NOT NULL DEFAULT 0;"
         "ALTER TABLE servers ADD COLUMN reconciled_at INTEGER NOT NULL DEFAULT 0;"
         "CREATE TABLE lease_v2 ("
         " server_id TEXT NOT NULL REFERENCES servers(id),"
         " ip INTEGER NOT NULL CHECK (ip BETWEEN 2 AND 254),"
         " peer_id INTEGER UNIQUE REFERENCES peers(id) ON DELETE CASCADE,"
         " foreign_key TEXT," /* a foreign peer's public key, "" when it has none */
         " CHECK ((peer_id IS NULL) <> (foreign_key IS NULL)),"
         " PRIMARY KEY (server_id, ip)) WITHOUT ROWID;"
         "INSERT INTO lease_v2 (server_id, ip, peer_id) SELECT server_id, ip, peer_id FROM lease;"
         "DROP TABLE lease;"
         "ALTER TABLE lease_v2 RENAME TO lease;"},
        /* 3: ops tools.  A user's key generation: keys carry it, and every
         * revocation (rotate-key, disable, tier change) bumps it, so a revoked
         * key never comes back.  Existing users start at 0: the seed's keys. */
        {3, "ALTER TABLE users ADD COLUMN"
            " key_gen INTEGER NOT NULL DEFAULT 0 CHECK (key_gen BETWEEN 0 AND 2147483647);"},
        /* 4: the fleet in the DB and usage.  entry is the server's servers.json
         * entry as added or imported (NULL for rows synced before: the next
         * start imports servers.json once more); draining servers take no new
         * peers; usage holds each user's transfer per UTC day, fed by the
         * health pass from the peers' counter deltas. */
        {4, "ALTER TABLE servers ADD COLUMN entry TEXT;"
            "ALTER TABLE servers ADD COLUMN"
            " draining INTEGER NOT NULL DEFAULT 0 CHECK (draining IN (0, 1));"
            "CREATE TABLE usage ("
            " user_id TEXT NOT NULL,"
            " day TEXT NOT NULL," /* YYYY-MM-DD, UTC */
            " rx_bytes INTEGER NOT NULL DEFAULT 0,"
            " tx_bytes INTEGER NOT NULL DEFAULT 0,"
            " PRIMARY KEY (user_id, day)) WITHOUT ROWID;"},
        /* 5: several WireGuard interfaces per server (docs/fleet.md).  A lease
         * (peers.host, lease.ip) is interface * 256 + host number, so rows of
         * before (wg0: 2..254) keep their value; servers.interfaces says how
         * many the server has.  SQLite cannot change a CHECK in place: peers
         * and lease are rebuilt.  The new lease table references the new
         * peers table before the old ones go, so dropping the old peers
         * (an implicit DELETE under foreign keys) cascades into nothing; the
         * renames then rewrite that reference, and the AUTOINCREMENT counter
         * is carried over so ids are never reused. */
        {5, "ALTER TABLE servers ADD COLUMN"
            " interfaces INTEGER NOT NULL DEFAULT 1 CHECK (interfaces BETWEEN 1 AND 16);"
            "CREATE TABLE peers_v5 ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " user_id TEXT NOT NULL REFERENCES users(id),"
            " device TEXT NOT NULL,"
            " server_id TEXT NOT NULL REFERENCES servers(id),"
            " name TEXT,"
            " pubkey TEXT NOT NULL,"
            " host INTEGER NOT NULL CHECK (host % 256 BETWEEN 2 AND 254 AND host < 4096),"
            " state INTEGER NOT NULL CHECK (state IN (0, 1, 2)),"
            " created_at INTEGER NOT NULL,"
            " updated_at INTEGER NOT NULL,"
            " psk_sealed BLOB,"
            " last_handshake INTEGER NOT NULL DEFAULT 0,"
            " rx_bytes INTEGER NOT NULL DEFAULT 0,"
            " tx_bytes INTEGER NOT NULL DEFAULT 0,"
            " UNIQUE (server_id, name),"
            " UNIQUE (server_id, pubkey));"
            "INSERT INTO sqlite_sequence (name, seq)"
            " SELECT 'peers_v5', seq FROM sqlite_sequence WHERE name = 'peers';"
            "INSERT INTO peers_v5 (id, user_id, device, server_id, name, pubkey, host, state,"
            " created_at, updated_at, psk_sealed, last_handshake, rx_bytes, tx_bytes)"
            " SELECT id, user_id, device, server_id, name, pubkey, host, state, created_at,"
            " updated_at, psk_sealed, last_handshake, rx_bytes, tx_bytes FROM peers;"
            "CREATE TABLE lease_v5 ("
            " server_id TEXT NOT NULL REFERENCES servers(id),"
            " ip INTEGER NOT NULL CHECK (ip % 256 BETWEEN 2 AND 254 AND ip < 4096),"
            " peer_id INTEGER UNIQUE REFERENCES peers_v5(id) ON DELETE CASCADE,"
            " foreign_key TEXT,"
            " CHECK ((peer_id IS NULL) <> (foreign_key IS NULL)),"
            " PRIMARY KEY (server_id, ip)) WITHOUT ROWID;"
            "INSERT INTO lease_v5 SELECT server_id, ip, peer_id, foreign_key FROM lease;"
            "DROP TABLE lease;"
            "DROP TABLE peers;"
            "ALTER TABLE peers_v5 RENAME TO peers;"
            "ALTER TABLE lease_v5 RENAME TO lease;"
            "CREATE INDEX peers_by_user ON peers (user_id, device);"},
};

/*
 * PostgreSQL: the SQLite schema after migration 4, in one step.  SQLite's
 * INTEGER is 64-bit: counters and times are BIGINT here.  Ids compare as
 * bytes (COLLATE "C"), like SQLite, so keyset paging orders the same.
 * servers.rowid stands for SQLite's implicit rowid (the order servers
 * joined).  The range checks are named so a later step can replace them.
 */
static const struct migration pg_migrations[] = {
        {4, "CREATE TABLE users ("
            " id TEXT COLLATE \"C\" PRIMARY KEY NOT NULL,"
            " tier INTEGER NOT NULL CHECK (tier IN (1, 2)),"
            " active INTEGER NOT NULL CHECK (active IN (0, 1)),"
            " created_at BIGINT NOT NULL,"
            " updated_at BIGINT NOT NULL,"
            " key_gen BIGINT NOT NULL DEFAULT 0 CHECK (key_gen BETWEEN 0 AND 2147483647));"
            "CREATE TABLE servers ("
            " rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,"
            " id TEXT COLLATE \"C\" PRIMARY KEY NOT NULL," SERVER_ENTRY_COLUMNS " wg_pubkey TEXT,"
            " ssh_hostkey TEXT,"
            " up INTEGER NOT NULL DEFAULT -1 CHECK (up IN (-1, 0, 1)),"
            " live_peers INTEGER NOT NULL DEFAULT 0,"
            " checked_at BIGINT NOT NULL DEFAULT 0,"
            " retired INTEGER NOT NULL DEFAULT 0 CHECK (retired IN (0, 1)),"
            " active_peers INTEGER NOT NULL DEFAULT 0,"
            " rx_bytes BIGINT NOT NULL DEFAULT 0,"
            " tx_bytes BIGINT NOT NULL DEFAULT 0,"
            " state_since BIGINT NOT NULL DEFAULT 0,"
            " repairs INTEGER NOT NULL DEFAULT 0,"
            " reconciled_at BIGINT NOT NULL DEFAULT 0,"
            " entry TEXT,"
            " draining INTEGER NOT NULL DEFAULT 0 CHECK (draining IN (0, 1)));"
            /* An identity column's sequence never hands out an id twice. */
            "CREATE TABLE peers ("
            " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
            " user_id TEXT COLLATE \"C\" NOT NULL REFERENCES users(id),"
            " device TEXT COLLATE \"C\" NOT NULL,"
            " server_id TEXT COLLATE \"C\" NOT NULL REFERENCES servers(id),"
            " name TEXT,"
            " pubkey TEXT NOT NULL,"
            " host INTEGER NOT NULL CONSTRAINT peers_host_range CHECK (host BETWEEN 2 AND 254),"
            " state INTEGER NOT NULL CHECK (state IN (0, 1, 2)),"
            " created_at BIGINT NOT NULL,"
            " updated_at BIGINT NOT NULL,"
            " psk_sealed BYTEA,"
            " last_handshake BIGINT NOT NULL DEFAULT 0,"
            " rx_bytes BIGINT NOT NULL DEFAULT 0,"
            " tx_bytes BIGINT NOT NULL DEFAULT 0,"
            " UNIQUE (server_id, name),"
            " UNIQUE (server_id, pubkey));"
            "CREATE INDEX peers_by_user ON peers (user_id, device);"
            "CREATE TABLE lease ("
            " server_id TEXT COLLATE \"C\" NOT NULL REFERENCES servers(id),"
            " ip INTEGER NOT NULL CONSTRAINT lease_ip_range CHECK (ip BETWEEN 2 AND 254),"
            " peer_id BIGINT UNIQUE REFERENCES peers(id) ON DELETE CASCADE,"
            " foreign_key TEXT,"
            " CHECK ((peer_id IS NULL) <> (foreign_key IS NULL)),"
            " PRIMARY KEY (server_id, ip));"
            "CREATE TABLE audit ("
            " id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
            " at BIGINT NOT NULL,"
            " actor TEXT NOT NULL,"
            " action TEXT NOT NULL,"
            " subject TEXT,"
            " detail TEXT);"
            "CREATE TABLE usage ("
            " user_id TEXT COLLATE \"C\" NOT NULL,"
            " day TEXT COLLATE \"C\" NOT NULL,"
            " rx_bytes BIGINT NOT NULL DEFAULT 0,"
            " tx_bytes BIGINT NOT NULL DEFAULT 0,"
            " PRIMARY KEY (user_id, day));"},
        /* 5: several WireGuard interfaces per server, as SQLite's 5: a lease
         * is interface * 256 + host number; the named range checks are
         * replaced in place (rows of before, wg0's 2..254, all pass). */
        {5, "ALTER TABLE servers ADD COLUMN"
            " interfaces INTEGER NOT NULL DEFAULT 1 CHECK (interfaces BETWEEN 1 AND 16);"
            "ALTER TABLE peers DROP CONSTRAINT peers_host_range, ADD CONSTRAINT peers_host_range"
            " CHECK (host % 256 BETWEEN 2 AND 254 AND host < 4096);"
            "ALTER TABLE lease DROP CONSTRAINT lease_ip_range, ADD CONSTRAINT lease_ip_range"
            " CHECK (ip % 256 BETWEEN 2 AND 254 AND ip < 4096);"},
};

struct migration_list {
	const struct migration *steps;
	size_t n;
};

#define LIST(a)                                                                                    \
	{                                                                                          \
		(a), sizeof(a) / sizeof((a)[0])                                                    \
	}

/* This handle's backend's steps. */
static struct migration_list migrations_of(const struct db *db)
{
	const struct migration_list lite = LIST(sqlite_migrations), pg = LIST(pg_migrations);

	return DB_SQL(db, lite, pg);
}

static const char SQL_VERSION_TABLE[] = "CREATE TABLE IF NOT EXISTS schema_version ("
                                        " version INTEGER PRIMARY KEY,"
                                        " applied_at BIGINT NOT NULL)";
static const char SQL_MAX_VERSION[] = "SELECT coalesce(max(version), 0) FROM schema_version";
static const char SQL_ADD_VERSION[] =
        "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)";

static int current_version(struct db *db, int *version)
{
	struct db_st *st;
	int r;

	if ((r = db_stmt(db, SQL_MAX_VERSION, &st)) < 0 ||
	    (r = db_one(db, st, db_read_int, version)) < 0)
		return r;
	return 0; /* an aggregate always has its row */
}

static int run_step(struct db *db, const struct migration *m)
{
	struct db_st *st;
	int r;

	if ((r = db->drv->exec(db, m->sql)) < 0)
		return r;
	if ((r = db_stmt(db, SQL_ADD_VERSION, &st)) < 0 ||
	    (r = db_bind_int(db, st, 1, m->version)) < 0 ||
	    (r = db_bind_int(db, st, 2, db_now())) < 0)
		return r;
	return db_step_done(db, st);
}

/* Apply one step unless another process did while we waited for the lock. */
static int apply(struct db *db, const struct migration *m)
{
	int version = 0, r;

	if ((r = db_begin(db)) < 0)
		return r;
	r = current_version(db, &version);
	if (r == 0 && version < m->version)
		r = run_step(db, m);
	if (r < 0) {
		db_rollback(db);
		return r;
	}
	return db_commit(db);
}

/* Every step of the list newer than the database's version. */
static int migrate_locked(struct db *db, struct migration_list list)
{
	int latest = list.steps[list.n - 1].version, version = 0, r;
	char what[32];
	size_t i;

	if ((r = db->drv->exec(db, SQL_VERSION_TABLE)) < 0)
		return r;
	if ((r = current_version(db, &version)) < 0)
		return r;
	if (version > latest)
		return db_failf(db, PV_EDB,
		                "database schema version %d is newer than this build knows (%d); "
		                "refusing to touch it",
		                version, latest);
	for (i = 0; i < list.n && version < latest; i++) {
		if (list.steps[i].version <= version)
			continue;
		if ((r = apply(db, &list.steps[i])) < 0) {
			snprintf(what, sizeof(what), "migration %d", list.steps[i].version);
			return db_wrap(db, r, what);
		}
	}
	return 0;
}

int db_migrate(struct db *db)
{
	int r;

	if ((r = db->drv->migrate_lock(db, 1)) < 0)
		return r;
	r = migrate_locked(db, migrations_of(db));
	db->drv->migrate_lock(db, 0);
	return r;
}
