/* SPDX-License-Identifier: MIT */
/*
 * common/: the few things both sides of privatevpn need — one error space,
 * WireGuard key handling, tiers, IP/CIDR values and the fleet file
 * (servers.json).
 *
 * Error convention (after OpenSSH's ssherr.h): functions return 0 on success
 * or a negative PV_E* code; pv_strerror() names it.  Only the controller maps
 * codes to HTTP statuses, in one table.
 */
#ifndef PV_COMMON_H
#define PV_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- errors ------------------------------------------------------------ */

enum pv_err {
	PV_OK = 0,
	PV_ENOMEM = -1,    /* allocation failed */
	PV_EINVAL = -2,    /* bad input: field, format, range */
	PV_EIO = -3,       /* local file or system call failed */
	PV_ENOTFOUND = -4, /* no such user, server, peer */
	PV_EEXIST = -5,    /* already exists (and differs) */
	PV_EFULL = -6,     /* no free address on the server */
	PV_ETIER = -7,     /* server outside the caller's tier */
	PV_EAUTH = -8,     /* bad API key, admin token or SSH credentials */
	PV_EHOSTKEY = -9,  /* SSH host key unknown or changed */
	PV_EUNREACH = -10, /* server unreachable (connect, reset, dead session) */
	PV_ETIMEOUT = -11, /* an operation exceeded its deadline */
	PV_EREMOTE = -12,  /* remote command failed; stderr carries detail */
	PV_EDB = -13,      /* SQLite error */
	PV_EBUSY = -14,    /* resource temporarily busy; try again */
	PV_ECRYPTO = -15,  /* OpenSSL failure (keygen, RNG, HMAC, a seal that does not open) */
	PV_EINUSE = -16    /* the address is taken on the server by a peer we do not own */
};
#define PV_ERR_MIN PV_EINUSE /* the most negative code: tests walk 0..PV_ERR_MIN */

/* Static string naming the code; never NULL. */
const char *pv_strerror(int err);

/* ---- tiers -------------------------------------------------------------- */

enum pv_tier { PV_TIER_NONE = 0, PV_TIER_BASIC = 1, PV_TIER_PRO = 2 };

/* "basic"/"Basic" -> PV_TIER_BASIC, "pro"/"Pro" -> PV_TIER_PRO; else NONE. */
enum pv_tier pv_tier_parse(const char *s);
/* Canonical lower-case name as used in API keys ("basic", "pro"); static. */
const char *pv_tier_name(enum pv_tier t);
/* Pro reaches every server, Basic only Basic servers. */
int pv_tier_allows(enum pv_tier user, enum pv_tier server);

/* ---- WireGuard keys ------------------------------------------------------ */

#define PV_KEY_LEN     32
#define PV_KEY_B64_LEN 44 /* without the NUL */

/*
 * Decode a canonical WireGuard base64 key (exactly 44 chars, re-encodes to
 * itself).  Rejects whitespace, short/long input and non-canonical padding,
 * which EVP_DecodeBlock alone would accept.  Returns 0 or PV_EINVAL.
 */
int pv_key_from_base64(uint8_t key[PV_KEY_LEN], const char *b64);
/* Encode into out (45 bytes incl. NUL). */
void pv_key_to_base64(char out[PV_KEY_B64_LEN + 1], const uint8_t key[PV_KEY_LEN]);
/* 1 if s is a canonical 44-char key, else 0. */
int pv_key_is_valid_base64(const char *s);
/* Fresh X25519 key pair (OpenSSL); priv is clamped like `wg genkey`. */
int pv_keypair_generate(uint8_t priv[PV_KEY_LEN], uint8_t pub[PV_KEY_LEN]);
/* Public key for a private key, same result as `wg pubkey`. */
int pv_pubkey_from_private(uint8_t pub[PV_KEY_LEN], const uint8_t priv[PV_KEY_LEN]);
/* 32 random bytes from the CSPRNG, for a preshared key. */
int pv_psk_generate(uint8_t psk[PV_KEY_LEN]);

/* ---- names and numbers (names.c) ------------------------------------------ */

#define PV_PEER_NAME_MAX 15 /* wireguard-install.sh's client names */
#define PV_IFACE_MAX     15 /* Linux IFNAMSIZ - 1 */
#define PV_SERVER_ID_MAX 31
#define PV_DEVICE_MAX    64
#define PV_USER_ID_MAX   64

