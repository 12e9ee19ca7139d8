/* SPDX-License-Identifier: MIT */
/*
 * One SSH connection to one server, driven by that server's worker thread
 * only (libssh2: one thread at a time per session).  libssh2 runs
 * non-blocking and every wait is a poll() against the caller's deadline, so
 * a dead or hung server costs at most its deadline and never touches another
 * server's thread.
 *
 * Failure handling (libssh2 1.10 traps, verified on Debian 12): a dead peer
 * shows up as -43/-7/-13/-9/-30/-14 on every call without the session being
 * marked dead, and a hung peer shows no error at all.  So any libssh2 error
 * while running a command, and any missed deadline, closes the session; the
 * next use reconnects.  Failed connects back off exponentially.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libssh2.h>
#include <openssl/crypto.h>

#include "agentless_int.h"

#define OUT_MAX     (8u << 20) /* remote stdout cap (a dump of 65k peers fits) */
#define ERR_MAX     (64u << 10)
#define BACKOFF_MIN 200
#define BACKOFF_MAX 10000

void al_session_init(struct al_session *ss, const struct pv_server *srv,
                     const struct agentless_config *cfg)
{
	memset(ss, 0, sizeof(*ss));
	ss->srv = srv;
	ss->cfg = cfg;
	ss->fd = -1;
}

void al_session_close(struct al_session *ss)
{
	LIBSSH2_SESSION *s = ss->ssh;
	int i;

	if (s) {
		/* One try at a polite goodbye; then cut the socket so that
		 * freeing never waits on a dead peer. */
		libssh2_session_disconnect(s, "privatevpn: closing");
		shutdown(ss->fd, SHUT_RDWR);
		for (i = 0; i < 8 && libssh2_session_free(s) == LIBSSH2_ERROR_EAGAIN; i++)
			;
	}
	if (ss->fd >= 0)
		close(ss->fd);
	ss->ssh = NULL;
	ss->loop = NULL; /* freed with the session */
	ss->fd = -1;
	al_buf_free(&ss->rbuf, 1); /* may hold PSKs a dump asked for */
	ss->scan = 0;
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = pv_now_ms();

	return now >= deadline ? 0 : (int)(deadline - now > 60000 ? 60000 : deadline - now);
}

/* Wait for the socket in the direction libssh2 is blocked on. */
static int wait_socket(struct al_session *ss, uint64_t deadline)
{
	int dir = libssh2_session_block_directions(ss->ssh);
	struct pollfd pfd = {.fd = ss->fd, .events = 0};
	int left, n;

	if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
		pfd.events |= POLLIN;
	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		pfd.events |= POLLOUT;
	if (!pfd.events)
		pfd.events = POLLIN;
	do {
		left = remaining_ms(deadline);
		if (left == 0)
			return PV_ETIMEOUT;
		n = poll(&pfd, 1, left);
	} while (n < 0 && errno == EINTR);
	return n > 0 ? 0 : n == 0 ? PV_ETIMEOUT : PV_EIO;
}

static int tcp_connect(struct al_session *ss, uint64_t deadline, char *detail, size_t dlen)
{
	const struct pv_server *srv = ss->srv;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL, *ai;
	char port[8];
	int fd = -1, r = PV_EUNREACH, one = 1, soerr = 0, g;

	snprintf(port, sizeof(port), "%u", (unsigned)srv->ssh_port);
	if ((g = getaddrinfo(srv->ssh_host, port, &hints, &res)) != 0) {
		snprintf(detail, dlen, "server %s: cannot resolve %s: %s", srv->id, srv->ssh_host,
		         gai_strerror(g));
		return PV_EUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		struct pollfd pfd;
		socklen_t sl = sizeof(soerr);
		int n;

		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		                 0)) < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		soerr = errno;
		if (errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			do
				n = poll(&pfd, 1, remaining_ms(deadline));
			while (n < 0 && errno == EINTR);
			soerr = ETIMEDOUT;
			if (n > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
			    soerr == 0)
				break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		r = soerr == ETIMEDOUT ? PV_ETIMEOUT : PV_EUNREACH;
		snprintf(detail, dlen, "server %s: cannot connect to %s port %u: %s", srv->id,
		         srv->ssh_host, (unsigned)srv->ssh_port, strerror(soerr));
		return r;
	}
	/* Nagle + delayed ACK made each command on a warm session 5x slower (52 vs 9.5 ms). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ss->fd = fd;
	return 0;
}

/* Human text of the session's last libssh2 error. */
static const char *ssh_errmsg(struct al_session *ss)
{
	char *msg = NULL;

	if (!ss->ssh)
		return "no session";
	libssh2_session_last_error(ss->ssh, &msg, NULL, 0);
	return msg && *msg ? msg : "unknown libssh2 error";
}

