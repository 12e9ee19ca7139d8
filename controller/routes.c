/* SPDX-License-Identifier: MIT */
/*
 * The route table and the dispatcher every request goes through, in order:
 * path (404), method (405), body size (413), JSON body against the route's
 * field whitelist (400 naming the field), authentication (401), handler.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#include "controller.h"
#include "db.h"

enum route_auth { AUTH_NONE, AUTH_KEY, AUTH_ADMIN };

struct route {
	const char *path;
	void (*handler)(struct ctl_req *rq);
	enum evhttp_cmd_type method;
	enum route_auth auth;
	unsigned allowed, required; /* CTL_ARG_* of the JSON body */
};

static const struct route routes[] = {
        {"/api/health", api_health, EVHTTP_REQ_GET, AUTH_NONE, 0, 0},
        {"/api/servers", api_servers, EVHTTP_REQ_GET, AUTH_KEY, 0, 0},
        {"/api/provision", api_provision, EVHTTP_REQ_POST, AUTH_KEY,
         CTL_ARG_SERVER | CTL_ARG_DEVICE | CTL_ARG_PUBKEY, CTL_ARG_SERVER},
        {"/api/revoke", api_revoke, EVHTTP_REQ_POST, AUTH_KEY,
         CTL_ARG_SERVER | CTL_ARG_DEVICE | CTL_ARG_ALL, 0},
        {"/api/generate-api-key", api_generate_key, EVHTTP_REQ_POST, AUTH_ADMIN,
         CTL_ARG_USER | CTL_ARG_TIER, CTL_ARG_USER | CTL_ARG_TIER},
        {"/api/admin/users/disable", api_user_disable, EVHTTP_REQ_POST, AUTH_ADMIN, CTL_ARG_USER,
         CTL_ARG_USER},
        {"/api/admin/users/tier", api_user_tier, EVHTTP_REQ_POST, AUTH_ADMIN,
         CTL_ARG_USER | CTL_ARG_TIER, CTL_ARG_USER | CTL_ARG_TIER},
        {"/api/admin/servers/*/reconcile", api_server_reconcile, EVHTTP_REQ_POST, AUTH_ADMIN, 0,
         0},
};

/* ---- dispatch --------------------------------------------------------------- */

static const char *method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	default:
		return "OTHER";
	}
}

/*
 * Does path follow pattern, where a "*" segment stands for one id
 * ([A-Za-z0-9._-]{1,64}, kept in arg)?  Other segments match exactly.
 */
static int path_match(const char *pattern, const char *path, char *arg, size_t arglen)
{
	const char *star = strchr(pattern, '*');
	size_t head, n;

	if (!star)
		return strcmp(pattern, path) == 0;
	head = (size_t)(star - pattern);
	if (strncmp(pattern, path, head) != 0)
		return 0;
	path += head;
	n = strspn(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
	if (n == 0 || n >= arglen || strcmp(path + n, star + 1) != 0)
		return 0;
	memcpy(arg, path, n);
	arg[n] = '\0';
	return 1;
}

/* The route for rq's path and method; *err says 404 or 405 when NULL. */
static const struct route *route_find(struct ctl_req *rq, enum evhttp_cmd_type m, int *err)
{
	size_t i;

	*err = CTL_ENOPATH;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!path_match(routes[i].path, rq->path, rq->path_arg, sizeof(rq->path_arg)))
			continue;
		if (routes[i].method == m)
			return &routes[i];
		*err = CTL_EMETHOD;
	}
	return NULL;
}

/* 413 before reading into memory when the client says how much it sends. */
static int body_too_large(struct ctl_req *rq)
{
	const char *cl =
	        evhttp_find_header(evhttp_request_get_input_headers(rq->req), "Content-Length");
	size_t len;
	char *end;
	unsigned long long n;

	if (cl) {
		n = strtoull(cl, &end, 10);
		if (end == cl || *end || n > (unsigned long long)rq->ctl->cfg->max_body_bytes)
			return 1;
	}
	ctl_req_body(rq, &len);
	return len > (size_t)rq->ctl->cfg->max_body_bytes;
}