/* Each returns 1 if s follows the rule, else 0 (NULL is invalid). */
int pv_peer_name_is_valid(const char *s); /* [A-Za-z0-9_-]{1,15}, the script's rule */
int pv_iface_is_valid(const char *s);     /* [A-Za-z0-9_=+.-]{1,15}, wg-quick's rule */
int pv_server_id_is_valid(const char *s); /* [a-z0-9-]{1,31} */
int pv_device_is_valid(const char *s);    /* [A-Za-z0-9._-]{1,64} */
int pv_user_id_is_valid(const char *s);   /* [A-Za-z0-9.-]{1,64} */
/*
 * Strict unsigned number in base 10 or 16: digits only (no sign, blank or
 * 0x prefix), nothing after them, at most max.  0 and *out, or PV_EINVAL.
 */
int pv_parse_u64(const char *s, int base, uint64_t max, uint64_t *out);

/* ---- IP addresses and CIDR blocks (net.c) ---------------------------------- */

/* Longest text form: a full IPv6 address (INET6_ADDRSTRLEN 46) plus "/128". */
#define PV_CIDR_STRLEN 52

struct pv_cidr {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order; 4 bytes used for AF_INET */
	unsigned prefix;  /* 0..32 or 0..128 */
};

/* pv_cidr_parse flags */
#define PV_CIDR_BARE       (1U << 0) /* "10.0.0.1" is allowed, as a /32 (/128) */
#define PV_CIDR_NO_PREFIX  (1U << 1) /* plain addresses only: "/len" is refused */
#define PV_CIDR_NETWORK    (1U << 2) /* no bit set after the prefix ("10.0.0.0/8") */
#define PV_CIDR_LIST_EMPTY (1U << 3) /* pv_cidr_list_parse: "" is an empty list */

/*
 * Parse "ADDR/LEN" (IPv4 dotted quad or IPv6, LEN decimal without leading
 * zeros and within the family's width) with nothing before or after: no
 * blanks, no line breaks.  Returns 0 or PV_EINVAL; *out is zeroed on failure.
 */
int pv_cidr_parse(struct pv_cidr *out, const char *s, unsigned flags);
/* "10.7.0.2/24" (with_prefix) or "10.7.0.2" into out, from the binary value. */
int pv_cidr_format(char *out, size_t len, const struct pv_cidr *c, int with_prefix);
/*
 * wg-quick's list syntax: items separated by commas, spaces allowed around
 * them (no tabs or line breaks).  At most max items into out; *n is the
 * count.  PV_EINVAL for any bad item, an empty item or too many.
 */
int pv_cidr_list_parse(struct pv_cidr *out, size_t max, size_t *n, const char *list,
                       unsigned flags);
/* Format a list as "a, b, c"; PV_EINVAL if it does not fit in len. */
int pv_cidr_list_format(char *out, size_t len, const struct pv_cidr *c, size_t n, int with_prefix);

/* ---- fleet file (servers.json) -------------------------------------------- */

/* Most servers a fleet holds (the file's and the controller's runtime limit). */
#define PV_FLEET_MAX 1024
/* Longest "ssh-ed25519 <base64>" host key line (ssh.host_key). */
#define PV_HOSTKEY_MAX 127

/* Most WireGuard interfaces one server may have (wg0 .. wg15). */
#define PV_IFACES_MAX 16

/* One WireGuard interface of a server: its own port, /24 and /64, wgN.conf. */
struct pv_iface {
	char name[16];    /* wg0 */
	uint16_t port;    /* 51820 */
	char subnet4[19]; /* "10.7.0.0/24" */
	char subnet6[44]; /* "fddd:2c4:2c4:2c4::/64" */
};

