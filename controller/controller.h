/* SPDX-License-Identifier: MIT */
/*
 * controller/: the vpn-controller daemon — config, API-key auth, the HTTP(S)
 * front end, the provisioning/revoke/admin routes and the periodic health
 * pass.  This is the folder's one header; everything in it is internal to
 * the controller (library pv_controller + the vpn-controller executable).
 *
 * Threading: everything runs on the libevent loop thread except the
 * agentless completion callbacks, which only copy their result and
 * event_active() a job back onto the loop (push.c).
 */
#ifndef PV_CONTROLLER_H
#define PV_CONTROLLER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agentless.h"
#include "pv.h"

struct event_base;
struct evhttp;
struct evhttp_request;
struct evhttp_bound_socket;
struct event;
struct ssl_ctx_st;
struct bufferevent;
struct db;
struct db_peer;
struct db_user;
struct evbuffer;
struct ctl_metrics;

/* Controller-local error codes, next to pv.h's PV_E* in errors.c's table. */
enum ctl_err {
	CTL_EMETHOD = -100,   /* known path, wrong method */
	CTL_ETOOLARGE = -101, /* request body over the limit */
	CTL_ENOPATH = -102,   /* no such path */
	CTL_ESSHAUTH = -103,  /* a server refused the controller's SSH key (not the caller's) */
	CTL_ELIMITED = -104,  /* too many failed authentications from the client's address */
	CTL_EQUOTA = -105,    /* the user has as many devices as the tier allows */
	CTL_EDRAINING = -106  /* the server is draining: no new peers */
};
#define CTL_ERR_MAX CTL_EMETHOD /* controller codes run from CTL_ERR_MAX down to CTL_ERR_MIN */
#define CTL_ERR_MIN CTL_EDRAINING

/* ---- config.c ------------------------------------------------------------ */

/*
 * Everything the daemon is told: one JSON file (docs/controller.md), each
 * field overridable by a flag of the same name (--db-path for "db_path").
 * Strings are owned by the config.
 */
struct ctl_config {
	char *http_listen;    /* "127.0.0.1:8080", or NULL for no plain HTTP */
	char *https_listen;   /* "0.0.0.0:8443", or NULL for no HTTPS */
	char *metrics_listen; /* loopback "127.0.0.1:9108" for /metrics without a token, or NULL */
	char *tls_cert, *tls_key;
	char *db_path, *fleet_path;
	char *db_url; /* postgresql://… instead of db_path (docs/ha.md); never logged whole */
	char *ssh_identity, *known_hosts;
	char *secrets_file, *admin_token_file, *state_key_file;
	char *client_dns;         /* optional DNS line of client configs */
	char *client_allowed_ips; /* AllowedIPs of client configs */
	long max_body_bytes, max_header_bytes;
	long client_timeout_s, health_interval_s;
	long push_timeout_ms, connect_timeout_ms;
	long request_timeout_s;        /* deadline of one request's headers + body */
	long max_connections;          /* total, lowered to fit RLIMIT_NOFILE */
	long max_connections_per_addr; /* per IPv4 address / IPv6 /64 */
	long auth_fail_max;            /* failed authentications per address and window */
	long auth_fail_window_s;
	long max_devices_basic, max_devices_pro; /* distinct devices with peers, per tier */
	long peer_max_idle_days;                 /* 0 = keep idle peers forever */
	int allow_public_http;                   /* plain HTTP off loopback only when set */
};

/* New config holding the defaults; NULL on ENOMEM. Free with ctl_config_free. */
struct ctl_config *ctl_config_new(void);
void ctl_config_free(struct ctl_config *cfg);
/* Merge a JSON config file; errors name the file and the field. */
int ctl_config_load(struct ctl_config *cfg, const char *path, char *err, size_t errlen);
/* Set one field by name ("db_path") from a string, as the flags do. */
int ctl_config_set(struct ctl_config *cfg, const char *name, const char *value, char *err,
                   size_t errlen);