/* Key auth: valid signature, then the user exists, is active, has that tier. */
static int auth_key(struct ctl_req *rq, char *err, size_t errlen)
{
	const char *key =
	        evhttp_find_header(evhttp_request_get_input_headers(rq->req), "X-API-Key");
	struct db_user u;
	char user[CTL_USER_MAX + 1];
	enum pv_tier tier;
	int r;

	if (!key) {
		ctl_errf(err, errlen, "missing X-API-Key header");
		return PV_EAUTH;
	}
	if (ctl_key_verify(&rq->ctl->secrets, key, user, &tier) < 0) {
		ctl_errf(err, errlen, "invalid API key");
		return PV_EAUTH;
	}
	r = db_user_get(rq->ctl->db, user, &u);
	if (r == PV_ENOTFOUND || (r == 0 && (!u.active || u.tier != tier))) {
		ctl_errf(err, errlen, "API key revoked: unknown or disabled user, or tier changed");
		return PV_EAUTH;
	}
	if (r < 0) {
		ctl_log("db: user lookup failed: %s", db_errmsg(rq->ctl->db));
		ctl_errf(err, errlen, "state database error");
		return r;
	}
	memcpy(rq->user, user, sizeof(user));
	rq->tier = tier;
	return 0;
}

static int auth_admin(struct ctl_req *rq, char *err, size_t errlen)
{
	const char *h =
	        evhttp_find_header(evhttp_request_get_input_headers(rq->req), "Authorization");

	if (ctl_admin_verify(rq->ctl->admin_token, h) < 0) {
		ctl_errf(err, errlen, "admin endpoint: missing or invalid bearer token");
		return PV_EAUTH;
	}
	memcpy(rq->user, "admin", sizeof("admin"));
	return 0;
}

static struct ctl_req *req_new(struct ctl *ctl, struct evhttp_request *req)
{
	struct ctl_req *rq = calloc(1, sizeof(*rq));
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

	if (!rq)
		return NULL;
	rq->ctl = ctl;
	rq->req = req;
	rq->start_us = pv_now_us();
	rq->method = method_name(evhttp_request_get_command(req));
	/* Longer than any route: keep a recognisable prefix for the log. */
	snprintf(rq->path, sizeof(rq->path), "%s", path && *path ? path : "/");
	memcpy(rq->user, "-", 2);
	return rq;
}

void ctl_dispatch(struct evhttp_request *req, void *arg)
{
	struct ctl_req *rq = req_new(arg, req);
	const struct route *rt;
	char err[256];
	const char *body;
	size_t len;
	int r;

	if (!rq) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	rt = route_find(rq, evhttp_request_get_command(req), &r);
	if (!rt) {
		ctl_reply_error(rq, r,
		                r == CTL_EMETHOD ? "method %s not allowed on %s" : "no route %s%s",
		                r == CTL_EMETHOD ? rq->method : "", rq->path);
		return;
	}
	if (body_too_large(rq)) {
		ctl_reply_error(rq, CTL_ETOOLARGE, "request body over %ld bytes",
		                rq->ctl->cfg->max_body_bytes);
		return;
	}
	if (rt->method == EVHTTP_REQ_POST) {
		body = ctl_req_body(rq, &len);
		r = ctl_args_parse(&rq->args, body ? body : "", len, rt->allowed, rt->required, err,
		                   sizeof(err));
		if (r < 0) {
			ctl_reply_error(rq, r, "%s", err);
			return;
		}
	}
	r = 0;
	if (rt->auth == AUTH_KEY)
		r = auth_key(rq, err, sizeof(err));
	else if (rt->auth == AUTH_ADMIN)
		r = auth_admin(rq, err, sizeof(err));
	if (r < 0) {
		ctl_reply_error(rq, r, "%s", err);
		return;
	}
	rt->handler(rq);
}
