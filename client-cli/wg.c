/* SPDX-License-Identifier: MIT */
/*
 * Running wg and wg-quick: fork + execvp with an argv array, never a shell,
 * and never a key in argv (wg-quick reads keys from the 0600 config file).
 * Secrets and scripts reach a child as an inherited memory file (/dev/fd/N).
 * Also reads `wg show IFACE dump` (parsed by common/'s one dump parser,
 * which never copies the private key) into vpnctl's status view.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "vpnctl.h"

#define MAX_OUTPUT (1u << 20)

struct sink {
	char *buf;
	size_t len, cap;
};

static int sink_read(int fd, struct sink *s)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n <= 0)
		return n < 0 && errno == EINTR ? 1 : 0;
	if (s->len + (size_t)n + 1 > s->cap) {
		size_t cap = (s->len + (size_t)n + 1) * 2;
		char *p;

		if (cap > MAX_OUTPUT)
			return 1; /* keep draining, drop the excess */
		p = realloc(s->buf, cap);
		if (!p)
			return 1;
		s->buf = p;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, tmp, (size_t)n);
	s->len += (size_t)n;
	s->buf[s->len] = '\0';
	return 1;
}

/* Child side: wire the pipes and exec; report exec's errno on the CLOEXEC pipe. */
static void child_exec(const char *const argv[], int out_fd, int err_fd, int status_fd)
{
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC), e;

	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], (char *const *)argv);
	e = errno;
	if (write(status_fd, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

static void drain(int out_fd, int err_fd, struct sink *out, struct sink *err)
{
	struct pollfd p[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};

	while (p[0].fd >= 0 || p[1].fd >= 0) {
		int i;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		for (i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			if (!sink_read(p[i].fd, i == 0 ? out : err))
				p[i].fd = -1;
		}
	}
}

int vpnctl_run(const char *const argv[], char **out, char *errbuf, size_t errlen)
{
	int po[2] = {-1, -1}, pe[2] = {-1, -1}, ps[2] = {-1, -1}, status, exec_errno = 0,
	    r = PV_EIO;
	struct sink so = {0}, se = {0};
	pid_t pid = -1;

	if (out)
		*out = NULL;
	if (errlen)
		errbuf[0] = '\0';
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0 || pipe2(ps, O_CLOEXEC) < 0)
		goto out;
	if ((pid = fork()) < 0)
		goto out;
	if (pid == 0)
		child_exec(argv, po[1], pe[1], ps[1]);
	close(po[1]);
	close(pe[1]);
	close(ps[1]);
	po[1] = pe[1] = ps[1] = -1;
	drain(po[0], pe[0], &so, &se);
	if (read(ps[0], &exec_errno, sizeof(exec_errno)) != (ssize_t)sizeof(exec_errno))
		exec_errno = 0;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			goto out;
	if (exec_errno) {
		snprintf(errbuf, errlen, "%s: %s", argv[0], strerror(exec_errno));
		r = exec_errno == ENOENT ? PV_ENOTFOUND : PV_EIO;
		goto out;
	}
	if (se.buf && errlen) {
		/* Keep the tail: the last lines say what failed. */
		size_t keep = se.len < errlen - 1 ? se.len : errlen - 1;

		memcpy(errbuf, se.buf + se.len - keep, keep);
		errbuf[keep] = '\0';
	}
	r = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (out) {
		*out = so.buf ? so.buf : strdup("");
		so.buf = NULL;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
		if (ps[i] >= 0)
			close(ps[i]);
	}
	if (so.buf)
		OPENSSL_clear_free(so.buf, so.cap);
	free(se.buf);
	return r;
}

int vpnctl_iface_exists(const char *iface)
{
	return if_nametoindex(iface) != 0;
}

uint32_t vpnctl_tunnel_fwmark(void)
{
	struct vpnctl_wg_status st;

	if (geteuid() != 0 || !vpnctl_iface_exists(VPNCTL_IFACE) ||
	    vpnctl_wg_status(VPNCTL_IFACE, &st) < 0)
		return 0;
	return st.fwmark;
}

int vpnctl_wg_quick(const char *verb, const char *iface, char *errbuf, size_t errlen)
{
	const char *argv[] = {"wg-quick", verb, iface, NULL};
	int r = vpnctl_run(argv, NULL, errbuf, errlen);

	return r == 0 ? 0 : r < 0 ? r : PV_EREMOTE;
}

int vpnctl_wg_quick_remove(const char *iface, char *errbuf, size_t errlen)
{
	char path[128];
	int r = 0;

	if (vpnctl_iface_exists(iface))
		r = vpnctl_wg_quick("down", iface, errbuf, errlen);
	snprintf(path, sizeof(path), "%s/%s.conf", VPNCTL_WG_DIR, iface);
	if (r == 0 && unlink(path) < 0 && errno != ENOENT) {
		snprintf(errbuf, errlen, "cannot remove %s: %s", path, strerror(errno));
		r = PV_EIO;
	}
	return r;
}

int vpnctl_wg_dump_parse(const char *dump, struct vpnctl_wg_status *st)
{
	struct pv_wg_dump *d = NULL;
	char err[128];
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = pv_wg_dump_parse(&d, dump, strlen(dump), err, sizeof(err))) < 0)
		return r;
	snprintf(st->public_key, sizeof(st->public_key), "%s", d->pubkey);
	st->fwmark = d->fwmark;
	st->npeers = (int)d->n;
	if (d->n) {
		const struct pv_wg_peer *p = &d->peers[0];

		snprintf(st->peer.public_key, sizeof(st->peer.public_key), "%s", p->pubkey);
		snprintf(st->peer.endpoint, sizeof(st->peer.endpoint), "%s", p->endpoint);
		snprintf(st->peer.allowed_ips, sizeof(st->peer.allowed_ips), "%s", p->allowed_ips);
		st->peer.latest_handshake = p->latest_handshake;
		st->peer.rx = p->rx_bytes;
		st->peer.tx = p->tx_bytes;
	}
	pv_wg_dump_free(d);
	return 0;
}

int vpnctl_wg_status(const char *iface, struct vpnctl_wg_status *st)
{
	const char *argv[] = {"wg", "show", iface, "dump", NULL};
	char *out = NULL, err[256];
	int r = vpnctl_run(argv, &out, err, sizeof(err));

	memset(st, 0, sizeof(*st));
	if (r > 0)
		r = PV_EREMOTE;
	if (r == 0)
		r = vpnctl_wg_dump_parse(out, st);
	if (out)
		OPENSSL_clear_free(out, strlen(out));
	return r;
}

/* One datagram into the tunnel makes WireGuard start its handshake now. */
void vpnctl_nudge(const char *iface, const char *client_ipv4)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9)};
	int fd;

	if (inet_pton(AF_INET, client_ipv4, &sa.sin_addr) != 1)
		return;
	/* The server is .1 of the client's /24 (wireguard-install.sh's layout). */
	sa.sin_addr.s_addr = htonl((ntohl(sa.sin_addr.s_addr) & 0xffffff00u) | 1u);
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	/* Bound, the datagram leaves through iface even when the routes point elsewhere. */
	if (!iface ||
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, iface, (socklen_t)strlen(iface)) == 0)
		(void)sendto(fd, "", 0, 0, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
}

int vpnctl_memfd(const char *name, const char *text, char *path, size_t pathlen)
{
	size_t len = strlen(text);
	int fd = memfd_create(name, 0);

	if (fd < 0)
		return PV_EIO;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return PV_EIO;
	}
	snprintf(path, pathlen, "/dev/fd/%d", fd);
	return fd;
}
