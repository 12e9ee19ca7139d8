/* SPDX-License-Identifier: MIT */
/*
 * Leader election between controllers sharing one PostgreSQL state DB
 * (docs/ha.md).  Every controller serves every route; the work that must
 * run once — the health passes, and with them the reconciles and the usage
 * accounting — runs on the leader only.  The leader is whoever holds a
 * session advisory lock on its own connection (ctl->leader_db, used for
 * nothing else): PostgreSQL drops it when that session ends, so when the
 * leader dies (kill -9, host gone, network cut) the next controller to
 * check, at most one health period later, takes over.  A leader that loses
 * its session stops leading at its next check.  On SQLite the one
 * controller is always the leader.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "controller.h"
#include "db.h"

/* "host pid N": which controller, for the log line and the audit row. */
static void whoami(char *out, size_t len)
{
	char host[128];

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "unknown-host");
	host[sizeof(host) - 1] = '\0';
	snprintf(out, len, "%s pid %ld", host, (long)getpid());
}

static void became_leader(struct ctl *ctl)
{
	char who[160];

	whoami(who, sizeof(who));
	ctl_log("leader: this controller (%s) is now the leader: it runs the health passes, "
	        "reconciles and usage accounting",
	        who);
	if (db_audit(ctl->db, "controller", "leader.acquired", who, ctl->db_name) < 0)
		ctl_log("leader: audit: %s", db_errmsg(ctl->db));
}

int ctl_leader_check(struct ctl *ctl)
{
	int leader = 0;

	if (!ctl->leader_db) {
		ctl->leader = 1;
		return 1;
	}
	if (db_leader_poll(ctl->leader_db, &leader) < 0)
		ctl_log("leader: %s: %s", ctl->db_name, db_errmsg(ctl->leader_db));
	if (leader && !ctl->leader)
		became_leader(ctl);
	else if (!leader && ctl->leader)
		ctl_log("leader: this controller is no longer the leader (its session ended); "
		        "another controller takes over the health passes");
	ctl->leader = leader;
	return leader;
}

int64_t ctl_leftover_before(const struct ctl *ctl)
{
	int64_t in_flight_s;

	if (!ctl->leader_db)
		return ctl->started_at;
	/* Connect, then the push, each bounded; doubled for a queue ahead of it. */
	in_flight_s = 2 * (ctl->cfg->connect_timeout_ms + ctl->cfg->push_timeout_ms) / 1000 + 1;
	return (int64_t)time(NULL) - in_flight_s;
}

int ctl_alone_at_startup(const struct ctl *ctl)
{
	return ctl->health_startup && !ctl->leader_db;
}
