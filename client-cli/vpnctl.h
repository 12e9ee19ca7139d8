/* SPDX-License-Identifier: MIT */
/*
 * client-cli/: vpnctl, the end user's client, and vpnadm, the operators'
 * client.  This header is the component's one internal interface: the
 * command runner both tools share (cli.c), the controller API client
 * (api.c), output helpers (out.c), the parallel latency probe (probe.c),
 * config and tunnel files (conf.c), the wg/wg-quick runner (wg.c), and the
 * commands (cmd_*.c for vpnctl, adm_*.c for vpnadm).
 *
 * Two kinds of function, two return conventions, never mixed:
 * - the library (api.c, conf.c, probe.c, reroute.c, split.c, tunnel.c, wg.c, qr.c,
 *   killswitch.c) prints nothing and returns 0 or a negative PV_E* code
 *   (common/pv.h), tested with `if (r < 0)`;
 * - the front (cli.c, out.c, calls.c, cmd_*.c, adm_*.c, and the commands'
 *   helpers such as vpnctl_api_fail or hop.c's vpnctl_hop_up) prints what
 *   went wrong and returns a VX_* exit code (docs/vpnctl.md, docs/vpnadm.md),
 *   tested with `if (r)`; VX_OK is 0.
 */
#ifndef PV_VPNCTL_H
#define PV_VPNCTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
#define VPNCTL_HOP_IFACE      "pvpn1"  /* multi-hop: the entry tunnel */
#define VPNCTL_ROTATE_IFACE   "pvpn0r" /* rotate: carries the traffic while pvpn0 changes key */
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

/* Split tunnelling options (split.c applies them). */
#define VPNCTL_MAX_SPLIT 16 /* --include / --exclude CIDRs each */

struct vpnctl_split {
	struct pv_cidr include[VPNCTL_MAX_SPLIT]; /* only these through the tunnel */
	size_t n_include;
	struct pv_cidr exclude[VPNCTL_MAX_SPLIT]; /* never through the tunnel */
	size_t n_exclude;
	int allow_lan; /* private, link-local and multicast ranges stay outside */
};

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
	OPT_CURSOR = 1U << 9,
	OPT_EXCLUDE = 1U << 10,
	OPT_INCLUDE = 1U << 11,
	OPT_ALLOW_LAN = 1U << 12,
	OPT_KILL_SWITCH = 1U << 13,
	OPT_KEEP_LOCKED = 1U << 14,
	OPT_WATCH = 1U << 15,
	OPT_VIA = 1U << 16,
	OPT_QR = 1U << 17,
	OPT_QR_PNG = 1U << 18,
	OPT_OUTPUT = 1U << 19,
	OPT_FORCE = 1U << 20,
	OPT_FROM = 1U << 21,
	OPT_TO = 1U << 22
};

