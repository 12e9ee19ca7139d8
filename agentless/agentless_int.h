/* SPDX-License-Identifier: MIT */
/*
 * Private interfaces between the files of agentless/ (and its unit tests and
 * benchmark): the remote batch codec, the dump parser, host-key checking and
 * the SSH session.  Not part of the contract; agentless.h is.
 */
#ifndef PV_AGENTLESS_INT_H
#define PV_AGENTLESS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "agentless.h"

/* ---- growable byte buffer --------------------------------------------------- */

struct al_buf {
	char *p; /* NUL-terminated when len > 0 */
	size_t len, cap;
};

/* Append n bytes (keeps a NUL after them).  PV_ENOMEM or PV_EINVAL past max. */
int al_buf_add(struct al_buf *b, const void *data, size_t n, size_t max);
/* Append the strings, then a newline: one protocol line. */
int al_buf_line(struct al_buf *b, const char *const *parts, size_t n);
/* Free the bytes; cleanse them first when they held secrets. */
void al_buf_free(struct al_buf *b, int secret);

/* ---- the remote script and its batch protocol (remote.c) ---------------------- */

/* The only program run on servers besides "true"; generated from remote.sh. */
extern const char al_remote_script[];
/* The SSH exec command that runs it: exec /bin/sh -c '<al_remote_script>' (embed.cmake). */
extern const char al_remote_command[];

/* Per-op outcome parsed from the script's output. */
struct al_op_result {
	int err;                      /* 0 or PV_E* */
	int changed;                  /* file or live interface changed */
	char detail[256];             /* message when err != 0 */
	struct agentless_final final; /* a "final IDX HS RX TX" line, REMOVE only */
};

/*
 * Check an edit before anything is sent: op, name rule, a lease with host
 * 2..254 (ADD) or an interface index (REMOVE: pv_lease_iface of host),
 * of an interface srv has (any when srv is NULL).  Returns 0 or PV_EINVAL with a message naming the
 * field in err.
 */
int al_edit_check(const struct pv_server *srv, const struct agentless_edit *e, char *err,
                  size_t errlen);
/*
 * The AllowedIPs of host N on the server: pv_peer_addrs() with "/32" and
 * "/128" appended.  PV_EINVAL if the subnets cannot hold it.
 */
int al_peer_addrs(const struct pv_server *srv, unsigned host, char v4[32], char v6[64]);
/*
 * Encode a batch of checked edits for srv onto stdin (holds PSKs: cleanse).
 * A batch edits one interface, the one of edits[0]'s lease: PV_EINVAL if
 * another edit names another interface or srv has no such interface.
 */
int al_batch_encode(struct al_buf *in, const struct pv_server *srv,
                    const struct agentless_edit *edits, size_t n);
/*
 * Encode a dump request: one dump batch per interface of srv, in interface
 * order (srv->n_ifaces answers), asking for the PSKs of the blocks named in
 * psk_names ("NAME\n"...).
 */
int al_dump_encode(struct al_buf *in, const struct pv_server *srv, const char *psk_names);
/*
 * Parse the script's stdout for n ops into res[n].  A missing, duplicate or
 * malformed line fails that op (PV_EREMOTE); stderr text is appended to
 * live-apply errors.  A "final IDX HANDSHAKE RX TX" line (decimal, each at
 * most INT64_MAX) sets res[IDX - 1].final; a malformed or repeated one is
 * ignored, and so is any final of an op that failed.  Returns 0, or
 * PV_EREMOTE if the output is unusable.
 */
int al_batch_parse(const char *out, const char *errtext, size_t n, struct al_op_result *res);
/*
 * The remote script answers each batch with its lines, then
 * "privatevpn-end STATUS".  Take the first complete answer off buf (the
 * bytes read from the session so far): its lines go to out (replacing what
 * out held), its status to *status, and buf keeps what follows.  *scan is
 * where to resume looking (0 for a new buffer; kept between calls so a long
 * answer is scanned once).  Returns 1 when taken, 0 when no answer is
 * complete yet, PV_EREMOTE for a malformed end line, PV_ENOMEM.
 */
int al_answer_take(struct al_buf *buf, size_t *scan, struct al_buf *out, int *status);
/* The lines of an edit answer that are not result lines (messages), "; "-joined. */
void al_answer_stray(const char *ans, char *err, size_t errlen);

