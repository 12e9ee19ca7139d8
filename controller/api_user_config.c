/* SPDX-License-Identifier: MIT */
/*
 * POST /api/admin/users/ID/config {server_id, device}: support staff set
 * up a user's phone (`vpnadm user config`).  It is POST /api/provision on
 * the user's behalf in the server-made key mode: the same tier check,
 * quota, lease and push, the controller makes the key pair and never
 * stores the private key.  An audit row (server and device, no secret)
 * records who asked before anything is provisioned.
 */
#include <stdio.h>
#include <string.h>

#include "controller.h"
#include "db.h"

void api_user_config(struct ctl_req *rq)
{
	struct db *db = rq->ctl->db;
	struct db_user u;
	char detail[160];
	int r = db_user_get(db, rq->path_arg, &u);

	if (r == PV_ENOTFOUND) {
		ctl_reply_error(rq, r, "unknown user %s", rq->path_arg);
		return;
	}
	if (r == 0 && !u.active) {
		ctl_reply_error(rq, PV_EEXIST,
		                "user %s is disabled: enable it first (generate-api-key)", u.id);
		return;
	}
	snprintf(detail, sizeof(detail), "server=%s device=%s", rq->args.server_id,
	         rq->args.device);
	if (r == 0)
		r = db_audit(db, rq->user, "user.config", u.id, detail);
	if (r < 0) {
		ctl_log("admin: user config %s: %s", rq->path_arg, db_errmsg(db));
		ctl_reply_error(rq, r, "state database error");
		return;
	}
	/* From here the request is the user's own provision, without a public key. */
	snprintf(rq->user, sizeof(rq->user), "%s", u.id);
	rq->tier = u.tier;
	api_provision(rq);
}
