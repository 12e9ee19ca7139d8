/* SPDX-License-Identifier: MIT */
/*
 * GET /api/health, for load balancers and monitoring: liveness, DB reachable,
 * fleet up/down counts, and whether this controller is the leader (runs the
 * health passes; always true on SQLite, one of several on PostgreSQL).
 */
#include "controller.h"
#include "db.h"

void api_health(struct ctl_req *rq)
{
	struct ctl *ctl = rq->ctl;
	int up = 0, down = 0, unknown = 0,
	    db_ok = db_servers_count(ctl->db, &up, &down, &unknown) == 0;

	if (!db_ok)
		ctl_log("health: db: %s", db_errmsg(ctl->db));
	ctl_reply(rq, db_ok ? 200 : 503,
	          json_pack("{s:s, s:s, s:i, s:i, s:i, s:s, s:b}", "status",
	                    db_ok ? "ok" : "degraded", "db", db_ok ? "ok" : "error", "servers_up",
	                    up, "servers_down", down, "servers_unknown", unknown, "version",
	                    PV_VERSION, "leader", ctl->leader));
}
