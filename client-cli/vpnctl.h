/* SPDX-License-Identifier: MIT */
/*
 * client-cli/: vpnctl, the end user's client, and vpnadm, the operators'
 * client.  This header is the component's one internal interface: the
 * command runner both tools share (cli.c), the controller API client
 * (api.c), output helpers (out.c), the parallel latency probe (probe.c),
 * config and tunnel files (conf.c), the wg/wg-quick runner (wg.c), and the
 * commands (cmd_*.c for vpnctl, adm_*.c for vpnadm).  Library functions
 * return 0 or a negative PV_E* code (common/pv.h); only the commands print,
 * and they turn codes into the documented exit codes (docs/vpnctl.md,
 * docs/vpnadm.md).
 */
#ifndef PV_VPNCTL_H
#define PV_VPNCTL_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "pv.h"

/* ---- exit codes (docs/vpnctl.md) ------------------------------------------ */

enum vpnctl_exit {
	VX_OK = 0,
	VX_USAGE = 1,   /* bad command line, unknown server name */
	VX_AUTH = 2,    /* not logged in, or the key was refused (401) */
	VX_REFUSED = 3, /* server outside the tier (403) or full (409) */
	VX_NETWORK = 4, /* controller unreachable/failing, no server reachable, no handshake */
	VX_LOCAL = 5    /* not root, wg-quick missing, local files */
};

/* ---- fixed names ------------------------------------------------------------ */

/* One tunnel per machine; fits IFNAMSIZ (15), unlike the seed's privatevpn_<server>. */
#define VPNCTL_IFACE          "pvpn0"
#define VPNCTL_WG_DIR         "/etc/wireguard"
#define VPNCTL_PROBE_MS       1500 /* default per-probe timeout */
#define VPNCTL_HANDSHAKE_S    15   /* default wait for the first handshake */
#define VPNCTL_KEEP_PERCENT   20   /* keep the current server unless another is this much faster */
#define VPNCTL_KEEP_MIN_US    5000 /* ... and at least this much faster (µs) */
#define VPNCTL_MAX_REPLY      (1u << 20)
#define VPNCTL_MAX_KEY_LEN    200
#define VPNCTL_MAX_DEVICE_LEN 64

/* ---- command table (main.c) -------------------------------------------------- */

struct vpnctl_api_error;

/* Options a command may accept; the parser fills struct vpnctl_args. */
enum vpnctl_optid {
	OPT_JSON = 1U << 0,
	OPT_VERBOSE = 1U << 1,
	OPT_ALL = 1U << 2,
	OPT_DEVICE = 1U << 3,
	OPT_API = 1U << 4,
	OPT_CACERT = 1U << 5,
	OPT_TIMEOUT = 1U << 6,
	OPT_WAIT = 1U << 7,
	OPT_LIMIT = 1U << 8,
	OPT_CURSOR = 1U << 9
};

struct vpnctl_args {
	int json, verbose, all;
	const char *device; /* --device NAME */
	const char *api;    /* --api URL */
	const char *cacert; /* --cacert FILE */
	long timeout_ms;    /* --timeout MS: per-probe timeout */
	long wait_s;        /* --wait S: first-handshake timeout */
	long limit;         /* --limit N: one page of N (0 = every page) */
	const char *cursor; /* --cursor ID: the page after ID */
	int npos;           /* positional arguments after the options */
	char **pos;
};

struct vpnctl_cmd {
	const char *name;
	int (*run)(const struct vpnctl_args *args);
	unsigned opts;       /* OPT_* accepted */
	int max_pos;         /* positional arguments accepted */
	const char *pos_doc; /* "[SERVER]" */
	const char *summary; /* one line for `vpnctl --help` */
};

/* A client tool: its name (also its config directory), commands and manual. */
struct cli_tool {
	const char *name;
	const struct vpnctl_cmd *cmds;
	size_t ncmds;
	const char *doc;     /* "docs/vpnctl.md" */
	const char *summary; /* one line, for the man page's NAME */
};

/* The running tool's name ("vpnctl" until cli_main sets it): error prefix, config dir. */
extern const char *cli_program;

