/* SPDX-License-Identifier: MIT */
/*
 * Numbered schema migrations, recorded in schema_version and applied at open,
 * each in its own BEGIN IMMEDIATE transaction, so two processes opening a new
 * file at once apply each step exactly once.  Append new steps; never edit
 * one that has shipped.
 */
#include <stdio.h>

#include "db_int.h"

struct migration {
	int version;
	const char *sql; /* constant DDL, no data: safe for sqlite3_exec */
};

static const struct migration migrations[] = {
        {1, "CREATE TABLE users ("
            " id TEXT PRIMARY KEY NOT NULL,"
            " tier INTEGER NOT NULL CHECK (tier IN (1, 2)),"
            " active INTEGER NOT NULL CHECK (active IN (0, 1)),"
            " created_at INTEGER NOT NULL,"
            " updated_at INTEGER NOT NULL);"
            "CREATE TABLE servers ("
            " id TEXT PRIMARY KEY NOT NULL,"
            " location TEXT NOT NULL,"
            " region TEXT NOT NULL,"
            " tier INTEGER NOT NULL CHECK (tier IN (1, 2)),"
            " wg_host TEXT NOT NULL,"
            " wg_port INTEGER NOT NULL CHECK (wg_port BETWEEN 1 AND 65535),"
            " ssh_host TEXT NOT NULL,"
            " ssh_port INTEGER NOT NULL CHECK (ssh_port BETWEEN 1 AND 65535),"
            " ssh_user TEXT NOT NULL,"
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

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

static const char SQL_VERSION_TABLE[] = "CREATE TABLE IF NOT EXISTS schema_version ("
                                        " version INTEGER PRIMARY KEY,"
                                        " applied_at INTEGER NOT NULL)";
static const char SQL_MAX_VERSION[] = "SELECT coalesce(max(version), 0) FROM schema_version";
static const char SQL_ADD_VERSION[] =
        "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)";

static int current_version(struct db *db, int *version)
{
	sqlite3_stmt *st;
	int r;

	if ((r = db_stmt(db, SQL_MAX_VERSION, &st)) < 0 ||
	    (r = db_one(db, st, db_read_int, version)) < 0)
		return r;
	return 0; /* an aggregate always has its row */
}

static int run_step(struct db *db, const struct migration *m)
{
	sqlite3_stmt *st;
	int rc, r;

	rc = sqlite3_exec(db->conn, m->sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc);
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

int db_migrate(struct db *db)
{
	int latest = migrations[N_MIGRATIONS - 1].version, version = 0, rc, r;
	char what[32];
	size_t i;

	rc = sqlite3_exec(db->conn, SQL_VERSION_TABLE, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc);
	if ((r = current_version(db, &version)) < 0)
		return r;
	if (version > latest)
		return db_failf(db, PV_EDB,
		                "database schema version %d is newer than this build knows (%d); "
		                "refusing to touch it",
		                version, latest);
	for (i = 0; i < N_MIGRATIONS && version < latest; i++) {
		if (migrations[i].version <= version)
			continue;
		if ((r = apply(db, &migrations[i])) < 0) {
			snprintf(what, sizeof(what), "migration %d", migrations[i].version);
			return db_wrap(db, r, what);
		}
	}
	return 0;
}
