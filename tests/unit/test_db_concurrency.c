/* SPDX-License-Identifier: MIT */
/*
 * Leases under concurrency and crashes: several processes and threads, each
 * with its own handle on one file, never get the same (server, address) and
 * all succeed (BEGIN IMMEDIATE + busy timeout); every lease acknowledged
 * after its commit survives a kill -9 of the process holding it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "test_db_fixture.h"

#define WORKERS          4
#define PER_WORKER       60 /* 4 x 60 = 240 <= 253 on one server */
#define ACKS_BEFORE_KILL 60

/* Reserve `count` peers on srv-1 with keys base..base+count-1; 0 or the first error. */
static int reserve_many(const char *file, unsigned base, unsigned count, char *err, size_t errlen)
{
	struct db *db = NULL;
	struct db_peer p;
	unsigned i;
	int r = db_open(&db, fixture_target(file));

	for (i = 0; r == 0 && i < count; i++)
		r = db_peer_reserve(db, "alice", "laptop", "srv-1", fixture_key(base + i), NULL,
		                    &p);
	if (r < 0)
		snprintf(err, errlen, "%s: %s", pv_strerror(r), db_errmsg(db));
	db_close(db);
	return r;
}

/* The leases of one server: all there, no (server, ip) twice, all in range. */
static void assert_distinct_leases(const char *file, long long expected)
{
	ASSERT_INT_EQ(fixture_query_int(file, "SELECT count(*) FROM lease"), expected);
	ASSERT_INT_EQ(fixture_query_int(file, "SELECT count(*) FROM (SELECT DISTINCT server_id, ip "
	                                      "FROM lease) AS d"),
	              expected);
	ASSERT_INT_EQ(fixture_query_int(file, "SELECT count(*) FROM peers"), expected);
	ASSERT_INT_EQ(fixture_query_int(file, "SELECT count(*) FROM (SELECT DISTINCT server_id, "
	                                      "host FROM peers) AS d"),
	              expected);
	ASSERT_INT_EQ(fixture_query_int(file, "SELECT count(*) FROM lease WHERE ip NOT BETWEEN 2 "
	                                      "AND 254"),
	              0);
	/* Lowest-first under contention too: exactly 2..expected+1 are taken. */
	ASSERT_INT_EQ(fixture_query_int(file, "SELECT max(ip) FROM lease"), expected + 1);
}

/* Fork WORKERS children that start job(i) together; each must exit 0. */
static void run_processes(int (*job)(int i))
{
	pid_t pids[WORKERS];
	int gate[2], status, i;
	char go;

	ASSERT_INT_EQ(pipe(gate), 0);
	for (i = 0; i < WORKERS; i++) {
		pids[i] = fork();
		ASSERT_TRUE(pids[i] >= 0);
		if (pids[i] == 0) {
			close(gate[1]);
			/* Every worker starts when the parent closes the gate's write end. */
			while (read(gate[0], &go, 1) < 0 && errno == EINTR)
				;
			_exit(job(i) < 0);
		}
	}
	close(gate[0]);
	close(gate[1]);
	for (i = 0; i < WORKERS; i++) {
		ASSERT_INT_EQ(waitpid(pids[i], &status, 0), pids[i]);
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_INT_EQ(WEXITSTATUS(status), 0);
	}
}

static int job_first_open(int i)
{
	struct db *db = NULL;
	int r = db_open(&db, fixture_target("first.db"));

	if (r < 0)
		fprintf(stderr, "worker %d: %s: %s\n", i, pv_strerror(r), db_errmsg(db));
	db_close(db);
	return r;
}

static void test_first_open(void)
{
	TEST_START(
	        "4 processes opening a new file at once all succeed and migrate it exactly once");
	fixture_fresh("first.db");
	run_processes(job_first_open);
	/* Each step once: SQLite's from 1, PostgreSQL's from its baseline 4. */
	ASSERT_INT_EQ(fixture_query_int("first.db", "SELECT count(*) FROM schema_version"),
	              fixture_query_int("first.db", "SELECT max(version) FROM schema_version") -
	                      (fixture_pg() ? 3 : 0));
	if (!fixture_pg()) /* a file's journal mode; PostgreSQL has its own WAL */
		ASSERT_INT_EQ(fixture_query_int("first.db", "SELECT journal_mode = 'wal' FROM "
		                                            "pragma_journal_mode"),
		              1);
	TEST_DONE();
}