/* Check required fields and their combinations once everything is merged. */
int ctl_config_check(const struct ctl_config *cfg, char *err, size_t errlen);
/* Print the flag list (one per config field) on stderr. */
void ctl_config_usage(void);
/*
 * Split "host:port" or "[v6]:port" into host (NUL-terminated) and port.
 * Port 0 is accepted (the kernel picks one); anything else is PV_EINVAL.
 */
int ctl_listen_parse(const char *s, char *host, size_t hostlen, uint16_t *port);

/* ---- init.c and man.c: first-run setup and the man page ------------------- */

/* Where the packaged service keeps its state (systemd StateDirectory=privatevpn). */
#define CTL_STATE_DIR "/var/lib/privatevpn"
#define CTL_SYNOPSIS  "vpn-controller [-c CONFIG.json] [--FIELD VALUE]..."
#define CTL_SYNOPSIS_INIT                                                                          \
	"vpn-controller --init DIR [--tls-cert FILE --tls-key FILE] [--tls-name NAME] "            \
	"[--ssh-identity FILE]"

/*
 * `vpn-controller --init DIR ...` (argv[0] is "--init"): write a config and
 * fresh secrets, keys and a certificate into DIR, never overwriting.
 * Prints what it made and the next steps; returns the exit status.
 */
int ctl_init_main(int argc, char **argv);
/* The --init flags, for --init --help and for the man page. */
void ctl_init_usage(FILE *f);
void ctl_init_man(FILE *f);
/* The config fields as man page items (config.c's table). */
void ctl_config_man(FILE *f);
/* `vpn-controller --man`: the whole roff page on stdout; returns the exit status. */
int ctl_man_main(void);

/* ---- auth.c --------------------------------------------------------------- */

/* Current and previous API secrets (previous may be NULL); owned, cleansed on free. */
struct ctl_secrets {
	char *current;
	char *previous;
};

#define CTL_USER_MAX    PV_USER_ID_MAX
#define CTL_SIG_HEX     16
#define CTL_KEY_GEN_MAX 2147483647U /* key generations fit SQLite's and C's int */

/*
 * Load the secrets file: first line the current secret, optional second line
 * the previous one.  The file must be 0600 or stricter.
 */
int ctl_secrets_load(struct ctl_secrets *s, const char *path, char *err, size_t errlen);
void ctl_secrets_clear(struct ctl_secrets *s);
/* Load the admin token file (one line, >= 16 chars, 0600); *out owned by caller. */
int ctl_admin_token_load(char **out, const char *path, char *err, size_t errlen);
/*
 * sig = first 16 hex of HMAC-SHA256(secret, "user:tier") for key generation
 * 0 (the seed's snippet), of "user:tier:GEN" for a later generation.
 */
int ctl_key_sign(char sig[CTL_SIG_HEX + 1], const char *secret, const char *user, const char *tier,
                 unsigned gen);
/*
 * Full key into out: "user_tier_sig" for generation 0 (the seed's format),
 * "user_tier_sig-GEN" after; PV_EINVAL if it does not fit.
 */
int ctl_key_make(char *out, size_t outlen, const char *secret, const char *user, enum pv_tier tier,
                 unsigned gen);
/*
 * Verify an API key against both secrets, in constant time.  On success
 * fills user (>= 65 bytes), *tier and *gen (the key generation it carries);
 * PV_EAUTH otherwise.  Does not look at the DB: the caller checks that the
 * user exists, is active, has that tier and that key generation.
 */
int ctl_key_verify(const struct ctl_secrets *s, const char *key, char *user, enum pv_tier *tier,
                   unsigned *gen);
/* Check an "Authorization" header value "Bearer <token>" in constant time. */
int ctl_admin_verify(const char *token, const char *header);

/* ---- errors.c -------------------------------------------------------------- */

