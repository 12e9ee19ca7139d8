/* SPDX-License-Identifier: MIT */
/*
 * GET /api/health (liveness, DB reachable, fleet up/down counts) and
 * GET /api/servers (the caller's tier's servers with health and load).
 */
#include "controller.h"
#include "db.h"

static const char *status_name(int up)
{
	return up > 0 ? "up" : up == 0 ? "down" : "unknown";
}

void api_health(struct ctl_req *rq)
{
	struct ctl *ctl = rq->ctl;
	int up = 0, down = 0, unknown = 0, db_ok = db_servers_count(ctl->db, &up, &down, &unknown) == 0;

	if (!db_ok)
		ctl_log("health: db: %s", db_errmsg(ctl->db));
	ctl_reply(rq, db_ok ? 200 : 503,
	          json_pack("{s:s, s:s, s:i, s:i, s:i, s:s}", "status", db_ok ? "ok" : "degraded",
	                    "db", db_ok ? "ok" : "error", "servers_up", up, "servers_down", down,
	                    "servers_unknown", unknown, "version", CTL_VERSION));
}

static json_t *server_json(const struct pv_server *s, const struct db_server_status *st)
{
	/* public_key: the server's current WireGuard key, so clients notice a redeployed one. */
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:i}", "id", s->id,
	                 "location", s->location, "region", s->region, "tier",
	                 pv_tier_name(s->tier), "host", s->wg_host, "port", (int)s->wg_port,
	                 "public_key", st->wg_pubkey, "status", status_name(st->up), "load",
	                 st->peers, "capacity", DB_HOST_MAX - DB_HOST_MIN + 1);
}

void api_servers(struct ctl_req *rq)
{
	struct ctl *ctl = rq->ctl;
	struct db_server_status st;
	json_t *list = json_array();
	size_t i;
	int r;

	for (i = 0; list && i < ctl->fleet->n; i++) {
		const struct pv_server *s = &ctl->fleet->servers[i];

		if (!pv_tier_allows(rq->tier, s->tier))
			continue;
		if ((r = db_server_status(ctl->db, s->id, &st)) < 0) {
			ctl_log("servers: db status of %s: %s", s->id, db_errmsg(ctl->db));
			json_decref(list);
			ctl_reply_error(rq, r, "state database error");
			return;
		}
		json_array_append_new(list, server_json(s, &st));
	}
	ctl_reply(rq, 200,
	          json_pack("{s:s, s:o}", "tier", pv_tier_name(rq->tier), "servers", list));
}