/* ---- `wg show IFACE dump` (dump.c) ----------------------------------------------- */

/*
 * Strict parser: tab-separated, exact field counts, numbers with end checks,
 * canonical keys.  The interface line's private key and the peers' PSKs are
 * never stored.  Returns 0 and *out (agentless_dump_free), or PV_EINVAL with
 * the line number and field in err.
 */
int al_dump_parse(struct agentless_dump **out, const char *text, size_t len, char *err,
                  size_t errlen);
/*
 * Add the dump of the server's interface iface (part, taken over: freed in
 * every case) to *acc: its live peers and blocks are tagged with iface and
 * appended; the first part becomes *acc.  0, PV_ENOMEM, or PV_EINVAL when
 * the interface's key is not the first one's (every interface of a server
 * uses wg0's key).
 */
int al_dump_merge(struct agentless_dump **acc, struct agentless_dump *part, unsigned iface);

/* ---- SSH session to one server (session.c, hostkey.c) ------------------------------ */

struct al_session {
	const struct pv_server *srv;
	const struct agentless_config *cfg; /* owned by the pool */
	void *ssh;                          /* LIBSSH2_SESSION *, NULL when closed */
	int fd;
	uint64_t last_used_ms;
	uint64_t backoff_ms, retry_at_ms; /* reconnect backoff after a failed connect */
	int last_err;
	char last_detail[256];
	void *loop;         /* LIBSSH2_CHANNEL * running the remote script, or NULL */
	struct al_buf rbuf; /* what the loop channel sent and no answer took yet */
	size_t scan;        /* al_answer_take's resume point in rbuf */
	uint64_t rtt_us;    /* round trip, measured by opening the script's channel */
};

/* One remote command with its stdin, and what came back. */
struct al_exec {
	const char *cmd;
	const char *in;
	size_t inlen;
	struct al_buf out, err;
	int exit_status;
	char exit_signal[32]; /* "" unless killed by a signal */
};

void al_session_init(struct al_session *ss, const struct pv_server *srv,
                     const struct agentless_config *cfg);
/* Close the connection (if any); the session can reconnect later. */
void al_session_close(struct al_session *ss);
/*
 * Run x on the server before deadline_ms (pv_now_ms scale), connecting first
 * if needed.  A warm session that turns out dead is reopened and x re-sent
 * once (*retried = 1): callers only send idempotent commands.  Returns 0
 * (x->exit_status etc. filled) or PV_EUNREACH/PV_ETIMEOUT/PV_EAUTH/
 * PV_EHOSTKEY/PV_EIO with a message naming the server in detail.
 */
int al_session_run(struct al_session *ss, struct al_exec *x, uint64_t deadline_ms, int *retried,
                   char *detail, size_t detail_len);
/*
 * The remote script's channel (remote.sh), opened once per session and
 * reading batch after batch: a batch costs one write and one read.
 * al_session_send writes one encoded batch before deadline_ms, connecting and
 * starting the script first if needed.  On failure the session is closed and
 * *lost says whether it had been up (the batch may have run: the caller may
 * re-send it) rather than failing to connect.
 */
int al_session_send(struct al_session *ss, const char *data, size_t len, uint64_t deadline_ms,
                    int *lost, char *detail, size_t detail_len);
/*
 * Read what the script sent into ss->rbuf, waiting until something arrives,
 * wake_fd (an eventfd, or -1) becomes readable (it is then drained) or
 * until_ms passes; 0 then.  PV_EUNREACH when the channel failed or ended
 * with nothing left to read (the session is closed).
 */
int al_session_wait(struct al_session *ss, int wake_fd, uint64_t until_ms, char *detail,
                    size_t detail_len);
/* Take the first complete answer off ss->rbuf: al_answer_take. */
int al_session_take(struct al_session *ss, struct al_buf *out, int *status);
/* Send a keepalive if the session is idle; a dead one is closed. */
void al_session_keepalive(struct al_session *ss);

/*
 * Check the server's host key (raw blob from libssh2) against known_hosts.
 * Returns 0, PV_EHOSTKEY (unknown or changed: detail names the server and the
 * SHA256 fingerprint) or PV_EIO (known_hosts unreadable).
 */
int al_hostkey_check(void *ssh, const struct pv_server *srv, const char *known_hosts, char *detail,
                     size_t detail_len);

#endif
