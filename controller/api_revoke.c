/* SPDX-License-Identifier: MIT */
/*
 * POST /api/revoke: the caller's peers on one server, one device, or all of
 * them, removed through the fan-out (fanout.c).
 */
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "db.h"

static void revoke_done(struct ctl_fanout *fo)
{
	ctl_fanout_reply(fo, NULL);
	ctl_fanout_free(fo);
}

void api_revoke(struct ctl_req *rq)
{
	const struct ctl_args *a = &rq->args;
	/* PENDING ones too: a provision still in flight is revoked with the rest. */
	struct db_peer_filter f = {rq->user, NULL, NULL, DB_PEER_ANY};
	struct db_peer *peers = NULL;
	size_t n = 0;
	int r;

	if (a->all && (a->set & (CTL_ARG_SERVER | CTL_ARG_DEVICE))) {
		ctl_reply_error(rq, PV_EINVAL,
		                "field \"all\" cannot be combined with server_id or device");
		return;
	}
	if (!a->all && !(a->set & (CTL_ARG_SERVER | CTL_ARG_DEVICE))) {
		ctl_reply_error(rq, PV_EINVAL,
		                "field \"server_id\", \"device\" or \"all\" is required");
		return;
	}
	if ((a->set & CTL_ARG_SERVER) && !ctl_server(rq->ctl, a->server_id)) {
		ctl_reply_error(rq, PV_ENOTFOUND, "unknown server %s", a->server_id);
		return;
	}
	if (a->set & CTL_ARG_SERVER)
		f.server_id = a->server_id;
	if (a->set & CTL_ARG_DEVICE)
		f.device = a->device;
	if ((r = db_peers_list(rq->ctl->db, &f, &peers, &n)) < 0) {
		ctl_log("revoke: db: %s", db_errmsg(rq->ctl->db));
		ctl_reply_error(rq, r, "state database error");
		return;
	}
	ctl_fanout_start(rq, peers, n, revoke_done);
}