static int ssh_fail(struct al_session *ss, int rc, const char *step, char *detail, size_t dlen)
{
	if (rc == PV_ETIMEOUT) {
		snprintf(detail, dlen, "server %s: timed out during %s", ss->srv->id, step);
		return PV_ETIMEOUT;
	}
	snprintf(detail, dlen, "server %s: %s failed: %s (libssh2 %d)", ss->srv->id, step,
	         ssh_errmsg(ss), rc);
	return PV_EUNREACH;
}

static int ssh_open(struct al_session *ss, uint64_t deadline, char *detail, size_t dlen)
{
	const struct pv_server *srv = ss->srv;
	LIBSSH2_SESSION *s;
	int rc;

	if ((rc = tcp_connect(ss, deadline, detail, dlen)) < 0)
		return rc;
	s = libssh2_session_init();
	if (!s) {
		snprintf(detail, dlen, "server %s: libssh2_session_init failed", srv->id);
		return PV_ENOMEM;
	}
	ss->ssh = s;
	libssh2_session_set_blocking(s, 0);
	/* libssh2 prefers ECDSA; our known_hosts pins ed25519 keys. */
	libssh2_session_method_pref(s, LIBSSH2_METHOD_HOSTKEY, "ssh-ed25519");
	while ((rc = libssh2_session_handshake(s, ss->fd)) == LIBSSH2_ERROR_EAGAIN)
		if ((rc = wait_socket(ss, deadline)) < 0)
			break;
	if (rc != 0)
		return ssh_fail(ss, rc, "SSH handshake (needs an ssh-ed25519 host key)", detail,
		                dlen);
	if ((rc = al_hostkey_check(s, srv, ss->cfg->known_hosts, detail, dlen)) < 0)
		return rc;
	while ((rc = libssh2_userauth_publickey_fromfile(s, srv->ssh_user, NULL, ss->cfg->identity,
	                                                 NULL)) == LIBSSH2_ERROR_EAGAIN)
		if ((rc = wait_socket(ss, deadline)) < 0)
			break;
	if (rc == PV_ETIMEOUT)
		return ssh_fail(ss, rc, "authentication", detail, dlen);
	if (rc != 0) {
		snprintf(detail, dlen,
		         "server %s: public-key authentication as %s with %s failed: %s", srv->id,
		         srv->ssh_user, ss->cfg->identity, ssh_errmsg(ss));
		return PV_EAUTH;
	}
	libssh2_keepalive_config(s, 1, (unsigned)ss->cfg->keepalive_s);
	return 0;
}

static int connect_with_backoff(struct al_session *ss, uint64_t deadline, char *detail, size_t dlen)
{
	uint64_t now = pv_now_ms();
	int r;

	if (now < ss->retry_at_ms) {
		snprintf(detail, dlen, "%s (reconnect in %llu ms)", ss->last_detail,
		         (unsigned long long)(ss->retry_at_ms - now));
		return ss->last_err;
	}
	r = ssh_open(ss, deadline, detail, dlen);
	if (r == 0) {
		ss->backoff_ms = 0;
		ss->retry_at_ms = 0;
		return 0;
	}
	al_session_close(ss);
	ss->backoff_ms = ss->backoff_ms ? ss->backoff_ms * 2 : BACKOFF_MIN;
	if (ss->backoff_ms > BACKOFF_MAX)
		ss->backoff_ms = BACKOFF_MAX;
	ss->retry_at_ms = pv_now_ms() + ss->backoff_ms;
	ss->last_err = r;
	snprintf(ss->last_detail, sizeof(ss->last_detail), "%s", detail);
	return r;
}