struct pv_server {
	char id[32];                           /* "us-east-1": [a-z0-9-], unique */
	char location[64];                     /* "New York, USA" */
	char region[32];                       /* "North America" */
	enum pv_tier tier;                     /* tier the server belongs to */
	char wg_host[64];                      /* WireGuard endpoint host (IP or DNS name) */
	char ssh_host[64];                     /* where the controller's SSH reaches it */
	uint16_t ssh_port;                     /* 22 */
	char ssh_user[32];                     /* root */
	size_t n_ifaces;                       /* 1..PV_IFACES_MAX */
	struct pv_iface ifaces[PV_IFACES_MAX]; /* ifaces[0] is the one a single "wireguard" names */
	char ssh_hostkey[PV_HOSTKEY_MAX +
	                 1]; /* "ssh-ed25519 AAAA…" pinned besides known_hosts, or "" */
};

struct pv_fleet {
	size_t n;
	struct pv_server *servers; /* owned; n entries */
};

/*
 * Load and validate a fleet file.  On success *out is a new fleet owned by
 * the caller (pv_fleet_free).  On failure returns PV_EINVAL/PV_EIO and writes
 * a message naming the file, the entry and the field into err.
 */
int pv_fleet_load(struct pv_fleet **out, const char *path, char *err, size_t errlen);
/* Same, from a JSON text already in memory; `what` names it in errors. */
int pv_fleet_parse(struct pv_fleet **out, const char *json, size_t len, const char *what, char *err,
                   size_t errlen);
void pv_fleet_free(struct pv_fleet *fleet);
/*
 * 1 if s is an OpenSSH ed25519 public key "ssh-ed25519 <base64>" (no
 * comment): the blob decodes to the string "ssh-ed25519" and 32 key bytes.
 * When blob is not NULL the decoded blob (51 bytes) is written there.
 */
#define PV_HOSTKEY_BLOB_LEN 51
int pv_hostkey_parse(const char *s, unsigned char blob[PV_HOSTKEY_BLOB_LEN]);
/* Borrowed pointer into fleet, or NULL. */
const struct pv_server *pv_fleet_find(const struct pv_fleet *fleet, const char *id);

/* ---- the peer's addresses (addr.c) ------------------------------------------ */

/*
 * A lease L names one peer address on a server: L = k * PV_LEASE_STRIDE + N,
 * interface k (ifaces[k]) and host number N, .2 .. .254 of that
 * interface's /24.  On wg0 (k = 0) L is N itself, as before several
 * interfaces existed.  Lowest lease first fills wg0, then wg1, ...
 */
#define PV_HOST_MIN     2
#define PV_HOST_MAX     254
#define PV_HOSTS_PER_IF (PV_HOST_MAX - PV_HOST_MIN + 1) /* 253 */
#define PV_LEASE_STRIDE 256
#define PV_LEASE_END    (PV_IFACES_MAX * PV_LEASE_STRIDE) /* every lease is below */
#define PV_ADDR4_MAX    16                                /* INET_ADDRSTRLEN */
#define PV_ADDR6_MAX    46                                /* INET6_ADDRSTRLEN */

/* The lease of host N on interface k (no check: see pv_lease_valid). */
unsigned pv_lease(unsigned iface, unsigned host);
/* Interface index and host number of a lease. */
unsigned pv_lease_iface(unsigned lease);
unsigned pv_lease_host(unsigned lease);
/* 1 if lease names host 2..254 of an interface srv has (of any server when srv is NULL). */
int pv_lease_valid(const struct pv_server *srv, unsigned lease);
/* The interface of a lease valid on srv (borrowed from srv), else NULL. */
const struct pv_iface *pv_lease_ifc(const struct pv_server *srv, unsigned lease);
/* Peers the server holds: 253 per interface. */
unsigned pv_server_capacity(const struct pv_server *srv);

/*
 * The addresses of a lease in srv's subnets (its interface's), without
 * prefix length, in wireguard-install.sh's layout: "10.7.0.N" and
 * "fddd:2c4:2c4:2c4::N" with N's decimal digits as the last IPv6 group.
 * The only place that rule is written.  PV_EINVAL for a lease that is not
 * valid on srv (pv_lease_valid).
 */
int pv_peer_addrs(const struct pv_server *srv, unsigned lease, char v4[PV_ADDR4_MAX],
                  char v6[PV_ADDR6_MAX]);
/*
 * The lease of "10.7.0.N" or "10.7.0.N/32" in one of srv's IPv4 subnets;
 * 0 if it is not a host there (0 is never a lease).
 */
unsigned pv_peer_host_of(const struct pv_server *srv, const char *v4);