/* HTTP status and JSON "code" for a PV_E* or CTL_E* error (docs/api.md). */
int ctl_err_status(int err, const char **code);
/* The error to answer for a failed push: the server's SSH refusal is not the caller's 401. */
int ctl_push_cause(int err);
/* snprintf into an error buffer (the err/errlen pair every loader takes). */
void ctl_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- wgconf.c --------------------------------------------------------------- */

/*
 * The WireGuard endpoint "host:port" ("[v6]:port") of the interface that
 * holds lease on srv (wg0's port for a lease srv does not have).
 */
void ctl_endpoint(char *out, size_t outlen, const struct pv_server *srv, unsigned lease);
/* "V4/24, V6/64": a client's Address line for lease; PV_EINVAL if srv has no such lease. */
int ctl_lease_address(char *out, size_t outlen, const struct pv_server *srv, unsigned lease);

struct ctl_wgconf {
	const struct pv_server *srv;
	unsigned host;                 /* the lease (pv_lease) */
	const char *private_key;       /* base64, or NULL when the client keeps its own */
	const char *server_public_key; /* base64 */
	const char *psk;               /* base64 */
	const char *dns;               /* NULL or "" for none */
	const char *allowed_ips;
};

/*
 * Render wireguard-install.sh's client config.  *out is a new string owned
 * by the caller, which holds secrets: free it with OPENSSL_clear_free(*out, strlen + 1).
 */
int ctl_wgconf_render(char **out, const struct ctl_wgconf *c);

/* ---- limits.c: per-address connection counts and failed-auth windows ---------- */

struct sockaddr;
struct ctl_addrs;

/* Monotonic clock in seconds. */
int64_t ctl_mono_s(void);
/* Table key of a client: its IPv4 address, or its IPv6 /64.  PV_EINVAL for other families. */
int ctl_addr_key(unsigned char key[16], const struct sockaddr *sa);
/* Numeric address of sa into buf ("?" when unknown). */
void ctl_addr_name(char *buf, size_t len, const struct sockaddr *sa);
/* Fixed-size table for max_conns connections plus tracked failures; NULL on ENOMEM. */
struct ctl_addrs *ctl_addrs_new(size_t max_conns, long per_addr, long fail_max, long window_s);
void ctl_addrs_free(struct ctl_addrs *t);
/* One more connection of key; PV_EBUSY over the per-address cap or when the table is full. */
int ctl_addrs_conn_add(struct ctl_addrs *t, const unsigned char key[16]);
void ctl_addrs_conn_del(struct ctl_addrs *t, const unsigned char key[16]);
/* Seconds until key may try to authenticate again; 0 when it may now. */
long ctl_addrs_auth_blocked(struct ctl_addrs *t, const unsigned char key[16]);
/*
 * Count a failed authentication of key.  Returns 1 when this failure
 * started a block (log it), 2 while blocked, 0 otherwise; *retry_s is the
 * block's remaining seconds.
 */
int ctl_addrs_auth_failed(struct ctl_addrs *t, const unsigned char key[16], long *retry_s);

/* ---- the daemon ------------------------------------------------------------ */

/* A `pv<N>` block the DB does not know, first seen at first_seen_ms (reconcile.c). */
struct ctl_stale {
	char server_id[PV_SERVER_ID_MAX + 1];
	char name[PV_PEER_NAME_MAX + 1];
	uint64_t first_seen_ms;
};
#define CTL_STALE_MAX 1024