/* Read whatever stdout/stderr has; >0 progress, 0 nothing, <0 libssh2 error. */
static int drain(LIBSSH2_CHANNEL *ch, struct al_exec *x, int *overflow)
{
	char buf[16384];
	int progress = 0, stream;

	for (stream = 0; stream < 2; stream++) {
		struct al_buf *b = stream ? &x->err : &x->out;
		ssize_t n;

		while ((n = libssh2_channel_read_ex(ch, stream, buf, sizeof(buf))) > 0) {
			progress = 1;
			if (al_buf_add(b, buf, (size_t)n, stream ? ERR_MAX : OUT_MAX) < 0)
				*overflow = 1;
		}
		if (n < 0 && n != LIBSSH2_ERROR_EAGAIN)
			return (int)n;
	}
	return progress;
}

/* Push stdin, send EOF, collect output until the remote closes. */
static int pump(struct al_session *ss, LIBSSH2_CHANNEL *ch, struct al_exec *x, uint64_t deadline,
                int *overflow)
{
	size_t off = 0;
	int eof_sent = 0, rc;

	for (;;) {
		int progress = 0;

		if (off < x->inlen) {
			ssize_t n = libssh2_channel_write(ch, x->in + off, x->inlen - off);

			if (n > 0) {
				off += (size_t)n;
				progress = 1;
			} else if (n != LIBSSH2_ERROR_EAGAIN) {
				return (int)n;
			}
		}
		if (off == x->inlen && !eof_sent) {
			rc = libssh2_channel_send_eof(ch);
			if (rc == 0)
				eof_sent = progress = 1;
			else if (rc != LIBSSH2_ERROR_EAGAIN)
				return rc;
		}
		if ((rc = drain(ch, x, overflow)) < 0)
			return rc;
		/* Remote EOF: the command is done (maybe before reading all of
		 * stdin, when it refused the batch).  The stderr read may have
		 * pulled in stdout data queued before the EOF: drain again. */
		if (libssh2_channel_eof(ch)) {
			rc = drain(ch, x, overflow);
			return rc < 0 ? rc : 0;
		}
		if (!progress && !rc && (rc = wait_socket(ss, deadline)) < 0)
			return rc;
	}
}

/* Run x on the open session.  Any failure leaves the session unusable. */
static int exec_once(struct al_session *ss, struct al_exec *x, uint64_t deadline, char *detail,
                     size_t dlen)
{
	LIBSSH2_SESSION *s = ss->ssh;
	LIBSSH2_CHANNEL *ch;
	char *sig = NULL;
	size_t siglen = 0;
	int rc, overflow = 0;

	x->out.len = x->err.len = 0;
	x->exit_status = -1;
	x->exit_signal[0] = '\0';
	while (!(ch = libssh2_channel_open_session(s))) {
		rc = libssh2_session_last_errno(s);
		if (rc != LIBSSH2_ERROR_EAGAIN || (rc = wait_socket(ss, deadline)) < 0)
			return ssh_fail(ss, rc, "opening a channel", detail, dlen);
	}
	while ((rc = libssh2_channel_exec(ch, x->cmd)) == LIBSSH2_ERROR_EAGAIN)
		if ((rc = wait_socket(ss, deadline)) < 0)
			break;
	if (rc != 0)
		return ssh_fail(ss, rc, "exec", detail, dlen);
	if ((rc = pump(ss, ch, x, deadline, &overflow)) != 0)
		return ssh_fail(ss, rc, "running the remote command", detail, dlen);
	while ((rc = libssh2_channel_close(ch)) == LIBSSH2_ERROR_EAGAIN)
		if ((rc = wait_socket(ss, deadline)) < 0)
			break;
	while (rc == 0 && (rc = libssh2_channel_wait_closed(ch)) == LIBSSH2_ERROR_EAGAIN)
		if ((rc = wait_socket(ss, deadline)) < 0)
			break;
	if (rc != 0)
		return ssh_fail(ss, rc, "closing the channel", detail, dlen);
	x->exit_status = libssh2_channel_get_exit_status(ch);
	if (libssh2_channel_get_exit_signal(ch, &sig, &siglen, NULL, NULL, NULL, NULL) == 0 &&
	    sig) {
		snprintf(x->exit_signal, sizeof(x->exit_signal), "%s", sig);
		libssh2_free(s, sig);
	}
	while (libssh2_channel_free(ch) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(ss, deadline) < 0)
			return ssh_fail(ss, PV_ETIMEOUT, "freeing the channel", detail, dlen);
	if (overflow) {
		snprintf(detail, dlen, "server %s: remote output exceeds %u bytes", ss->srv->id,
		         OUT_MAX);
		return PV_EREMOTE;
	}
	ss->last_used_ms = pv_now_ms();
	return 0;
}