static int job_reserve(int i)
{
	char err[600];
	int r = reserve_many("procs.db", (unsigned)i * 1000, PER_WORKER, err, sizeof(err));

	if (r < 0)
		fprintf(stderr, "worker %d: %s\n", i, err);
	return r;
}

static void test_processes(void)
{
	db_close(fixture_open("procs.db", 1));
	TEST_START("4 processes reserving at once on one file all succeed with distinct addresses");
	run_processes(job_reserve);
	assert_distinct_leases("procs.db", (long long)WORKERS * PER_WORKER);
	TEST_DONE();
}

struct worker {
	pthread_t thread;
	unsigned base;
	int r;
	char err[600];
};

static void *thread_main(void *arg)
{
	struct worker *w = arg;

	w->r = reserve_many("threads.db", w->base, PER_WORKER, w->err, sizeof(w->err));
	return NULL;
}

static void test_threads(void)
{
	struct worker w[WORKERS];
	int i;

	db_close(fixture_open("threads.db", 1));
	TEST_START(
	        "4 threads with their own handles on one file all succeed with distinct addresses");
	for (i = 0; i < WORKERS; i++) {
		w[i].base = (unsigned)i * 1000;
		w[i].err[0] = '\0';
		ASSERT_INT_EQ(pthread_create(&w[i].thread, NULL, thread_main, &w[i]), 0);
	}
	for (i = 0; i < WORKERS; i++) {
		ASSERT_INT_EQ(pthread_join(w[i].thread, NULL), 0);
		if (w[i].r != 0)
			TEST_FAIL("thread %d: %s", i, w[i].err);
	}
	assert_distinct_leases("threads.db", (long long)WORKERS * PER_WORKER);
	TEST_DONE();
}

/*
 * PostgreSQL: another session holds srv-1's lease lock (as another
 * controller's allocation does) past lock_timeout.
 */
static void busy_pg(struct db *db)
{
	PGconn *holder = fixture_pg_connect(fixture_pg_dbname("busy.db"));
	struct db_peer p;

	fixture_pg_exec(holder, "BEGIN");
	fixture_pg_exec(holder, "SELECT pg_advisory_xact_lock(1886781441, hashtext('srv-1'))");
	ASSERT_INT_EQ(db_peer_reserve(db, "alice", "laptop", "srv-1", fixture_key(1), NULL, &p),
	              PV_EBUSY);
	ASSERT_STR_CONTAINS(db_errmsg(db), "lock timeout");
	ASSERT_INT_EQ(fixture_reserve(db, "srv-2", 2).host, PV_HOST_MIN); /* other servers go on */
	fixture_pg_exec(holder, "ROLLBACK");
	PQfinish(holder);
}