struct ctl {
	struct ctl_config *cfg;
	struct ctl_secrets secrets;
	char *admin_token;
	struct event_base *base;
	struct evhttp *http, *https, *metrics_http;
	struct evhttp_bound_socket *http_sock, *https_sock, *metrics_sock;
	struct ssl_ctx_st *ssl_ctx;
	struct ctl_conns *conns; /* conn.c */
	struct db *db;
	char db_name[256]; /* db_path, or db_url without its password (db_describe) */
	/*
	 * On PostgreSQL (db_url), several controllers share the DB and one at a
	 * time is the leader, running the health passes (and with them the
	 * reconciles and usage accounting): leader_db is the session holding
	 * the leader lock (leader.c).  On SQLite leader_db is NULL and leader 1.
	 */
	struct db *leader_db;
	int leader;
	struct pv_fleet *fleet;    /* PV_FLEET_MAX slots (fleet.c) */
	unsigned char *fleet_gone; /* per slot: 1 once removed */
	struct agentless *pool;
	struct event *health_timer;
	unsigned health_pending; /* dumps of the current pass still out */
	int health_startup;      /* 1 during the startup pass */
	int64_t started_at;      /* unix seconds; older non-ACTIVE rows are leftovers */
	struct ctl_stale *stale; /* CTL_STALE_MAX slots, owned */
	size_t nstale;
	struct ctl_metrics *metrics; /* owned; metrics.c */
	struct ctl_group *group;     /* group commit (group.c), owned; NULL until first used */
	struct ctl_users *users; /* user rows cache (usercache.c), owned; NULL until first used */
	struct ctl_servers_view
	        *servers_view; /* GET /api/servers snapshot, owned; NULL until used */
	struct ctl_server_ifaces *ifaces_health; /* PV_FLEET_MAX slots (health.c), owned;
	                                            NULL until the first health pass */
};

/* Arguments of a request body, validated against the route's field list. */
enum ctl_arg {
	CTL_ARG_SERVER = 1U << 0,
	CTL_ARG_DEVICE = 1U << 1,
	CTL_ARG_PUBKEY = 1U << 2,
	CTL_ARG_USER = 1U << 3,
	CTL_ARG_TIER = 1U << 4,
	CTL_ARG_ALL = 1U << 5,
	CTL_ARG_ENTRY = 1U << 6 /* the body is a servers.json entry, checked by the handler */
};

struct ctl_args {
	unsigned set; /* CTL_ARG_* present */
	char server_id[32];
	char device[65];
	char public_key[PV_KEY_B64_LEN + 1];
	char user_id[CTL_USER_MAX + 1];
	enum pv_tier tier;
	int all;
};

/* Longest "*" segment of a route path (a user id; server ids are shorter). */
#define CTL_PATH_ARG_MAX CTL_USER_MAX

/* One request in flight; freed by the reply. */
struct ctl_req {
	struct ctl *ctl;
	struct evhttp_request *req;
	uint64_t start_us;
	const char *method;
	const char *route;                   /* the route table's path, NULL when none matched */
	const char *code;                    /* the JSON error code replied, NULL for success */
	char path_arg[CTL_PATH_ARG_MAX + 1]; /* the route's "*" segment, "" without one */
	char path[64];
	char user[CTL_USER_MAX + 1]; /* authenticated user, "-" before/without */
	enum pv_tier tier;           /* the user's tier once authenticated */
	struct ctl_args args;
	struct ctl_req *held_next; /* group.c: a reply held until the group commits */
	int held_status;
	json_t *held_body;
};

/* ---- http.c ----------------------------------------------------------------- */

/* Route jansson's allocations through a cleansing allocator (call before any json_*). */
void ctl_json_secure_alloc(void);
/* Free what jansson allocated for us (json_dumps output). */
void ctl_json_free(void *p);
/* printf-style line on stderr with a UTC timestamp. */
void ctl_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Create both evhttp front ends, bind them (accepting only after ctl_http_enable). */
int ctl_http_start(struct ctl *ctl, char *err, size_t errlen);
/* Start accepting connections. */
void ctl_http_enable(struct ctl *ctl);
/*
 * Load tls_cert/tls_key again into a new SSL_CTX for new connections; open
 * ones keep theirs.  On failure the old context stays.  0 without HTTPS.
 */
int ctl_tls_reload(struct ctl *ctl, char *err, size_t errlen);
void ctl_http_stop(struct ctl *ctl);
/* Reply with a JSON body (reference stolen), log the access line, free rq. */
void ctl_reply(struct ctl_req *rq, int status, json_t *body);
/* JSON 500 "out of memory" for a request that has no ctl_req. */
void ctl_reply_nomem(struct evhttp_request *req);
/* Reply with a non-JSON body (borrowed) of that Content-Type; log, count, free rq. */
void ctl_reply_text(struct ctl_req *rq, int status, const char *content_type,
                    struct evbuffer *body);