int al_session_run(struct al_session *ss, struct al_exec *x, uint64_t deadline_ms, int *retried,
                   char *detail, size_t detail_len)
{
	int attempt, r = PV_EUNREACH;

	*retried = 0;
	for (attempt = 0; attempt < 2; attempt++) {
		int warm = ss->ssh != NULL;
		uint64_t cdeadline = deadline_ms;

		if (!warm) {
			uint64_t c = pv_now_ms() + (uint64_t)ss->cfg->connect_timeout_ms;

			if (c < cdeadline)
				cdeadline = c;
			if ((r = connect_with_backoff(ss, cdeadline, detail, detail_len)) < 0)
				return r;
		}
		r = exec_once(ss, x, deadline_ms, detail, detail_len);
		if (r == 0)
			return 0;
		al_session_close(ss);
		/* A warm session may have died while idle (sshd restarted, peer
		 * reset): reconnect and re-send once.  Batches are idempotent
		 * on the server, so a lost result cannot double an edit. */
		if (r != PV_EUNREACH || !warm)
			return r;
		*retried = 1;
	}
	return r;
}

void al_session_keepalive(struct al_session *ss)
{
	int next = 0, rc;

	if (!ss->ssh)
		return;
	rc = libssh2_keepalive_send(ss->ssh, &next);
	if (rc != 0 && rc != LIBSSH2_ERROR_EAGAIN)
		al_session_close(ss);
}

/* Connect if needed, within the connect timeout and the caller's deadline. */
static int ensure_connected(struct al_session *ss, uint64_t deadline, char *detail, size_t dlen)
{
	uint64_t c = pv_now_ms() + (uint64_t)ss->cfg->connect_timeout_ms;

	if (ss->ssh)
		return 0;
	return connect_with_backoff(ss, c < deadline ? c : deadline, detail, dlen);
}

/* Start the remote script on its own channel: paid once per session. */
static int loop_open(struct al_session *ss, uint64_t deadline, char *detail, size_t dlen)
{
	LIBSSH2_SESSION *s = ss->ssh;
	uint64_t t0 = pv_now_us();
	LIBSSH2_CHANNEL *ch;
	int rc;

	while (!(ch = libssh2_channel_open_session(s))) {
		rc = libssh2_session_last_errno(s);
		if (rc != LIBSSH2_ERROR_EAGAIN || (rc = wait_socket(ss, deadline)) < 0)
			return ssh_fail(ss, rc, "opening the script's channel", detail, dlen);
	}
	/* sshd confirms a channel at once: that took one round trip. */
	ss->rtt_us = pv_now_us() - t0;
	ss->loop = ch;
	/* The script merges its stderr into stdout; what else comes on stderr
	 * (the login shell's own complaints) is dropped by libssh2 as it arrives,
	 * so it can never stall the channel and a drain reads one stream. */
	libssh2_channel_handle_extended_data2(ch, LIBSSH2_CHANNEL_EXTENDED_DATA_IGNORE);
	while ((rc = libssh2_channel_exec(ch, al_remote_command)) == LIBSSH2_ERROR_EAGAIN)
		if ((rc = wait_socket(ss, deadline)) < 0)
			break;
	return rc ? ssh_fail(ss, rc, "starting the remote script", detail, dlen) : 0;
}

/*
 * Move what the script's channel holds into rbuf (its stdout: stderr is
 * dropped as it arrives, see loop_open).  Reading until it would block
 * leaves nothing queued in libssh2 that the socket will not signal.  >0
 * progress, 0 nothing, <0 libssh2 error.
 */