/* ---- `wg show IFACE dump` (wgdump.c) ----------------------------------------- */

struct pv_wg_peer {
	char pubkey[PV_KEY_B64_LEN + 1];
	char endpoint[64];        /* "(none)" when unknown */
	char *allowed_ips;        /* owned: comma-separated as wg prints it, "(none)" if empty */
	int64_t latest_handshake; /* unix seconds, 0 = never */
	uint64_t rx_bytes, tx_bytes;
	unsigned keepalive; /* seconds, 0 = off */
	unsigned iface;     /* index of the server's interface it is on (0 unless merged) */
};

struct pv_wg_dump {
	char pubkey[PV_KEY_B64_LEN + 1]; /* the interface's public key, "" if none */
	unsigned listen_port;
	uint32_t fwmark; /* 0 = off */
	size_t n;
	struct pv_wg_peer *peers; /* owned, n entries */
};

/*
 * Parse len bytes of dump text.  The private key and PSK fields are checked
 * for presence and never stored.  Returns 0 and *out (pv_wg_dump_free), or
 * PV_EINVAL naming the line and field in err, or PV_ENOMEM.
 */
int pv_wg_dump_parse(struct pv_wg_dump **out, const char *text, size_t len, char *err,
                     size_t errlen);
void pv_wg_dump_free(struct pv_wg_dump *d);

/* ---- sealed PSKs (seal.c) ----------------------------------------------------- */

#define PV_SEALED_LEN 60 /* nonce 12 + ciphertext 32 + tag 16 */

/*
 * Read the state key: a 0600 (or stricter) file holding 32 bytes in
 * canonical base64, as `wg genpsk` prints.  PV_EINVAL/PV_EIO with the reason
 * in err.
 */
int pv_state_key_load(uint8_t key[PV_KEY_LEN], const char *path, char *err, size_t errlen);
/* AES-256-GCM seal of a PSK bound to aad (the row's identity).  0 or PV_ECRYPTO. */
int pv_seal(uint8_t out[PV_SEALED_LEN], const uint8_t key[PV_KEY_LEN],
            const uint8_t psk[PV_KEY_LEN], const void *aad, size_t aadlen);
/* Open it; PV_ECRYPTO (psk cleansed) for a wrong key, other aad or tampering. */
int pv_unseal(uint8_t psk[PV_KEY_LEN], const uint8_t key[PV_KEY_LEN],
              const uint8_t in[PV_SEALED_LEN], const void *aad, size_t aadlen);

/* ---- small helpers -------------------------------------------------------- */

/* Monotonic clock in milliseconds / microseconds. */
uint64_t pv_now_ms(void);
uint64_t pv_now_us(void);

/*
 * Read a whole small file (at most max bytes) into a new NUL-terminated
 * buffer owned by the caller.  If secret is set, refuses (PV_EINVAL) a file
 * readable by group or others, like OpenSSH's sshkey_perm_ok().
 */
int pv_file_read(char **out, size_t *len, const char *path, size_t max, int secret);
/*
 * Copy the next line of text[0..len) from *pos into line (NUL-terminated,
 * without its newline) and move *pos past it.  1 for a line, 0 at the end,
 * PV_EINVAL for a line of cap bytes or more or one holding a NUL (untrusted
 * text: a server's output).
 */
int pv_line_next(const char *text, size_t len, size_t *pos, char *line, size_t cap);
/* write(2) all len bytes, retrying short writes and EINTR; 0 or PV_EIO (errno kept). */
int pv_write_all(int fd, const void *buf, size_t len);

/* ---- man pages (man.c) ---------------------------------------------------- */

/*
 * Roff for the tools' `--man` mode, printed from the same tables as --help.
 * Text is escaped here (backslash, hyphen, a leading . or '); '\n' splits
 * lines.  begin: .TH and the NAME line; item: a tagged paragraph, tag in
 * bold, arg (may be NULL) in italics; verbatim: a no-fill block.
 */
void pv_man_begin(FILE *f, const char *name, const char *summary);
void pv_man_section(FILE *f, const char *title);
void pv_man_text(FILE *f, const char *text);
void pv_man_verbatim(FILE *f, const char *text);
void pv_man_item(FILE *f, const char *tag, const char *arg, const char *text);

#endif