static void test_busy(void)
{
	struct db *db = fixture_open("busy.db", 2);
	struct db_peer p;
	sqlite3 *holder = NULL;

	TEST_START("a writer locked out past the busy timeout gets PV_EBUSY and writes nothing");
	if (fixture_pg()) {
		busy_pg(db);
		ASSERT_INT_EQ(fixture_reserve(db, "srv-1", 1).host, PV_HOST_MIN);
		db_close(db);
		ASSERT_INT_EQ(fixture_query_int("busy.db", "SELECT count(*) FROM peers"), 2);
		TEST_DONE();
		return;
	}
	ASSERT_INT_EQ(sqlite3_open(fixture_path("busy.db"), &holder), SQLITE_OK);
	ASSERT_INT_EQ(sqlite3_exec(holder, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	ASSERT_INT_EQ(db_peer_reserve(db, "alice", "laptop", "srv-1", fixture_key(1), NULL, &p),
	              PV_EBUSY);
	ASSERT_STR_CONTAINS(db_errmsg(db), "locked");
	ASSERT_INT_EQ(sqlite3_exec(holder, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(holder);
	ASSERT_INT_EQ(fixture_reserve(db, "srv-1", 1).host, PV_HOST_MIN);
	db_close(db);
	ASSERT_INT_EQ(fixture_query_int("busy.db", "SELECT count(*) FROM peers"), 1);
	TEST_DONE();
}

/* What the child reports after each commit. */
struct ack {
	int64_t id;
	unsigned host;
	char server_id[DB_SERVER_ID_MAX + 1];
};

/* Child: reserve on srv-1 and srv-2 alternately, acknowledging each commit on fd. */
static void crash_child(int fd)
{
	struct db *db = NULL;
	struct db_peer p;
	struct ack a;
	unsigned i;

	if (db_open(&db, fixture_target("crash.db")) != 0)
		_exit(1);
	for (i = 0; i < 2 * (PV_HOST_MAX - PV_HOST_MIN + 1); i++) {
		const char *server = i % 2 ? "srv-2" : "srv-1";

		if (db_peer_reserve(db, "alice", "laptop", server, fixture_key(i), NULL, &p) != 0)
			_exit(2);
		memset(&a, 0, sizeof(a));
		a.id = p.id;
		a.host = p.host;
		memcpy(a.server_id, p.server_id, sizeof(a.server_id));
		if (write(fd, &a, sizeof(a)) != (ssize_t)sizeof(a))
			_exit(3);
	}
	_exit(0);
}

static void test_kill9(void)
{
	struct ack acks[2 * (PV_HOST_MAX - PV_HOST_MIN + 1)];
	size_t n = 0, i;
	struct db *db;
	struct db_peer p;
	int fds[2], status;
	long long rows;
	ssize_t got;
	pid_t pid;

	db_close(fixture_open("crash.db", 2));
	TEST_START(
	        "every lease acknowledged before a kill -9 of its process is there after re-open");
	ASSERT_INT_EQ(pipe(fds), 0);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		crash_child(fds[1]);
	}
	close(fds[1]);
	/* Records are smaller than PIPE_BUF, so each write arrives whole. */
	while ((got = read(fds[0], &acks[n], sizeof(acks[n]))) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		ASSERT_INT_EQ(got, sizeof(acks[n]));
		if (++n == ACKS_BEFORE_KILL)
			ASSERT_INT_EQ(kill(pid, SIGKILL), 0);
	}
	close(fds[0]);
	ASSERT_INT_EQ(waitpid(pid, &status, 0), pid);
	printf("# child %s after %zu acknowledged leases\n",
	       WIFSIGNALED(status) ? "killed by SIGKILL" : "finished before the kill", n);
	ASSERT_TRUE(n >= ACKS_BEFORE_KILL);
	db = fixture_open("crash.db", 2);
	for (i = 0; i < n; i++) {
		if (db_peer_get(db, acks[i].id, &p) != 0)
			TEST_FAIL("acknowledged peer %lld is gone: %s", (long long)acks[i].id,
			          db_errmsg(db));
		ASSERT_INT_EQ(p.host, acks[i].host);
		ASSERT_STR_EQ(p.server_id, acks[i].server_id);
	}
	/* The recovered file goes on handing out the lowest free address only. */
	ASSERT_INT_EQ(db_peer_delete(db, acks[0].id), 0);
	ASSERT_INT_EQ(fixture_reserve(db, acks[0].server_id, 5000).host, acks[0].host);
	db_close(db);
	rows = fixture_query_int("crash.db", "SELECT count(*) FROM lease");
	ASSERT_TRUE(rows >= (long long)n && rows <= (long long)n + 1); /* + one unreported commit */
	ASSERT_INT_EQ(fixture_query_int("crash.db", "SELECT count(*) FROM peers"), rows);
	ASSERT_INT_EQ(fixture_query_int("crash.db",
	                                "SELECT count(*) FROM (SELECT DISTINCT server_id, "
	                                "ip FROM lease) AS d"),
	              rows);
	ASSERT_INT_EQ(fixture_query_int("crash.db", "SELECT count(*) FROM peers p JOIN lease l ON "
	                                            "l.peer_id = p.id AND l.server_id = "
	                                            "p.server_id AND l.ip = p.host"),
	              rows);
	if (!fixture_pg()) /* the file's own check; PostgreSQL recovers from its WAL */
		ASSERT_INT_EQ(fixture_query_int("crash.db", "SELECT count(*) FROM "
		                                            "pragma_integrity_check WHERE "
		                                            "integrity_check <> 'ok'"),
		              0);
	TEST_DONE();
}

int main(void)
{
	fixture_setup();
	test_first_open();
	test_processes();
	test_threads();
	test_kill9();
	test_busy();
	TEST_SUMMARY();
}