static int loop_drain(struct al_session *ss)
{
	LIBSSH2_CHANNEL *ch = ss->loop;
	char buf[16384];
	size_t used = 0; /* the most of buf a read filled: what to cleanse */
	int progress = 0;
	ssize_t n;

	while ((n = libssh2_channel_read(ch, buf, sizeof(buf))) > 0) {
		progress = 1;
		if ((size_t)n > used)
			used = (size_t)n;
		if (al_buf_add(&ss->rbuf, buf, (size_t)n, OUT_MAX) < 0) {
			progress = PV_EREMOTE;
			break;
		}
	}
	if (n < 0 && n != LIBSSH2_ERROR_EAGAIN)
		progress = (int)n;
	OPENSSL_cleanse(buf, used);
	return progress;
}

static int loop_fail(struct al_session *ss, int rc, const char *step, char *detail, size_t dlen)
{
	int r = rc == PV_EREMOTE ? PV_EUNREACH : rc;

	if (rc == PV_EREMOTE)
		snprintf(detail, dlen, "server %s: the remote script's output exceeds %u bytes",
		         ss->srv->id, OUT_MAX);
	else
		r = ssh_fail(ss, rc, step, detail, dlen);
	al_session_close(ss);
	return r;
}

int al_session_send(struct al_session *ss, const char *data, size_t len, uint64_t deadline_ms,
                    int *lost, char *detail, size_t detail_len)
{
	size_t off = 0;
	int rc;

	*lost = 0;
	if ((rc = ensure_connected(ss, deadline_ms, detail, detail_len)) < 0)
		return rc;
	if (!ss->loop && (rc = loop_open(ss, deadline_ms, detail, detail_len)) < 0) {
		al_session_close(ss);
		return rc;
	}
	*lost = 1;
	while (off < len) {
		ssize_t n = libssh2_channel_write(ss->loop, data + off, len - off);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n != LIBSSH2_ERROR_EAGAIN && n != 0)
			return loop_fail(ss, (int)n, "sending a batch", detail, detail_len);
		/* Keep reading while the window is full: the script may be
		 * blocked writing answers we have not read yet. */
		if ((rc = loop_drain(ss)) < 0)
			return loop_fail(ss, rc, "sending a batch", detail, detail_len);
		if (!rc && (rc = wait_socket(ss, deadline_ms)) < 0)
			return loop_fail(ss, rc, "sending a batch", detail, detail_len);
	}
	*lost = 0;
	ss->last_used_ms = pv_now_ms();
	return 0;
}

/* Poll the session's socket (as libssh2 needs it) and wake_fd until until_ms. */
static void wait_io(struct al_session *ss, int wake_fd, uint64_t until_ms)
{
	int dir = libssh2_session_block_directions(ss->ssh);
	struct pollfd pfd[2] = {{.fd = ss->fd, .events = POLLIN},
	                        {.fd = wake_fd, .events = POLLIN}};
	uint64_t tick;
	int n;

	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		pfd[0].events |= POLLOUT;
	do
		n = poll(pfd, wake_fd >= 0 ? 2 : 1, remaining_ms(until_ms));
	while (n < 0 && errno == EINTR);
	if (n > 0 && wake_fd >= 0 && (pfd[1].revents & POLLIN) &&
	    read(wake_fd, &tick, sizeof(tick)) < 0)
		tick = 0; /* nonblocking eventfd: already drained by someone */
}

int al_session_wait(struct al_session *ss, int wake_fd, uint64_t until_ms, char *detail,
                    size_t detail_len)
{
	int rc;

	if (!ss->loop) {
		snprintf(detail, detail_len, "server %s: the session closed", ss->srv->id);
		return PV_EUNREACH;
	}
	if ((rc = loop_drain(ss)) < 0)
		return loop_fail(ss, rc, "reading answers", detail, detail_len);
	if (rc > 0)
		return 0;
	if (libssh2_channel_eof(ss->loop)) {
		snprintf(detail, detail_len,
		         "server %s: the remote script ended (exit %d) with batches unanswered",
		         ss->srv->id, libssh2_channel_get_exit_status(ss->loop));
		al_session_close(ss);
		return PV_EUNREACH;
	}
	wait_io(ss, wake_fd, until_ms);
	if ((rc = loop_drain(ss)) < 0)
		return loop_fail(ss, rc, "reading answers", detail, detail_len);
	if (rc > 0)
		ss->last_used_ms = pv_now_ms();
	return 0;
}

int al_session_take(struct al_session *ss, struct al_buf *out, int *status)
{
	return al_answer_take(&ss->rbuf, &ss->scan, out, status);
}
