/* SPDX-License-Identifier: MIT */
/*
 * GET /api/admin/usage?user=&from=&to=: each user's transfer per UTC day,
 * as the health passes accumulated it (db/usage.c), with the totals.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "controller.h"
#include "db.h"

/* YYYY-MM-DD that is a real date, or NULL. */
static const char *day_or_null(const char *s)
{
	struct tm tm;
	const char *end;

	if (!s || strlen(s) != 10)
		return NULL;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	return end && !*end ? s : NULL;
}

static json_t *usage_json(const struct db_usage *u, size_t n)
{
	json_t *days = json_array(), *users = json_object();
	uint64_t rx = 0, tx = 0;
	size_t i;

	for (i = 0; days && users && i < n; i++) {
		json_t *t = json_object_get(users, u[i].user_id);
		uint64_t sum = (uint64_t)u[i].rx_bytes + u[i].tx_bytes;

		json_array_append_new(days,
		                      json_pack("{s:s, s:s, s:I, s:I}", "user", u[i].user_id, "day",
		                                u[i].day, "rx_bytes", (json_int_t)u[i].rx_bytes,
		                                "tx_bytes", (json_int_t)u[i].tx_bytes));
		json_object_set_new(users, u[i].user_id,
		                    json_integer(json_integer_value(t) + (json_int_t)sum));
		rx += u[i].rx_bytes;
		tx += u[i].tx_bytes;
	}
	return json_pack("{s:o, s:o, s:{s:I, s:I}}", "days", days, "users", users, "total",
	                 "rx_bytes", (json_int_t)rx, "tx_bytes", (json_int_t)tx);
}

void api_usage(struct ctl_req *rq)
{
	static const char *const allowed[] = {"user", "from", "to", NULL};
	struct evkeyvalq q;
	struct db_usage *u = NULL;
	const char *user, *from, *to;
	char err[128];
	size_t n = 0;
	int r;

	if (ctl_query_parse(rq, allowed, &q, err, sizeof(err)) < 0) {
		ctl_reply_error(rq, PV_EINVAL, "%s", err);
		return;
	}
	user = evhttp_find_header(&q, "user");
	from = evhttp_find_header(&q, "from");
	to = evhttp_find_header(&q, "to");
	if ((from && !day_or_null(from)) || (to && !day_or_null(to)) ||
	    (user && !pv_user_id_is_valid(user))) {
		evhttp_clear_headers(&q);
		ctl_reply_error(rq, PV_EINVAL,
		                "query: from and to are days YYYY-MM-DD, user a user id");
		return;
	}
	r = db_usage_list(rq->ctl->db, user, from ? from : "0000-00-00", to ? to : "9999-99-99", &u,
	                  &n);
	evhttp_clear_headers(&q);
	if (r < 0) {
		ctl_log("usage: db: %s", db_errmsg(rq->ctl->db));
		ctl_reply_error(rq, r, "state database error");
		return;
	}
	ctl_reply(rq, 200, usage_json(u, n));
	free(u);
}
