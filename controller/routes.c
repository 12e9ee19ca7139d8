/* SPDX-License-Identifier: MIT */
/*
 * The route table and the dispatcher every request goes through, in order:
 * path (404), method (405), duplicate Content-Length (400), body size (413),
 * JSON body against the route's field whitelist (400 naming the field),
 * failed-auth limit of the client address (429), authentication (401),
 * handler.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/util.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#include "controller.h"
#include "db.h"

enum route_auth { AUTH_NONE, AUTH_KEY, AUTH_ADMIN };

/*
 * A path is literal except for "*" segments, each of which matches one
 * non-empty segment of [A-Za-z0-9._-] up to CTL_PATH_ARG_MAX bytes: the
 * request's rq->path_arg (the last one, when a route has several).
 */
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
        {"/api/admin/users/rotate-key", api_user_rotate_key, EVHTTP_REQ_POST, AUTH_ADMIN,
         CTL_ARG_USER, CTL_ARG_USER},
        {"/api/admin/users", api_users_list, EVHTTP_REQ_GET, AUTH_ADMIN, 0, 0},
        {"/api/admin/users/*", api_user_show, EVHTTP_REQ_GET, AUTH_ADMIN, 0, 0},
        {"/api/admin/users/*/config", api_user_config, EVHTTP_REQ_POST, AUTH_ADMIN,
         CTL_ARG_SERVER | CTL_ARG_DEVICE, CTL_ARG_SERVER | CTL_ARG_DEVICE},
        {"/api/admin/servers", api_admin_servers, EVHTTP_REQ_GET, AUTH_ADMIN, 0, 0},
        {"/api/admin/servers", api_server_add, EVHTTP_REQ_POST, AUTH_ADMIN, CTL_ARG_ENTRY, 0},
        /* Before the "*" row of the same path: the first matching row wins. */
        {"/api/admin/servers/export", api_servers_export, EVHTTP_REQ_GET, AUTH_ADMIN, 0, 0},
        {"/api/admin/servers/*", api_server_show, EVHTTP_REQ_GET, AUTH_ADMIN, 0, 0},
        {"/api/admin/servers/*", api_server_remove, EVHTTP_REQ_DELETE, AUTH_ADMIN, 0, 0},
        {"/api/admin/servers/*", api_server_update, EVHTTP_REQ_PUT, AUTH_ADMIN, CTL_ARG_ENTRY, 0},
        {"/api/admin/servers/*/reconcile", api_server_reconcile, EVHTTP_REQ_POST, AUTH_ADMIN, 0, 0},
        {"/api/admin/servers/*/bootstrap", api_server_bootstrap, EVHTTP_REQ_POST, AUTH_ADMIN, 0, 0},
        {"/api/admin/servers/*/drain", api_server_drain, EVHTTP_REQ_POST, AUTH_ADMIN, 0, 0},
        {"/api/admin/servers/*/undrain", api_server_drain, EVHTTP_REQ_POST, AUTH_ADMIN, 0, 0},
        {"/api/admin/usage", api_usage, EVHTTP_REQ_GET, AUTH_ADMIN, 0, 0},
        {"/metrics", api_metrics, EVHTTP_REQ_GET, AUTH_ADMIN, 0, 0},
};