/* Parse argv against t's table and run the command; returns the exit code. */
int cli_main(const struct cli_tool *t, int argc, char **argv);

int cmd_login(const struct vpnctl_args *args);
int cmd_servers(const struct vpnctl_args *args);
int cmd_connect(const struct vpnctl_args *args);
int cmd_disconnect(const struct vpnctl_args *args);
int cmd_status(const struct vpnctl_args *args);
int cmd_revoke(const struct vpnctl_args *args);

/* vpnadm's commands (adm_*.c, docs/vpnadm.md). */
int adm_login(const struct vpnctl_args *args);
int adm_servers(const struct vpnctl_args *args);
int adm_users(const struct vpnctl_args *args);
int adm_user_show(const struct vpnctl_args *args);
int adm_user_issue_key(const struct vpnctl_args *args);
int adm_user_rotate_key(const struct vpnctl_args *args);
int adm_user_disable(const struct vpnctl_args *args);
int adm_user_tier(const struct vpnctl_args *args);
/* vpnadm's failure message for a vpnctl_api error; returns the exit code. */
int adm_fail(int r, const struct vpnctl_api_error *e, const char *what);
/*
 * One admin call with the stored vpnadm login: *reply (owned by the caller)
 * on success; prints the failure and returns its exit code otherwise.
 */
int adm_call(const char *what, const char *method, const char *path, json_t *body, json_t **reply);

/*
 * Parse argv (argv[0] is the command name) against cmd's option set.
 * Returns 0, VX_USAGE after printing the error and usage, or -1 when --help
 * was printed (the caller exits 0).
 */
int vpnctl_parse_args(const struct vpnctl_cmd *cmd, int argc, char **argv, struct vpnctl_args *out);

