/* SPDX-License-Identifier: MIT */
/*
 * The operators' read-only view of users (admin token): GET /api/admin/users
 * pages through every user by id (limit, cursor), GET /api/admin/users/ID
 * shows one user with each peer's server, addresses and state.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "controller.h"
#include "db.h"

#define LIST_DEFAULT 100
#define LIST_MAX     1000

static const char *peer_state_name(enum db_peer_state s)
{
	switch (s) {
	case DB_PEER_PENDING:
		return "pending";
	case DB_PEER_ACTIVE:
		return "active";
	case DB_PEER_REMOVING:
		return "removing";
	}
	return "unknown";
}

/* The fields every user view shares; NULL on ENOMEM. */
static json_t *user_json(const struct db_user *u)
{
	return json_pack("{s:s, s:s, s:b, s:I}", "user_id", u->id, "tier", pv_tier_name(u->tier),
	                 "active", u->active, "key_generation", (json_int_t)u->key_gen);
}

/* Parse ?limit=N&cursor=ID; replies itself (400) on bad input. */
static int list_query(struct ctl_req *rq, int *limit, char *cursor, size_t cursorlen)
{
	static const char *const allowed[] = {"limit", "cursor", NULL};
	struct evkeyvalq q;
	const char *v;
	char err[128], *end;
	long n = LIST_DEFAULT;
	int r;

	if ((r = ctl_query_parse(rq, allowed, &q, err, sizeof(err))) < 0) {
		ctl_reply_error(rq, r, "%s", err);
		return r;
	}
	r = 0;
	cursor[0] = '\0';
	if ((v = evhttp_find_header(&q, "limit"))) {
		n = strtol(v, &end, 10);
		if (end == v || *end || n < 1 || n > LIST_MAX) {
			ctl_reply_error(rq, PV_EINVAL, "limit: expected 1..%d", LIST_MAX);
			r = PV_EINVAL;
		}
	}
	if (r == 0 && (v = evhttp_find_header(&q, "cursor"))) {
		if (!pv_user_id_is_valid(v) || strlen(v) >= cursorlen) {
			ctl_reply_error(rq, PV_EINVAL, "cursor: expected a user id");
			r = PV_EINVAL;
		} else {
			memcpy(cursor, v, strlen(v) + 1);
		}
	}
	evhttp_clear_headers(&q);
	*limit = (int)n;
	return r;
}

void api_users_list(struct ctl_req *rq)
{
	struct db_user_summary *s = NULL;
	char cursor[CTL_USER_MAX + 1];
	json_t *list, *u;
	size_t i, n = 0;
	int limit, r;

	if (list_query(rq, &limit, cursor, sizeof(cursor)) < 0)
		return;
	if ((r = db_users_list(rq->ctl->db, cursor, limit, &s, &n)) < 0) {
		ctl_log("admin: user list: %s", db_errmsg(rq->ctl->db));
		ctl_reply_error(rq, r, "state database error");
		return;
	}
	list = json_array();
	for (i = 0; list && i < n; i++) {
		u = user_json(&s[i].user);
		if (!u || json_object_set_new(u, "peers", json_integer(s[i].peers)) < 0 ||
		    json_object_set_new(u, "devices", json_integer(s[i].devices)) < 0 ||
		    json_array_append_new(list, u) < 0) {
			json_decref(list);
			list = NULL;
		}
	}
	/* A full page may have a next one: its cursor is the last id shown. */
	ctl_reply(rq, 200,
	          list ? json_pack("{s:o, s:s?}", "users", list, "next_cursor",
	                           n == (size_t)limit ? s[n - 1].user.id : NULL)
	               : NULL);
	free(s);
}

/* One peer of the user view, with what the last health pass saw of it; NULL on ENOMEM. */
static json_t *peer_json(const struct ctl *ctl, const struct db_peer *p)
{
	const struct pv_server *srv = ctl_server(ctl, p->server_id);
	char v4[PV_ADDR4_MAX], v6[PV_ADDR6_MAX];
	int addrs = srv && pv_peer_addrs(srv, p->host, v4, v6) == 0;
	json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s, s:I, s:I}", "id",
	                      (json_int_t)p->id, "name", p->name, "device", p->device, "server_id",
	                      p->server_id, "public_key", p->pubkey, "client_ipv4",
	                      addrs ? v4 : NULL, "client_ipv6", addrs ? v6 : NULL, "state",
	                      peer_state_name(p->state), "created_at", (json_int_t)p->created_at,
	                      "updated_at", (json_int_t)p->updated_at);

	if (j && (json_object_set_new(j, "last_handshake", json_integer(p->last_handshake)) < 0 ||
	          json_object_set_new(j, "rx_bytes", json_integer((json_int_t)p->rx_bytes)) < 0 ||
	          json_object_set_new(j, "tx_bytes", json_integer((json_int_t)p->tx_bytes)) < 0 ||
	          json_object_set_new(j, "psk_kept", json_boolean(p->has_psk)) < 0)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* {"devices": [distinct names in first-seen order], "peers": [...]} into u; -1 on ENOMEM. */
static int add_peers(const struct ctl *ctl, json_t *u, const struct db_peer *peers, size_t n)
{
	json_t *devices = json_array(), *list = json_array();
	size_t i, j;

	if (json_object_set_new(u, "devices", devices) < 0 ||
	    json_object_set_new(u, "peers", list) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		for (j = 0; j < i && strcmp(peers[j].device, peers[i].device) != 0; j++)
			;
		if (j == i && json_array_append_new(devices, json_string(peers[i].device)) < 0)
			return -1;
		if (json_array_append_new(list, peer_json(ctl, &peers[i])) < 0)
			return -1;
	}
	return 0;
}

void api_user_show(struct ctl_req *rq)
{
	struct db_peer_filter f = {rq->path_arg, NULL, NULL, DB_PEER_ANY};
	struct db_peer *peers = NULL;
	struct db_user u;
	json_t *body;
	size_t n = 0;
	int r;

	r = db_user_get(rq->ctl->db, rq->path_arg, &u);
	if (r == 0)
		r = db_peers_list(rq->ctl->db, &f, &peers, &n);
	if (r == PV_ENOTFOUND) {
		ctl_reply_error(rq, r, "unknown user %s", rq->path_arg);
		return;
	}
	if (r < 0) {
		ctl_log("admin: user %s: %s", rq->path_arg, db_errmsg(rq->ctl->db));
		ctl_reply_error(rq, r, "state database error");
		return;
	}
	body = user_json(&u);
	if (body && add_peers(rq->ctl, body, peers, n) < 0) {
		json_decref(body);
		body = NULL;
	}
	ctl_reply(rq, 200, body);
	free(peers);
}