/* Reply with {"error": msg, "code": ...} for a PV_E* or CTL_E* code. */
void ctl_reply_error(struct ctl_req *rq, int err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Body bytes of a request (not NUL-terminated) and their length. */
const char *ctl_req_body(struct ctl_req *rq, size_t *len);

/*
 * evhttp's own body limit sits this far above max_body_bytes, so that up to
 * there clients get our JSON 413 rather than evhttp's HTML one (http.c); a
 * connection's input is bounded to the same size plus headers (conn.c).
 */
#define CTL_EVHTTP_BODY_MARGIN (1 << 20)

/* ---- conn.c: connection caps, request deadlines, buffer bounds, accept pauses ---- */

struct evhttp_connection;

/* Size the connection table from the config and RLIMIT_NOFILE (logs the limits). */
int ctl_conns_start(struct ctl *ctl, char *err, size_t errlen);
/* Make http's connections ours (tls: OpenSSL bufferevents) and watch sock's accept errors. */
void ctl_conns_attach(struct ctl *ctl, struct evhttp *http, struct evhttp_bound_socket *sock,
                      int tls);
/* After evhttp_free of both front ends. */
void ctl_conns_stop(struct ctl *ctl);
/*
 * The HTTPS front's bufferevent for evhttp's bevcb: server-side OpenSSL on a
 * new SSL of ctx, no socket yet (evhttp sets it); NULL on error.  evhttp owns
 * what it returns.  Also used by bench/ctl_bare_evhttp.c, so its bare server
 * speaks TLS exactly as the controller does.
 */
struct bufferevent *ctl_tls_bufferevent(struct event_base *base, struct ssl_ctx_st *ctx);
/* A whole request arrived: stop its deadline until the reply is sent. */
void ctl_conn_request(struct ctl *ctl, struct evhttp_request *req);
/* The client's table key and numeric address; PV_EINVAL when unknown (name "?"). */
int ctl_conn_peer(struct evhttp_request *req, unsigned char key[16], char *name, size_t namelen);
/* The per-address table (failed-auth windows). */
struct ctl_addrs *ctl_conns_addrs(struct ctl *ctl);
/*
 * Copy src (srclen bytes) into dst as printable ASCII: control bytes, DEL
 * and bytes >= 0x80 become \xHH; truncated whole escapes at a time; always
 * NUL-terminated.  For paths and names that reach the log or a JSON message.
 */
void ctl_escape(char *dst, size_t dstlen, const char *src, size_t srclen);
/* ---- group.c ---------------------------------------------------------------- */

typedef void (*ctl_group_fn)(void *arg);
/*
 * Run fn(arg) in the next group: after the loop has handled what is ready,
 * in one DB transaction with the other steps queued by then (one fsync).
 * Replies made while the group runs are held until its commit.  0, PV_ENOMEM.
 */
int ctl_group_add(struct ctl *ctl, ctl_group_fn fn, void *arg);
/* Called by ctl_reply: 1 if the reply is held for the running group's commit. */
int ctl_group_hold(struct ctl_req *rq, int status, json_t *body);
/* Run what is still queued, then free the group state (shutdown). */
void ctl_group_free(struct ctl *ctl);

/* ---- usercache.c ------------------------------------------------------------ */

/* db_user_get through a cache of the rows authenticated requests needed. */
int ctl_user_get(struct ctl *ctl, const char *user, struct db_user *out);
/*
 * Drop every cached user row.  Every admin change of a user (tier, active,
 * key) must call it after its DB write, so the next request sees the change.
 */
void ctl_users_changed(struct ctl *ctl);
void ctl_users_free(struct ctl *ctl);

/* ---- routes.c --------------------------------------------------------------- */

/* evhttp general callback: method/path dispatch, size, JSON body, auth. */
void ctl_dispatch(struct evhttp_request *req, void *arg);
/* The same for metrics_listen: only GET /metrics, without a token (loopback only). */
void ctl_dispatch_metrics(struct evhttp_request *req, void *arg);
/*
 * Parse rq's query string into out (which the caller clears with
 * evhttp_clear_headers on success).  Parameters outside the NULL-ended
 * allowed list, or given twice, are PV_EINVAL with err naming them.
 */
struct evkeyvalq;
int ctl_query_parse(struct ctl_req *rq, const char *const *allowed, struct evkeyvalq *out,
                    char *err, size_t errlen);
/*
 * Validate a JSON request body against a whitelist and fill args.  On error
 * writes a message naming the field.  Exposed for the unit tests and fuzzers.
 */
int ctl_args_parse(struct ctl_args *args, const char *body, size_t len, unsigned allowed,
                   unsigned required, char *err, size_t errlen);

/* ---- api_*.c: handlers; each ends in exactly one reply ------------------------ */

void api_health(struct ctl_req *rq);
void api_servers(struct ctl_req *rq);
void api_admin_servers(struct ctl_req *rq);
/* Free the GET /api/servers snapshot (shutdown). */
void ctl_servers_view_free(struct ctl *ctl);
void api_provision(struct ctl_req *rq);
void api_revoke(struct ctl_req *rq);
void api_generate_key(struct ctl_req *rq);
void api_user_disable(struct ctl_req *rq);
void api_user_tier(struct ctl_req *rq);
void api_user_rotate_key(struct ctl_req *rq);
void api_users_list(struct ctl_req *rq);
void api_user_show(struct ctl_req *rq);
void api_user_config(struct ctl_req *rq); /* api_user_config.c: provision for a user's phone */
void api_server_reconcile(struct ctl_req *rq);
void api_server_show(struct ctl_req *rq);
void api_server_add(struct ctl_req *rq);
void api_server_update(struct ctl_req *rq);
void api_servers_export(struct ctl_req *rq);
void api_server_remove(struct ctl_req *rq);
void api_server_bootstrap(struct ctl_req *rq);
void api_server_drain(struct ctl_req *rq); /* and undrain, by the path's last segment */
void api_usage(struct ctl_req *rq);

/* ---- push.c: agentless results back onto the loop thread ----------------------- */

struct ctl_job;
typedef void (*ctl_job_done)(struct ctl_job *job);

/* A push or dump result, handed to done on the loop thread, then freed. */
struct ctl_job {
	struct ctl *ctl;
	struct event *ev;
	ctl_job_done done;
	void *arg;
	size_t index; /* caller's slot (which peer of a batch) */
	int err;
	char detail[1024];           /* as long as the pool's messages */
	struct agentless_dump *dump; /* dump jobs: a private copy, NULL on error */
	/* edits: where it went and, for a removed live peer, its last counters */
	char server_id[PV_SERVER_ID_MAX + 1];
	char pubkey[PV_KEY_B64_LEN + 1];
	struct agentless_final final;
};

/*
 * Queue an edit on a server; done(job) runs on the loop later, exactly once.
 * On an immediate refusal returns the error and done is not called.
 */
int ctl_push(struct ctl *ctl, const char *server_id, const struct agentless_edit *edit,
             ctl_job_done done, void *arg, size_t index);
/* Queue n edits as one batch (one round trip); done(job) per edit, job->index = i. */
int ctl_push_batch(struct ctl *ctl, const char *server_id, const struct agentless_edit *edits,
                   size_t n, ctl_job_done done, void *arg);
/* Dump a server (and the PSKs of the blocks in psk_names[n]); same contract as ctl_push. */
int ctl_dump(struct ctl *ctl, const char *server_id, const char *const *psk_names, size_t n,
             ctl_job_done done, void *arg);
/* Remove a peer the DB knows (name + public key) from its server. */
int ctl_push_remove(struct ctl *ctl, const struct db_peer *p, ctl_job_done done, void *arg,
                    size_t index);
/* Same, with job->arg a heap copy of p that done() must free(). */
int ctl_push_remove_copy(struct ctl *ctl, const struct db_peer *p, ctl_job_done done);

/* ---- fanout.c: fleet-wide fan-out of removals ----------------------------- */

struct ctl_fanout;
typedef void (*ctl_fanout_done)(struct ctl_fanout *fo);

/* A batch of removals pushed in parallel; rows of failed servers are kept. */
struct ctl_fanout {
	struct ctl_req *rq;
	struct db_peer *peers; /* owned */
	size_t n;
	int *errs; /* per peer */
	size_t pending;
	ctl_fanout_done done;
	size_t revoked;
	int first_err;
};

/*
 * Revoke every peer in peers (ownership taken): mark REMOVING, push the
 * removals, delete the rows that went, put back the others; then done(fo)
 * on the loop thread, which must reply and call ctl_fanout_free.
 */
void ctl_fanout_start(struct ctl_req *rq, struct db_peer *peers, size_t n, ctl_fanout_done done);
void ctl_fanout_free(struct ctl_fanout *fo);
/* Reply 200 {"revoked", "servers"} plus extra fields, or 503 naming failed servers. */
void ctl_fanout_reply(struct ctl_fanout *fo, json_t *extra);

/* ---- metrics.c: Prometheus exposition ---------------------------------------------- */

/* Allocate ctl->metrics and observe the DB's commits (call after the DB is open). */
int ctl_metrics_new(struct ctl *ctl);
/* Stop observing and free; NULL-safe. */
void ctl_metrics_free(struct ctl *ctl);
/* Count one reply: route and status, its latency, and the result of provisions and revokes. */
void ctl_metrics_request(struct ctl *ctl, const struct ctl_req *rq, int status, uint64_t us);
/* The pool's round-trip hook (arg: ctl->metrics); safe from its worker threads. */
void ctl_metrics_round_trip(void *arg, const char *server_id, uint64_t us, int err);
/* GET /metrics: text exposition format 0.0.4. */
void api_metrics(struct ctl_req *rq);
/* ---- reconcile.c ------------------------------------------------------------------ */

/*
 * Bring srv back to the DB from its dump d (borrowed; used before return),
 * in one batch (docs/reconcile.md).  With rq, answer it with what was
 * repaired once the batch is back; without, log only.
 */
void ctl_reconcile(struct ctl *ctl, const struct pv_server *srv, const struct agentless_dump *d,
                   struct ctl_req *rq);
/*
 * Read a server for a reconcile: its dump, plus the PSKs of its ACTIVE
 * peers that predate sealed PSKs, which the reconcile then seals and keeps.
 */
int ctl_reconcile_read(struct ctl *ctl, const char *server_id, ctl_job_done done, void *arg);

/* ---- fleet.c: the fleet and its source of truth (docs/fleet.md) ------------------- */

/* Import servers.json on the first start, then load the fleet from the DB. */
int ctl_fleet_open(struct ctl *ctl, char *err, size_t errlen);
/* The server with that id in the fleet (borrowed, never moves), NULL if unknown or removed. */
const struct pv_server *ctl_server(const struct ctl *ctl, const char *id);
/* Slot i < ctl->fleet->n, NULL once removed. */
const struct pv_server *ctl_server_at(const struct ctl *ctl, size_t i);
/*
 * Add a server from its servers.json entry (borrowed), which must pin its
 * ssh.host_key: validated with the fleet, stored, its SSH worker started.
 * *out is its slot.  PV_EINVAL/PV_EEXIST/PV_EFULL with err for the caller.
 */
int ctl_fleet_add(struct ctl *ctl, json_t *entry, const struct pv_server **out, char *err,
                  size_t errlen);
/*
 * Retire s (PV_EEXIST while it has peers), forget it until the next start
 * and stop its SSH worker (agentless_remove_server): its session closes.
 */
int ctl_fleet_remove(struct ctl *ctl, const struct pv_server *s);
/*
 * Replace s's entry by entry (a servers.json entry, borrowed) that only
 * appends WireGuard interfaces; stored now, in effect at the next start (the
 * running fleet and its workers keep theirs: nothing changes under them).
 * *n_ifaces is the entry's count.  PV_EINVAL naming the field otherwise.
 */
int ctl_fleet_update(struct ctl *ctl, const struct pv_server *s, json_t *entry, size_t *n_ifaces,
                     char *err, size_t errlen);
/* The current fleet as a servers.json text; *out owned (ctl_json_free). */
int ctl_fleet_export(struct ctl *ctl, char **out, char *err, size_t errlen);

/* ---- leader.c ------------------------------------------------------------------- */

/*
 * Check (once per health period) whether this controller is the leader,
 * taking the lead when it is free; logs and audits becoming the leader.
 * 1 or 0.  Always 1 on SQLite.
 */
int ctl_leader_check(struct ctl *ctl);
/*
 * Non-ACTIVE rows last updated before this (unix seconds) are crash
 * leftovers.  Alone on SQLite: rows from before this controller started.
 * On a shared DB, another controller's provision may be in flight: rows
 * older than the longest a push can take.
 */
int64_t ctl_leftover_before(const struct ctl *ctl);
/*
 * 1 during the startup pass of a controller alone on its DB, when every
 * non-ACTIVE row and unknown pv<N> block is a leftover; never on a shared DB.
 */
int ctl_alone_at_startup(const struct ctl *ctl);

/* ---- health.c ------------------------------------------------------------------- */

/* Run the startup pass now (then enable HTTP) and every health_interval_s after. */
int ctl_health_start(struct ctl *ctl);
/* A health pass of one server now (a bootstrapped one: up without waiting for the timer). */
int ctl_health_server(struct ctl *ctl, const struct pv_server *s);

/* One WireGuard interface of a server as a health pass saw it. */
struct ctl_iface_health {
	int live_peers;              /* peers on the interface */
	int active_peers;            /* of those, with a handshake in the last 180 s */
	uint64_t rx_bytes, tx_bytes; /* totals of their counters */
};
/* Every interface of a server at its last health pass (kept in memory, not in the DB). */
struct ctl_server_ifaces {
	int checked; /* 0 until the first pass; all zero while the server is down */
	struct ctl_iface_health ifc[PV_IFACES_MAX];
};
/*
 * Count a dump's live peers by the interface they are on (pv_wg_peer.iface)
 * into out[PV_IFACES_MAX], zeroed first; now is unix seconds, for the
 * handshake window.  A peer with an index past PV_IFACES_MAX is not counted.
 */
void ctl_iface_health_count(const struct pv_wg_dump *live, int64_t now,
                            struct ctl_iface_health out[PV_IFACES_MAX]);
/* Server s's interfaces at its last health pass (borrowed), NULL before the first. */
const struct ctl_server_ifaces *ctl_iface_health(const struct ctl *ctl, const struct pv_server *s);

/* ---- ifaces.c: the per-interface view (metrics, admin) --------------------------- */

/* One WireGuard interface of a server: its leases (DB) and its last health pass (memory). */
struct ctl_iface_view {
	const struct pv_server *server;        /* borrowed from the fleet */
	unsigned iface;                        /* index in server->ifaces[] */
	int leases_used;                       /* peers in any state and foreign reservations */
	const struct ctl_iface_health *health; /* borrowed; NULL before the first pass */
};
/*
 * Rows for every interface of server s (NULL: of every server in the fleet,
 * in fleet order, each server's rows together), from one DB query.  *out is
 * a new array owned by the caller (free()), valid while the fleet is; *n may
 * be 0.  PV_EDB (db_errmsg says why) or PV_ENOMEM.
 */
int ctl_iface_view(struct ctl *ctl, const struct pv_server *s, struct ctl_iface_view **out,
                   size_t *n);

#endif