struct vpnctl_args {
	int help_shown; /* vpnctl_parse_args printed --help: nothing to run */
	int json, verbose, all;
	const char *device;        /* --device NAME */
	const char *api;           /* --api URL */
	const char *cacert;        /* --cacert FILE */
	long timeout_ms;           /* --timeout MS: per-probe timeout */
	long wait_s;               /* --wait S: first-handshake timeout */
	long limit;                /* --limit N: one page of N (0 = every page) */
	const char *cursor;        /* --cursor ID: the page after ID */
	struct vpnctl_split split; /* --include, --exclude, --allow-lan */
	int kill_switch;           /* --kill-switch */
	int keep_locked;           /* --keep-locked */
	int watch;                 /* --watch */
	const char *via;           /* --via ENTRY: multi-hop entry server */
	int qr;                    /* --qr: the exported config as a QR code on the terminal */
	const char *qr_png;        /* --qr-png FILE: ... as a PNG file */
	const char *output;        /* --output FILE: ... as a wg-quick file */
	int force;                 /* --force */
	const char *from;          /* --from DAY (YYYY-MM-DD) */
	const char *to;            /* --to DAY */
	int npos;                  /* positional arguments after the options */
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
/* `TOOL --completion bash`: a bash completion script from t's tables. */
void cli_print_completion(FILE *f, const struct cli_tool *t);

int cmd_login(const struct vpnctl_args *args);
int cmd_servers(const struct vpnctl_args *args);
int cmd_connect(const struct vpnctl_args *args);
int cmd_disconnect(const struct vpnctl_args *args);
int cmd_status(const struct vpnctl_args *args);
int cmd_revoke(const struct vpnctl_args *args);
int cmd_set(const struct vpnctl_args *args);
int cmd_rotate(const struct vpnctl_args *args);
int cmd_export(const struct vpnctl_args *args);

/* vpnadm's commands (adm_*.c, docs/vpnadm.md). */
int adm_login(const struct vpnctl_args *args);
int adm_servers(const struct vpnctl_args *args);
int adm_users(const struct vpnctl_args *args);
int adm_user_show(const struct vpnctl_args *args);
int adm_user_issue_key(const struct vpnctl_args *args);
int adm_user_rotate_key(const struct vpnctl_args *args);
int adm_user_disable(const struct vpnctl_args *args);
int adm_user_tier(const struct vpnctl_args *args);
int adm_user_config(const struct vpnctl_args *args);
int adm_server_show(const struct vpnctl_args *args);
int adm_server_add(const struct vpnctl_args *args);
int adm_server_bootstrap(const struct vpnctl_args *args);
int adm_server_drain(const struct vpnctl_args *args);
int adm_server_undrain(const struct vpnctl_args *args);
int adm_server_remove(const struct vpnctl_args *args);
int adm_server_reconcile(const struct vpnctl_args *args);
int adm_server_export(const struct vpnctl_args *args);
int adm_usage(const struct vpnctl_args *args);
/* vpnadm's failure message for a vpnctl_api error; returns the exit code. */
int adm_fail(int r, const struct vpnctl_api_error *e, const char *what);
/*
 * One admin call with the stored vpnadm login: *reply (owned by the caller)
 * on success; prints the failure and returns its exit code otherwise.
 */
int adm_call(const char *what, const char *method, const char *path, json_t *body, json_t **reply);

/*
 * Parse argv (argv[0] is the command name) against cmd's option set.
 * Returns VX_OK, or VX_USAGE after printing the error and usage.  When it
 * printed --help instead, out->help_shown is set and the caller exits 0.
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

/* ---- controller calls shared by the commands (calls.c) --------------------- */

/* POST /api/provision for device on server_id with our public key (NULL: the
 * controller makes the pair, for `export`); *reply owned by the caller.
 * Errors are printed ("what: ..."); returns VX_*. */
int vpnctl_provision(const struct vpnctl_args *args, const struct vpnctl_conf *conf,
                     const char *what, const char *server_id, const char *device,
                     const char *pub_b64, json_t **reply);
/* One empty datagram to .1 of the client's IPv4 /24: WireGuard handshakes now (wg.c).
 * With iface non-NULL the datagram leaves through iface whatever the routes say. */
void vpnctl_nudge(const char *iface, const char *client_ipv4);
/* Best-effort POST /api/revoke of one device's peer; reports, never fails. */
void vpnctl_revoke_quietly(const struct vpnctl_conf *conf, const char *what, const char *server_id,
                           const char *device);

/* ---- automatic failover (cmd_connect.c, watch.c) ---------------------------- */

#define VPNCTL_WATCH_S 5 /* seconds between two checks of the tunnel */

/*
 * Switch the running tunnel to the best healthy server other than avoid
 * (the one failing), as `connect` without a name would; the kill switch, if
 * on, stays in force.  conf stays the caller's.  Returns a VX_* code.
 */
int vpnctl_connect_switch(const struct vpnctl_args *args, const struct vpnctl_conf *conf,
                          const char *avoid);
/*
 * `connect --watch`: stay in the foreground and switch servers when the
 * tunnel fails (no handshake and nothing received for 3 keepalive periods,
 * the server reported down or draining, or unreachable from here twice in a
 * row).  Returns VX_OK on SIGINT/SIGTERM, leaving the tunnel as it is.
 */
int vpnctl_watch(const struct vpnctl_args *args, const struct vpnctl_conf *conf);

/* ---- tunnel config (conf.c) --------------------------------------------- */

/* What vpnctl remembers about the tunnel, kept as comments in its wg-quick file. */
struct vpnctl_tunnel {
	char server_id[32];
	char location[64];
	char device[VPNCTL_MAX_DEVICE_LEN + 1];
	char address[96]; /* the config's Address value */
};

/* The header lines that carry struct vpnctl_tunnel in the tunnel file. */
#define VPNCTL_HDR_SERVER   "# vpnctl-server = "
#define VPNCTL_HDR_LOCATION "# vpnctl-location = "
#define VPNCTL_HDR_DEVICE   "# vpnctl-device = "

/* Read the header and Address back from a tunnel file's text. */
int vpnctl_tunnel_parse(struct vpnctl_tunnel *t, const char *text);
/* Load dir/IFACE.conf's header: PV_ENOTFOUND when there is no tunnel file. */
int vpnctl_tunnel_load(struct vpnctl_tunnel *t, const char *dir);
/* Same for another interface's file (the multi-hop entry). */
int vpnctl_tunnel_load_iface(struct vpnctl_tunnel *t, const char *dir, const char *iface);

/* ---- tunnel file from checked fields (tunnel.c) ----------------------------- */

#define VPNCTL_MAX_ADDRS    2 /* one IPv4 and one IPv6 address */
#define VPNCTL_MAX_DNS      8
#define VPNCTL_MAX_ALLOWED  512 /* room for split-tunnel complements */
#define VPNCTL_ENDPOINT_LEN 264 /* a 253-character host name, ':' and a port */
#define VPNCTL_KEEPALIVE_S  25

/*
 * Everything the tunnel file holds, as checked values: nothing in it is
 * text from the controller that was not parsed or matched against a strict
 * rule.  Holds the private key and PSK: vpnctl_tunnel_spec_clear when done.
 */
struct vpnctl_tunnel_spec {
	char private_key[PV_KEY_B64_LEN + 1];   /* secret */
	char preshared_key[PV_KEY_B64_LEN + 1]; /* secret */
	char server_public_key[PV_KEY_B64_LEN + 1];
	char endpoint[VPNCTL_ENDPOINT_LEN]; /* host:port or [v6]:port */
	struct pv_cidr address[VPNCTL_MAX_ADDRS];
	size_t n_address;
	struct pv_cidr dns[VPNCTL_MAX_DNS];
	size_t n_dns;
	struct pv_cidr allowed[VPNCTL_MAX_ALLOWED];
	size_t n_allowed;
	int table_off; /* "Table = off": wg-quick adds no routes (rotate's second interface) */
};

/*
 * Fill s from a POST /api/provision reply (docs/api.md): server_id must be
 * server_id; address, server_public_key, preshared_key, endpoint,
 * allowed_ips and dns are each checked.  local_priv is the key vpnctl
 * generated (then a private_key in the reply is refused), or NULL for the
 * server-key mode, where the reply's private_key is checked and used.  The
 * reply's `config` text is ignored.  PV_EINVAL with the field named in err
 * (never its value); s is cleansed on failure.
 */
int vpnctl_tunnel_from_reply(struct vpnctl_tunnel_spec *s, const json_t *reply,
                             const char *server_id, const char *local_priv, char *err,
                             size_t errlen);
/*
 * Render the wg-quick file from s, with t in its header lines, by a fixed
 * template: [Interface] PrivateKey, Address (none when s has none), FwMark
 * (VPNCTL_FWMARK), Table = off (s->table_off), DNS; [Peer] PublicKey,
 * PresharedKey, AllowedIPs, Endpoint, PersistentKeepalive, nothing else.  With t
 * NULL, a config for the WireGuard apps (`export`): no header, no FwMark.
 * *out is owned by the caller and holds secrets: OPENSSL_clear_free(*out,
 * strlen(*out)).
 */
int vpnctl_tunnel_render(char **out, const struct vpnctl_tunnel_spec *s,
                         const struct vpnctl_tunnel *t, char *err, size_t errlen);
void vpnctl_tunnel_spec_clear(struct vpnctl_tunnel_spec *s);
/* 1 for HOST:PORT ([IPv6]:PORT; HOST an IPv4 address or DNS name), else 0. */
int vpnctl_endpoint_is_valid(const char *ep);
/* The HOST of a valid endpoint, without brackets, into host. */
int vpnctl_endpoint_host(char *host, size_t len, const char *ep);

/* ---- moving the tunnel's routes between interfaces (reroute.c) -------------- */

/* One route through the tunnel interface, as `ip route replace` takes it back. */
struct vpnctl_route {
	char dst[PV_CIDR_STRLEN]; /* a prefix; the default route as 0.0.0.0/0 or ::/0 */
	char table[16];           /* "main" when ip names none */
	long metric;              /* -1 when ip names none */
};

struct vpnctl_routes {
	struct vpnctl_route *r; /* owned: vpnctl_routes_free */
	size_t n;
};

/* Every unicast route through iface in every table but local (link-local
 * fe80::/64 excepted), IPv4 and IPv6; err says why not. */
int vpnctl_routes_of(struct vpnctl_routes *rs, const char *iface, char *err, size_t errlen);
/* Append the routes of one `ip -j -4|-6 route show` reply (family 4 or 6) to rs
 * (exposed for tests). */
int vpnctl_routes_parse(struct vpnctl_routes *rs, const char *json_text, int family);
/* The `ip -batch` text that points every route of rs at iface; owned by the
 * caller (free); NULL when out of memory (exposed for tests). */
char *vpnctl_routes_batch(const struct vpnctl_routes *rs, const char *iface);
/* Point every route of rs at iface, each with one atomic `ip route replace`. */
int vpnctl_routes_move(const struct vpnctl_routes *rs, const char *iface, char *err, size_t errlen);
void vpnctl_routes_free(struct vpnctl_routes *rs);

/* ---- multi-hop (hop.c) ------------------------------------------------------ */

/*
 * Provision a peer on entry->server_id for entry->device, write
 * VPNCTL_HOP_IFACE's file from its checked reply with AllowedIPs = the
 * exit_endpoint's addresses only, bring it up and wait for its handshake.
 * Returns a VX_* code with the reason in err; the caller undoes (hop_down,
 * revoke) on failure.
 */
int vpnctl_hop_up(const struct vpnctl_args *args, const struct vpnctl_conf *conf,
                  const struct vpnctl_tunnel *entry, const char *exit_endpoint, char *err,
                  size_t errlen);
/* Take the hop down if it is up and delete its file; 0 or a PV_E* code. */
int vpnctl_hop_down(char *err, size_t errlen);
/* The hop file's header: PV_ENOTFOUND when there is no hop. */
int vpnctl_hop_load(struct vpnctl_tunnel *t);

/* ---- split tunnelling (split.c) --------------------------------------------- */

/* 1 if any split option is set. */
int vpnctl_split_active(const struct vpnctl_split *sp);
/*
 * The tunnel's AllowedIPs, exactly: the controller's list (allowed, *n
 * entries, room for max), cut to --include plus the tunnel subnets when
 * includes are given, minus --exclude, minus the LAN ranges with allow_lan,
 * minus bypass (the endpoint's and the controller's addresses).  Nothing
 * inside the tunnel subnets is ever removed.  The result is the minimal
 * sorted set of disjoint prefixes; PV_EINVAL if it needs more than max.
 */
int vpnctl_split_apply(struct pv_cidr *allowed, size_t *n, size_t max,
                       const struct vpnctl_split *sp, const struct pv_cidr *tunnel, size_t ntunnel,
                       const struct pv_cidr *bypass, size_t nbypass);
/* CIDR set arithmetic on disjoint prefix sets (exposed for tests). */
int vpnctl_cidr_contains(const struct pv_cidr *outer, const struct pv_cidr *inner);
void vpnctl_cidr_normalize(struct pv_cidr *set, size_t *n);
int vpnctl_cidr_subtract(struct pv_cidr *set, size_t *n, size_t max, const struct pv_cidr *x);
int vpnctl_cidr_intersect(struct pv_cidr *out, size_t *n, size_t max, const struct pv_cidr *a,
                          size_t na, const struct pv_cidr *b, size_t nb);
/*
 * Apply sp to s->allowed for this tunnel: the tunnel subnets come from
 * s->address, the bypass addresses from resolving s->endpoint's host and
 * api_url's host.  PV_EUNREACH (a name does not resolve) or PV_EINVAL (too
 * many entries, or nothing left), with a message in err.
 */
int vpnctl_split_for_tunnel(struct vpnctl_tunnel_spec *s, const struct vpnctl_split *sp,
                            const char *api_url, char *err, size_t errlen);
/* Every address host resolves to, as /32 or /128 entries; PV_EUNREACH if none. */
int vpnctl_resolve_host(const char *host, struct pv_cidr *out, size_t max, size_t *n);

/* ---- kill switch and settings (killswitch.c) ------------------------------- */

#define VPNCTL_FWMARK    51820u /* the tunnel's FwMark; vpnctl marks its own sockets with it */
#define VPNCTL_NFT_TABLE "vpnctl"

/* Root's persistent settings, VPNCTL_WG_DIR/vpnctl.json (absent = all off). */
struct vpnctl_settings {
	int kill_switch;           /* keep the kill switch on, also while disconnected */
	int kill_switch_allow_lan; /* ... letting the private ranges through */
	long rotate_after_days;    /* `status` says a rotation is due; 0 = never */
};

int vpnctl_settings_load(struct vpnctl_settings *s, const char *dir);
int vpnctl_settings_save(const struct vpnctl_settings *s, const char *dir);
/* The `inet vpnctl` table as nft text into buf (exposed for tests). */
int vpnctl_killswitch_render(char *buf, size_t len, int allow_lan);
/* Install or replace the table in one transaction; PV_E* with nft's stderr in err. */
int vpnctl_killswitch_on(int allow_lan, char *err, size_t errlen);
/* Delete the table if it exists; other tables are never touched. */
int vpnctl_killswitch_off(char *err, size_t errlen);
/* 1 if the table exists. */
int vpnctl_killswitch_active(void);
/* The mark for vpnctl's own sockets: the tunnel's fwmark, else VPNCTL_FWMARK
 * when root (so the kill switch lets them out), else 0. */
uint32_t vpnctl_bypass_mark(void);

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
/*
 * Fetch and probe the servers, then pick one by vpnctl_pick (keeping current,
 * never avoid; both may be NULL): *out is a copy of the chosen server.  Prints
 * the pick, or why there is none; returns a VX_* code.  `connect` and
 * `export` choose with it (vpnctl_fetch_servers: calls.c).
 */
int vpnctl_choose_server(const struct vpnctl_conf *c, const struct vpnctl_args *args,
                         const char *what, const char *current, const char *avoid,
                         struct vpnctl_server *out);

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

/* ---- the server list, shared by the commands (calls.c, cmd_servers.c) ------- */

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
/* "0.4 ms" or "unreachable" (cmd_servers.c). */
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
/*
 * An unnamed memory file holding text, inherited by children (no CLOEXEC),
 * its "/dev/fd/N" into path: how keys and scripts reach wg, nft and ip
 * without argv or a file on disk.  Returns the fd (the caller closes it) or
 * PV_EIO.
 */
int vpnctl_memfd(const char *name, const char *text, char *path, size_t pathlen);
/* `wg-quick VERB IFACE`; stderr tail in errbuf on failure. */
int vpnctl_wg_quick(const char *verb, const char *iface, char *errbuf, size_t errlen);
/* For the helper tunnels (multi-hop entry, rotate's detour): `wg-quick down IFACE`
 * if it is up, then delete VPNCTL_WG_DIR/IFACE.conf; 0 or a PV_E* code. */
int vpnctl_wg_quick_remove(const char *iface, char *errbuf, size_t errlen);

/* ---- exported configs: QR codes (qr.c), delivery (export.c) ---- */

/* Light modules around the code on every side: the QR standard's quiet zone. */
#define CLI_QR_QUIET 4
/* Pixels per module in a --qr-png file. */
#define CLI_QR_PNG_SCALE 8

/* A QR code's modules; dark[y * width + x] is 1 for a dark module. */
struct cli_qr {
	int width;
	unsigned char dark[];
};

/* Encode text (byte mode, level L) with libqrencode; *out owned by the caller
 * (cli_qr_free cleanses it).  PV_EINVAL for text too long for any version. */
int cli_qr_encode(const char *text, struct cli_qr **out);
void cli_qr_free(struct cli_qr *q);
/* The side in modules, quiet zone included. */
int cli_qr_size(const struct cli_qr *q);
/* 1 for a dark module at (x, y), quiet zone included (0..size-1; anything outside is light). */
int cli_qr_is_dark(const struct cli_qr *q, int x, int y);
/* The code as UTF-8 half blocks, light modules drawn; ansi: white on black colours. */
int cli_qr_print(const struct cli_qr *q, FILE *f, int ansi);
/* The same matrix as a grey-scale PNG, scale pixels per module. */
int cli_qr_write_png(const struct cli_qr *q, FILE *f, int scale);

/* One export: the files it writes (opened before anything is provisioned). */
struct cli_export {
	const struct vpnctl_args *args;
	const char *what;   /* "export": the command, for messages */
	int png_fd, out_fd; /* -1 when not asked for */
	int delivered;      /* the files are complete: keep them */
};

/* Create --qr-png and --output FILEs, 0600 from the first instant and never over
 * an existing file; prints why not, returns a VX_* code. */
int cli_export_open(struct cli_export *x, const struct vpnctl_args *args, const char *what);
/* Build the app's config from the provision reply for server_id (every field checked by
 * vpnctl_tunnel_from_reply in server-key mode; the reply's free-text config is never
 * used) and write it to the files and/or the terminal; prints why not, returns VX_*. */
int cli_export_finish(struct cli_export *x, const char *server_id, const json_t *reply);
/* Close the files; those of an export that did not finish are deleted. */
void cli_export_close(struct cli_export *x);
/* Cleanse the reply's private_key, preshared_key and config before json_decref:
 * jansson frees without cleansing. */
void cli_export_cleanse(json_t *reply);

#endif
