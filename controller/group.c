/* SPDX-License-Identifier: MIT */
/*
 * Group commit.  Provision steps that write the DB (a lease, an activation)
 * are queued with ctl_group_add() and run together once the loop has handled
 * what is ready now: one transaction for all of them (each step's own
 * transaction becomes a savepoint, db_group_begin), so the whole group costs
 * one fsync instead of one per step.  The guarantee "an acknowledged
 * provision survives a power cut" holds because the replies those steps make
 * are held (ctl_group_hold, called by ctl_reply) until the group's COMMIT has
 * returned; if it fails, each held reply becomes a 503 and its body is
 * dropped.  Addresses stay unique: the steps run one after the other on the
 * one connection, each seeing the rows of the steps before it.
 */
#include <stdlib.h>

#include <event2/event.h>

#include "controller.h"
#include "db.h"

struct group_work {
	struct group_work *next;
	ctl_group_fn fn;
	void *arg;
};

struct ctl_group {
	struct event *ev;
	struct group_work *work, **work_tail;
	struct ctl_req *held, **held_tail; /* linked by held_next */
	int holding; /* a group transaction is open: replies wait for its commit */
};

/* Send the held replies, or a 503 for each when the commit failed. */
static void release_replies(struct ctl_req *list, int committed)
{
	while (list) {
		struct ctl_req *rq = list;

		list = rq->held_next;
		rq->held_next = NULL;
		if (committed) {
			ctl_reply(rq, rq->held_status, rq->held_body);
		} else {
			json_decref(rq->held_body); /* the secure allocator cleanses it */
			ctl_reply_error(
			        rq, PV_EIO,
			        "state database error: the commit failed; nothing was kept");
		}
	}
}

static void group_run(evutil_socket_t fd, short what, void *arg)
{
	struct ctl *ctl = arg;
	struct ctl_group *g = ctl->group;
	struct group_work *list = g->work;
	struct ctl_req *held;
	int committed = 1;

	(void)fd;
	(void)what;
	g->work = NULL;
	g->work_tail = &g->work;
	/* Without a group the steps still run, each with its own commit. */
	g->holding = db_group_begin(ctl->db) == 0;
	if (!g->holding)
		ctl_log("db: group transaction: %s", db_errmsg(ctl->db));
	while (list) {
		struct group_work *w = list;

		list = w->next;
		w->fn(w->arg);
		free(w);
	}
	if (g->holding && db_group_commit(ctl->db) < 0) {
		ctl_log("db: group commit failed: %s", db_errmsg(ctl->db));
		committed = 0;
	}
	g->holding = 0;
	held = g->held;
	g->held = NULL;
	g->held_tail = &g->held;
	release_replies(held, committed);
	if (g->work) /* added by the steps: the next group */
		event_active(g->ev, 0, 0);
}

static int group_get(struct ctl *ctl, struct ctl_group **out)
{
	struct ctl_group *g = ctl->group;

	if (!g) {
		if (!(g = calloc(1, sizeof(*g))))
			return PV_ENOMEM;
		g->work_tail = &g->work;
		g->held_tail = &g->held;
		if (!(g->ev = event_new(ctl->base, -1, 0, group_run, ctl))) {
			free(g);
			return PV_ENOMEM;
		}
		ctl->group = g;
	}
	*out = g;
	return 0;
}

int ctl_group_add(struct ctl *ctl, ctl_group_fn fn, void *arg)
{
	struct group_work *w = calloc(1, sizeof(*w));
	struct ctl_group *g;
	int r;

	if (!w)
		return PV_ENOMEM;
	if ((r = group_get(ctl, &g)) < 0) {
		free(w);
		return r;
	}
	w->fn = fn;
	w->arg = arg;
	*g->work_tail = w;
	g->work_tail = &w->next;
	if (!g->holding) /* else group_run activates it when done */
		event_active(g->ev, 0, 0);
	return 0;
}

int ctl_group_hold(struct ctl_req *rq, int status, json_t *body)
{
	struct ctl_group *g = rq->ctl->group;

	if (!g || !g->holding)
		return 0;
	rq->held_status = status;
	rq->held_body = body;
	*g->held_tail = rq;
	g->held_tail = &rq->held_next;
	return 1;
}

void ctl_group_free(struct ctl *ctl)
{
	struct ctl_group *g = ctl->group;

	if (!g)
		return;
	if (g->work)
		group_run(-1, 0, ctl); /* what the last loop pass queued */
	event_free(g->ev);
	free(g);
	ctl->group = NULL;
}
