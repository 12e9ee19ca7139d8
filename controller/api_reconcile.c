/* SPDX-License-Identifier: MIT */
/*
 * POST /api/admin/servers/ID/reconcile: read that server now and bring it
 * back to the DB (reconcile.c); the answer says what was repaired.  The
 * same pass the health timer runs, on demand for an operator.
 */
#include "agentless.h"
#include "controller.h"
#include "db.h"

static void dump_done(struct ctl_job *job)
{
	struct ctl_req *rq = job->arg;
	const struct pv_server *srv = ctl_server(job->ctl, rq->path_arg);

	if (job->err < 0 || !job->dump) {
		ctl_log("reconcile: %s: reading the server failed: %s: %s", rq->path_arg,
		        pv_strerror(job->err), job->detail);
		ctl_reply_error(rq, ctl_push_cause(job->err ? job->err : PV_EREMOTE),
		                "cannot read server %s (%s)", rq->path_arg, pv_strerror(job->err));
		return;
	}
	ctl_reconcile(job->ctl, srv, job->dump, rq);
}

void api_server_reconcile(struct ctl_req *rq)
{
	int r;

	if (!ctl_server(rq->ctl, rq->path_arg)) {
		ctl_reply_error(rq, PV_ENOTFOUND, "unknown server %s", rq->path_arg);
		return;
	}
	if ((r = ctl_reconcile_read(rq->ctl, rq->path_arg, dump_done, rq)) < 0)
		ctl_reply_error(rq, r, "cannot queue a read of server %s", rq->path_arg);
}