/* The tool's name + ": " + message on stderr (printf-like). */
void vpnctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Progress line on stderr, unless --json asked for a quiet stderr. */
void vpnctl_progress(const struct vpnctl_args *args, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Print j (stolen, may be NULL after a failed pack) on stdout; VX_OK or VX_LOCAL. */
int vpnctl_print_json(json_t *j);
/*
 * One row of a text table on stdout: cells[i] padded to widths[i] characters
 * (UTF-8 counted by character) for all but the last cell.
 */
void cli_table_row(const char *const *cells, const int *widths, size_t n);
/* "1.5 MiB": n bytes in binary units, for tables. */
void cli_human_bytes(char *buf, size_t len, uint64_t n);

/* ---- login config (conf.c) ------------------------------------------------ */

struct vpnctl_conf {
	char *api_url;     /* https://controller:8443 */
	char *api_key;     /* vpnctl: X-API-Key; secret, cleansed by vpnctl_conf_clear */
	char *admin_token; /* vpnadm: Authorization: Bearer; secret, cleansed likewise */
	char *cacert;      /* absolute path or NULL for the system store */
	char *device;      /* device name sent with provision/revoke */
};

/* Path of the login config file into buf: $XDG_CONFIG_HOME/TOOL/config.json,
 * else $HOME/.config/TOOL/config.json, TOOL being cli_program.  PV_EINVAL if
 * neither is set.  vpnctl's holds api_key, vpnadm's admin_token. */
int vpnctl_conf_path(char *buf, size_t len);
/* Load the login config; PV_ENOTFOUND if the user never logged in, PV_EINVAL
 * for a file wider than 0600 or malformed (err says which). */
int vpnctl_conf_load(struct vpnctl_conf *c, char *err, size_t errlen);
/* Write it atomically, mode 0600, creating the directory 0700. */
int vpnctl_conf_save(const struct vpnctl_conf *c, char *err, size_t errlen);
/* Free and cleanse the fields; c itself is the caller's. */
void vpnctl_conf_clear(struct vpnctl_conf *c);
/* API keys are the seed's userid_tier_sig: [A-Za-z0-9._-], 1..200 chars. */
int vpnctl_key_is_valid(const char *key);
/* Admin tokens: printable ASCII without spaces, 16..200 chars (fit a header line). */
int vpnctl_token_is_valid(const char *token);
/* One line of stdin (a key or token), newline dropped; owned by the caller, NULL at EOF. */
char *cli_secret_from_stdin(void);
/* Check an https:// URL, drop a trailing '/', store it in c; prints why not, returns VX_*. */
int cli_api_url_set(struct vpnctl_conf *c, const char *url);
/* Store the absolute path of a readable CA file in c; prints why not, returns VX_*. */
int cli_cacert_set(struct vpnctl_conf *c, const char *path);
/* Default device name: the host name with other characters dropped, or "default". */
void vpnctl_default_device(char *buf, size_t len);

/*
 * Write data to dir/name atomically with mode 0600 from the first instant:
 * umask 077, open(O_CREAT|O_EXCL, 0600) of a temp name in dir, write, fsync,
 * rename, fsync dir.  No temp file survives a failure.
 */
int vpnctl_write_secret_file(const char *dir, const char *name, const char *data, size_t len);

/* ---- tunnel config (conf.c) --------------------------------------------- */

/* What vpnctl remembers about the tunnel, kept as comments in its wg-quick file. */
struct vpnctl_tunnel {
	char server_id[32];
	char location[64];
	char device[VPNCTL_MAX_DEVICE_LEN + 1];
	char address[96]; /* the config's Address value */
};

/*
 * Build the wg-quick file from the controller's config (which must have
 * exactly one [Interface] line and no PrivateKey): a header with t, then the
 * config with "PrivateKey = priv_b64" right after [Interface].  *out is
 * owned by the caller and holds the key: free with OPENSSL_clear_free(*out,
 * strlen(*out)).  PV_EINVAL with a message in err for a bad config.
 */
int vpnctl_tunnel_build(char **out, const char *config, const char *priv_b64,
                        const struct vpnctl_tunnel *t, char *err, size_t errlen);
/* Read the header and Address back from a tunnel file's text. */
int vpnctl_tunnel_parse(struct vpnctl_tunnel *t, const char *text);
/* Load dir/IFACE.conf's header: PV_ENOTFOUND when there is no tunnel file. */
int vpnctl_tunnel_load(struct vpnctl_tunnel *t, const char *dir);

/* ---- server choice (probe.c) --------------------------------------------- */

struct vpnctl_server {
	int64_t rtt_us; /* valid when reachable */
	long load, capacity;
	unsigned port;
	int reachable;   /* probe answered (connected or refused) */
	int probe_error; /* curl code when not reachable */
	char id[32];
	char location[64];
	char region[32];
	char tier[16];
	char host[64];
	char status[16];                     /* up | down | unknown, as the controller reports */
	char public_key[PV_KEY_B64_LEN + 1]; /* the server's current WireGuard key, "" if unknown */
};

/*
 * Probe every server's host:port with a TCP connect, all in parallel on one
 * curl multi handle, each bounded by timeout_ms.  A connect that succeeds or
 * is refused (RST) took one round trip: reachable, rtt_us set.  Anything else
 * (timeout, no route) is unreachable.  fwmark, when non-zero, is set on the
 * sockets (SO_MARK) so probes bypass a running full tunnel.
 */
int vpnctl_probe(struct vpnctl_server *s, size_t n, long timeout_ms, uint32_t fwmark);

/*
 * Index of the healthy server (status "up" and reachable; if there is none,
 * "unknown" and reachable) with the lowest rtt, keeping `current` (may be NULL) unless another is
 * clearly faster (VPNCTL_KEEP_PERCENT and VPNCTL_KEEP_MIN_US).  -1 if none is healthy.
 */
int vpnctl_pick(const struct vpnctl_server *s, size_t n, const char *current);

/* ---- controller API (api.c) ---------------------------------------------- */

struct vpnctl_api_error {
	long status;   /* HTTP status, 0 when the request failed before */
	char code[32]; /* the controller's "code" */
	char msg[256]; /* the controller's "error" or curl's message */
};

/*
 * One request to the controller, authenticated with c's admin token when it
 * has one, else its API key: method "GET"/"POST", path "/api/...", body
 * (may be NULL; not stolen).  On 2xx *reply is the parsed JSON object (owned
 * by the caller).  Otherwise returns PV_EUNREACH (transport: curl's message in
 * e->msg), PV_EAUTH (401), PV_ETIER (403), PV_ENOTFOUND (404), PV_EFULL (409),
 * PV_EINVAL (400/413) or PV_EREMOTE (5xx, bad reply), e filled.
 */
int vpnctl_api(const struct vpnctl_conf *c, const char *method, const char *path, json_t *body,
               json_t **reply, struct vpnctl_api_error *e);

/* An easy handle for url limited to protocols, with environment proxies ignored,
 * both timeouts set and its sockets marked *fwmark (when non-zero; the value must
 * outlive the handle); NULL on ENOMEM.  Caller owns it (curl_easy_cleanup). */
CURL *vpnctl_curl_new(const char *url, const char *protocols, long connect_ms, long total_ms,
                      const uint32_t *fwmark);

/* Parse GET /api/servers into a new array (*out owned by caller, free()). */
int vpnctl_servers_parse(const json_t *reply, struct vpnctl_server **out, size_t *n);

/* Print e with the next step for the user and return the exit code. */
int vpnctl_api_fail(int r, const struct vpnctl_api_error *e, const char *what);
/* The exit code of a vpnctl_api failure (both tools use the same codes). */
int vpnctl_api_exit(int r);

/* ---- shared by the commands (cmd_servers.c) ------------------------------- */

struct vpnctl_fleet_view {
	char tier[16];
	struct vpnctl_server *servers; /* owned: free() */
	size_t n;
	uint32_t fwmark;       /* the running tunnel's fwmark, 0 if none */
	int64_t probe_wall_us; /* wall time of the whole parallel probe */
};

/* Load the tool's login config, explaining a missing login; returns a VX_* code. */
int vpnctl_login_load(struct vpnctl_conf *c);
/* GET /api/servers then probe them all; prints errors, returns a VX_* code. */
int vpnctl_fetch_servers(const struct vpnctl_conf *c, const struct vpnctl_args *args,
                         const char *what, struct vpnctl_fleet_view *v);
/* "0.4 ms" or "unreachable". */
void vpnctl_format_latency(char *buf, size_t len, const struct vpnctl_server *s);

/* ---- wg / wg-quick (wg.c) ------------------------------------------------ */

struct vpnctl_wg_peer {
	char public_key[PV_KEY_B64_LEN + 1];
	char endpoint[64];
	char allowed_ips[1024];   /* for display: a long split-tunnel list is cut */
	int64_t latest_handshake; /* unix seconds, 0 = never */
	uint64_t rx, tx;
};

struct vpnctl_wg_status {
	char public_key[PV_KEY_B64_LEN + 1]; /* the interface's own public key */
	uint32_t fwmark;
	int npeers;
	struct vpnctl_wg_peer peer; /* the first peer (vpnctl writes one) */
};

/*
 * Run argv (argv[0] looked up in PATH) without a shell; stdout captured into
 * *out if out is non-NULL (owned by caller), stderr captured into errbuf.
 * Returns the exit status (>= 0), or PV_ENOTFOUND if the program is missing,
 * PV_EIO if it could not be started.
 */
int vpnctl_run(const char *const argv[], char **out, char *errbuf, size_t errlen);
/* 1 if the network interface exists in this namespace. */
int vpnctl_iface_exists(const char *iface);
/* `wg show IFACE dump`, parsed; the private key column is never kept. */
int vpnctl_wg_status(const char *iface, struct vpnctl_wg_status *st);
/* Parse a dump text (exposed for tests); the text holds a private key. */
int vpnctl_wg_dump_parse(const char *dump, struct vpnctl_wg_status *st);
/* The running tunnel's fwmark (wg-quick sets one for a full tunnel), else 0. */
uint32_t vpnctl_tunnel_fwmark(void);
/* `wg-quick VERB IFACE`; stderr tail in errbuf on failure. */
int vpnctl_wg_quick(const char *verb, const char *iface, char *errbuf, size_t errlen);

#endif