/* metrics_listen: loopback only (config.c), so no token. */
static const struct route metrics_routes[] = {
        {"/metrics", api_metrics, EVHTTP_REQ_GET, AUTH_NONE, 0, 0},
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

/* 1 if path matches pattern; a "*" segment's text goes to arg (>= CTL_PATH_ARG_MAX + 1). */
static int path_match(const char *pattern, const char *path, char *arg)
{
	size_t n;

	while (*pattern) {
		if (pattern[0] == '*' && (pattern[1] == '/' || pattern[1] == '\0')) {
			n = strspn(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			                 "0123456789._-");
			if (n == 0 || n > CTL_PATH_ARG_MAX)
				return 0;
			memcpy(arg, path, n);
			arg[n] = '\0';
			path += n;
			pattern++;
			continue;
		}
		if (*pattern++ != *path++)
			return 0;
	}
	return *path == '\0';
}

/* The route of table for rq's full path and method; *err says 404 or 405 when NULL. */
static const struct route *route_find(const struct route *table, size_t n, struct ctl_req *rq,
                                      const char *path, enum evhttp_cmd_type m, int *err)
{
	size_t i;

	*err = CTL_ENOPATH;
	for (i = 0; i < n; i++) {
		if (!path_match(table[i].path, path, rq->path_arg))
			continue;
		if (table[i].method == m)
			return &table[i];
		*err = CTL_EMETHOD;
	}
	return NULL;
}

/* Two Content-Length headers: which one a proxy in front believed is unknowable. */
static int content_length_repeated(struct ctl_req *rq)
{
	const struct evkeyval *h;
	int n = 0;

	TAILQ_FOREACH(h, evhttp_request_get_input_headers(rq->req), next)
	if (evutil_ascii_strcasecmp(h->key, "Content-Length") == 0)
		n++;
	return n > 1;
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

/* Key auth: valid signature, then the user exists, is active, has that tier and key generation. */
static int auth_key(struct ctl_req *rq, char *err, size_t errlen)
{
	const char *key =
	        evhttp_find_header(evhttp_request_get_input_headers(rq->req), "X-API-Key");
	struct db_user u;
	char user[CTL_USER_MAX + 1];
	enum pv_tier tier;
	unsigned gen;
	int r;

	if (!key) {
		ctl_errf(err, errlen, "missing X-API-Key header");
		return PV_EAUTH;
	}
	if (ctl_key_verify(&rq->ctl->secrets, key, user, &tier, &gen) < 0) {
		ctl_errf(err, errlen, "invalid API key");
		return PV_EAUTH;
	}
	r = ctl_user_get(rq->ctl, user, &u);
	if (r == PV_ENOTFOUND || (r == 0 && (!u.active || u.tier != tier || u.key_gen != gen))) {
		ctl_errf(err, errlen,
		         "API key revoked: unknown or disabled user, tier changed or key rotated");
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

/* 429 with Retry-After when the client's address is over its failed-auth limit. */
static int auth_limited(struct ctl_req *rq, const unsigned char key[16])
{
	long retry = ctl_addrs_auth_blocked(ctl_conns_addrs(rq->ctl), key);
	char value[24];

	if (!retry)
		return 0;
	snprintf(value, sizeof(value), "%ld", retry);
	evhttp_add_header(evhttp_request_get_output_headers(rq->req), "Retry-After", value);
	ctl_reply_error(rq, CTL_ELIMITED,
	                "too many failed authentications from this address: retry in %ld s", retry);
	return 1;
}

/* Count and log a failed authentication, with the client address. */
static void auth_failed(struct ctl_req *rq, const unsigned char key[16], const char *addr,
                        const char *why)
{
	long retry;
	int r = ctl_addrs_auth_failed(ctl_conns_addrs(rq->ctl), key, &retry);

	if (r == 2)
		return; /* blocked meanwhile by a parallel request: already logged */
	ctl_log("auth failure from %s on %s: %s", addr, rq->path, why);
	if (r == 1)
		ctl_log("auth: %s blocked for %ld s after %ld failures (429 until then)", addr,
		        retry, rq->ctl->cfg->auth_fail_max);
}

/* Authenticate the route's way, within the address's failed-auth limit; 1 if replied. */
static int authenticate(struct ctl_req *rq, enum route_auth how)
{
	unsigned char key[16];
	char addr[64], err[256];
	int known, r;

	if (how == AUTH_NONE)
		return 0;
	known = ctl_conn_peer(rq->req, key, addr, sizeof(addr)) == 0;
	if (known && auth_limited(rq, key))
		return 1;
	/* Both checks are constant-time in the secret; the limiter looks only at the address. */
	r = how == AUTH_KEY ? auth_key(rq, err, sizeof(err)) : auth_admin(rq, err, sizeof(err));
	if (r == 0)
		return 0;
	if (r == PV_EAUTH && known)
		auth_failed(rq, key, addr, err);
	ctl_reply_error(rq, r, "%s", err);
	return 1;
}

/* The request's whole path (rq->path may be cut for the log); never NULL. */
static const char *full_path(struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

	return path && *path ? path : "/";
}

static struct ctl_req *req_new(struct ctl *ctl, struct evhttp_request *req)
{
	struct ctl_req *rq = calloc(1, sizeof(*rq));
	const char *path = full_path(req);

	if (!rq)
		return NULL;
	rq->ctl = ctl;
	rq->req = req;
	rq->start_us = pv_now_us();
	rq->method = method_name(evhttp_request_get_command(req));
	/* Longer than any route: keep a recognisable prefix; raw bytes escaped for log and JSON. */
	ctl_escape(rq->path, sizeof(rq->path), path, strlen(path));
	memcpy(rq->user, "-", 2);
	return rq;
}

static void dispatch(const struct route *table, size_t n, struct evhttp_request *req, void *arg)
{
	struct ctl_req *rq = req_new(arg, req);
	const struct route *rt;
	char err[256];
	const char *body;
	size_t len = 0;
	int r;

	ctl_conn_request(arg, req);
	if (!rq) {
		ctl_reply_nomem(req);
		return;
	}
	rt = route_find(table, n, rq, full_path(req), evhttp_request_get_command(req), &r);
	if (!rt) {
		ctl_reply_error(rq, r,
		                r == CTL_EMETHOD ? "method %s not allowed on %s" : "no route %s%s",
		                r == CTL_EMETHOD ? rq->method : "", rq->path);
		return;
	}
	rq->route = rt->path;
	if (content_length_repeated(rq)) {
		ctl_reply_error(rq, PV_EINVAL, "more than one Content-Length header");
		return;
	}
	if (body_too_large(rq)) {
		ctl_reply_error(rq, CTL_ETOOLARGE, "request body over %ld bytes",
		                rq->ctl->cfg->max_body_bytes);
		return;
	}
	body = rt->method == EVHTTP_REQ_POST ? ctl_req_body(rq, &len) : NULL;
	/* A route that takes no fields (an action on the path's id) also takes no body at all;
	 * a server entry is the handler's to check, after authentication. */
	if (rt->method == EVHTTP_REQ_POST && !(rt->allowed & CTL_ARG_ENTRY) &&
	    (rt->allowed || len)) {
		if ((r = ctl_args_parse(&rq->args, body ? body : "", len, rt->allowed, rt->required,
		                        err, sizeof(err))) < 0) {
			ctl_reply_error(rq, r, "%s", err);
			return;
		}
	}
	if (authenticate(rq, rt->auth))
		return;
	rt->handler(rq);
}

void ctl_dispatch(struct evhttp_request *req, void *arg)
{
	dispatch(routes, sizeof(routes) / sizeof(routes[0]), req, arg);
}

void ctl_dispatch_metrics(struct evhttp_request *req, void *arg)
{
	dispatch(metrics_routes, sizeof(metrics_routes) / sizeof(metrics_routes[0]), req, arg);
}

int ctl_query_parse(struct ctl_req *rq, const char *const *allowed, struct evkeyvalq *out,
                    char *err, size_t errlen)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(rq->req);
	const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
	const struct evkeyval *kv;
	size_t i;

	TAILQ_INIT(out);
	if (q && evhttp_parse_query_str(q, out) < 0) {
		ctl_errf(err, errlen, "malformed query string");
		return PV_EINVAL;
	}
	TAILQ_FOREACH(kv, out, next)
	{
		for (i = 0; allowed[i] && strcmp(allowed[i], kv->key) != 0; i++)
			;
		if (!allowed[i] || evhttp_find_header(out, kv->key) != kv->value) {
			ctl_errf(err, errlen, "query parameter \"%.40s\": unknown or repeated",
			         kv->key);
			evhttp_clear_headers(out);
			return PV_EINVAL;
		}
	}
	return 0;
}
