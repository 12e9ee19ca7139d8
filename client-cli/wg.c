/* SPDX-License-Identifier: MIT */
/*
 * Running wg and wg-quick: fork + execvp with an argv array, never a shell,
 * and never a key in argv (wg-quick reads keys from the 0600 config file).
 * Also parses `wg show IFACE dump`, whose first line holds the interface's
 * private key: that column is skipped and the text cleansed.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	pid = fork();
	if (pid < 0)
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

/* Split line at tabs into at most max fields (in place); returns the count. */
static int split_tabs(char *line, char **f, int max)
{
	int n = 0;

	while (line && n < max) {
		char *tab = strchr(line, '\t');

		f[n++] = line;
		if (tab)
			*tab = '\0';
		line = tab ? tab + 1 : NULL;
	}
	return line ? max + 1 : n;
}

static int parse_u64(const char *s, int base, uint64_t *v)
{
	char *end;

	if (!s[0] || s[0] == '-' || s[0] == '+' || s[0] == ' ')
		return PV_EINVAL;
	errno = 0;
	*v = strtoull(s, &end, base);
	return *end || errno ? PV_EINVAL : 0;
}

static int parse_iface_line(char *line, struct vpnctl_wg_status *st)
{
	char *f[5];
	uint64_t mark = 0;
	int n = split_tabs(line, f, 4);

	/* private-key public-key listen-port fwmark (0x-hex or "off"); f[0] is never copied. */
	if (n != 4 || !pv_key_is_valid_base64(f[1]))
		return PV_EINVAL;
	if (strcmp(f[3], "off") != 0 && (strncmp(f[3], "0x", 2) != 0 ||
	                                 parse_u64(f[3] + 2, 16, &mark) < 0 || mark > UINT32_MAX))
		return PV_EINVAL;
	snprintf(st->public_key, sizeof(st->public_key), "%s", f[1]);
	st->fwmark = (uint32_t)mark;
	return 0;
}

static int parse_peer_line(char *line, struct vpnctl_wg_peer *p)
{
	char *f[9];
	uint64_t hs;
	int n = split_tabs(line, f, 8);

	/* public-key psk endpoint allowed-ips latest-handshake rx tx keepalive */
	if (n != 8 || !pv_key_is_valid_base64(f[0]) || parse_u64(f[4], 10, &hs) < 0 ||
	    parse_u64(f[5], 10, &p->rx) < 0 || parse_u64(f[6], 10, &p->tx) < 0 || hs > INT64_MAX)
		return PV_EINVAL;
	snprintf(p->public_key, sizeof(p->public_key), "%s", f[0]);
	snprintf(p->endpoint, sizeof(p->endpoint), "%s", f[2]);
	snprintf(p->allowed_ips, sizeof(p->allowed_ips), "%s", f[3]);
	p->latest_handshake = (int64_t)hs;
	return 0;
}

int vpnctl_wg_dump_parse(const char *dump, struct vpnctl_wg_status *st)
{
	size_t len = strlen(dump);
	char *copy = strdup(dump), *line, *next;
	int r = PV_EINVAL, i;

	memset(st, 0, sizeof(*st));
	if (!copy)
		return PV_ENOMEM;
	for (line = copy, i = 0; line && *line; line = next, i++) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (i == 0) {
			if (parse_iface_line(line, st) < 0)
				goto out;
			continue;
		}
		if (st->npeers == 0 && parse_peer_line(line, &st->peer) < 0)
			goto out;
		st->npeers++;
	}
	r = i > 0 ? 0 : PV_EINVAL;
out:
	OPENSSL_clear_free(copy, len + 1);
	return r;
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
