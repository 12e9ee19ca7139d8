/* SPDX-License-Identifier: MIT */
/*
 * pv_abuse: hostile HTTP(S) clients for tests/e2e/33-controller-abuse.sh.
 * Each mode plays one attacker against a controller on loopback or a test
 * namespace, bounded in connections and seconds, and prints one line of
 * "name=value" figures for the script to assert on.  TLS certificates are
 * not verified: an attacker does not care.
 *
 *   pv_abuse slow     HOST PORT N SECONDS   N requests, one header byte per second each
 *   pv_abuse idle     HOST PORT N SECONDS   N connections that send nothing
 *   pv_abuse pipeline HOST PORT BYTES SECONDS  pipelined GETs, replies never read
 *   pv_abuse flood    HOST PORT N PATH BODY N POSTs of BODY with a bad API key and token
 *   pv_abuse send     HOST PORT SECONDS     stdin as one raw request; prints the reply
 *
 * Options before the mode: --tls, --from A,B,... (source addresses, used in turn).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_CONNS 20000
#define MAX_FROM  64

struct conn {
	int fd;
	SSL *ssl;
	int open;
};

static struct {
	int tls;
	SSL_CTX *ctx;
	const char *host;
	unsigned short port;
	char *from[MAX_FROM];
	size_t n_from, next_from;
} opt;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "pv_abuse: %s: %s\n", what, strerror(errno));
	exit(2);
}

static long arg_long(const char *s, long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "pv_abuse: \"%s\" is not a number in %ld..%ld\n", s, lo, hi);
		exit(2);
	}
	return v;
}

/* Connect (blocking, 5 s timeouts) and, with --tls, handshake; 0 or -1. */
static int conn_open(struct conn *c)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(opt.port)};
	struct timeval tv = {5, 0};

	c->ssl = NULL;
	c->open = 0;
	if (inet_pton(AF_INET, opt.host, &to.sin_addr) != 1) {
		fprintf(stderr, "pv_abuse: %s is not an IPv4 address\n", opt.host);
		exit(2);
	}
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket");
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (opt.n_from) {
		struct sockaddr_in from = {.sin_family = AF_INET};

		inet_pton(AF_INET, opt.from[opt.next_from++ % opt.n_from], &from.sin_addr);
		if (bind(c->fd, (struct sockaddr *)&from, sizeof(from)) < 0)
			die("bind to a --from address");
	}
	if (connect(c->fd, (struct sockaddr *)&to, sizeof(to)) < 0)
		goto fail;
	if (opt.tls) {
		c->ssl = SSL_new(opt.ctx);
		if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1)
			goto fail;
	}
	c->open = 1;
	return 0;
fail:
	if (c->ssl)
		SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
	c->fd = -1;
	ERR_clear_error();
	return -1;
}

static void conn_close(struct conn *c)
{
	if (c->fd < 0)
		return;
	if (c->ssl)
		SSL_free(c->ssl);
	close(c->fd);
	c->fd = -1;
	c->ssl = NULL;
	c->open = 0;
}

/* Write without blocking: bytes written, 0 when it would block, -1 when closed. */
static long conn_write(struct conn *c, const char *p, size_t n)
{
	long w;

	if (c->ssl) {
		w = SSL_write(c->ssl, p, (int)n);
		if (w > 0)
			return w;
		w = SSL_get_error(c->ssl, (int)w);
		ERR_clear_error();
		return w == SSL_ERROR_WANT_WRITE || w == SSL_ERROR_WANT_READ ? 0 : -1;
	}
	w = send(c->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w >= 0)
		return w;
	return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
}

/* Read without blocking: bytes, 0 when nothing is there, -1 on close or error. */
static long conn_read(struct conn *c, char *p, size_t n)
{
	long r;

	if (c->ssl) {
		r = SSL_read(c->ssl, p, (int)n);
		if (r > 0)
			return r;
		r = SSL_get_error(c->ssl, (int)r);
		ERR_clear_error();
		return r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE ? 0 : -1;
	}
	r = recv(c->fd, p, n, MSG_DONTWAIT);
	if (r > 0)
		return r;
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return -1;
}

static void nonblocking(struct conn *c)
{
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
}

/* 1 if the server closed c (any reply it sent first is read and dropped). */
static int server_closed(struct conn *c)
{
	char buf[4096];
	long r;
	int rounds;

	for (rounds = 0; rounds < 64; rounds++) {
		if ((r = conn_read(c, buf, sizeof(buf))) < 0)
			return 1;
		if (r == 0)
			return 0;
	}
	return 0;
}

static size_t open_many(struct conn *cs, size_t n, size_t *refused)
{
	size_t i, opened = 0;

	*refused = 0;
	for (i = 0; i < n; i++) {
		if (conn_open(&cs[i]) < 0) {
			(*refused)++;
			continue;
		}
		nonblocking(&cs[i]);
		opened++;
	}
	return opened;
}

/* Close the connections the server closed; the number still open. */
static size_t reap(struct conn *cs, size_t n)
{
	size_t i, open = 0;

	for (i = 0; i < n; i++) {
		if (cs[i].open && server_closed(&cs[i]))
			conn_close(&cs[i]);
		open += cs[i].open;
	}
	return open;
}

/* Every connection starts a request and adds one header byte per second. */
static int mode_slow(size_t n, double secs)
{
	static const char start[] = "GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	struct conn *cs = calloc(n, sizeof(*cs));
	size_t i, refused, opened, open = 0, max_open = 0, bytes = 0;
	double t0, end;

	if (!cs)
		die("calloc");
	opened = open_many(cs, n, &refused);
	t0 = now_s();
	end = t0 + secs;
	for (i = 0; i < n; i++)
		if (cs[i].open && conn_write(&cs[i], start, sizeof(start) - 1) < 0)
			conn_close(&cs[i]);
	while (now_s() < end) {
		open = reap(cs, n);
		if (open > max_open)
			max_open = open;
		if (!open)
			break;
		for (i = 0; i < n; i++) {
			if (cs[i].open && conn_write(&cs[i], "a", 1) == 1)
				bytes++;
		}
		usleep(1000000);
	}
	open = reap(cs, n);
	printf("opened=%zu refused=%zu max_open=%zu open_at_end=%zu bytes=%zu seconds=%.0f\n",
	       opened, refused, max_open, open, bytes, now_s() - t0);
	for (i = 0; i < n; i++)
		conn_close(&cs[i]);
	free(cs);
	return 0;
}

/* Connections that never send: how many does the server keep? */
static int mode_idle(size_t n, double secs)
{
	struct conn *cs = calloc(n, sizeof(*cs));
	size_t i, refused, opened, open;
	double end;

	if (!cs)
		die("calloc");
	opened = open_many(cs, n, &refused);
	end = now_s() + secs;
	while (now_s() < end)
		usleep(100000);
	open = reap(cs, n);
	printf("opened=%zu refused=%zu kept=%zu\n", opened, refused, open);
	for (i = 0; i < n; i++)
		conn_close(&cs[i]);
	free(cs);
	return 0;
}

/* Pipelined requests as fast as the server takes them; never read a reply. */
static int mode_pipeline(size_t total, double secs)
{
	static const char req[] = "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n";
	char block[64 * (sizeof(req) - 1)];
	struct conn c;
	size_t i, sent = 0, off = 0;
	double end, last_progress;
	int closed = 0;

	for (i = 0; i < 64; i++)
		memcpy(block + i * (sizeof(req) - 1), req, sizeof(req) - 1);
	if (conn_open(&c) < 0)
		die("connect");
	nonblocking(&c);
	end = now_s() + secs;
	last_progress = now_s();
	/* Stop when the server has taken nothing for 3 s: it stopped reading. */
	while (sent < total && now_s() < end && now_s() - last_progress < 3) {
		struct pollfd p = {.fd = c.fd, .events = POLLOUT};
		long w = conn_write(&c, block + off, sizeof(block) - off);

		if (w < 0) {
			closed = 1;
			break;
		}
		if (w > 0) {
			sent += (size_t)w;
			off = (off + (size_t)w) % sizeof(block);
			last_progress = now_s();
			continue;
		}
		poll(&p, 1, 200);
	}
	printf("sent=%zu closed=%d\n", sent, closed);
	conn_close(&c);
	return 0;
}

/* Status code of the next reply on a keep-alive connection (0 on error), headers in hdrs. */
static int read_reply(struct conn *c, char *hdrs, size_t hlen, char *body, size_t blen)
{
	size_t have = 0;
	char *eoh, *cl, *end, *sp;
	long need, r;
	int code;
	double deadline = now_s() + 10;

	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};

		hdrs[have] = '\0';
		eoh = strstr(hdrs, "\r\n\r\n");
		if (eoh)
			break;
		if (have + 1 >= hlen || now_s() > deadline)
			return 0;
		if ((r = conn_read(c, hdrs + have, hlen - have - 1)) < 0)
			return 0;
		if (r == 0)
			poll(&p, 1, 200);
		have += (size_t)r;
	}
	sp = strchr(hdrs, ' ');
	if (strncmp(hdrs, "HTTP/1.", 7) != 0 || !sp || sp > eoh)
		return 0;
	code = (int)strtol(sp + 1, &end, 10);
	if (end != sp + 4)
		return 0;
	cl = strcasestr(hdrs, "\r\nContent-Length:");
	need = cl ? strtol(cl + 17, NULL, 10) : 0;
	have -= (size_t)(eoh + 4 - hdrs);
	if (need < 0 || (size_t)need >= blen || have > (size_t)need)
		return 0;
	memcpy(body, eoh + 4, have);
	while ((long)have < need) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};

		if (now_s() > deadline)
			return 0;
		if ((r = conn_read(c, body + have, (size_t)need - have)) < 0)
			return 0;
		if (r == 0)
			poll(&p, 1, 200);
		have += (size_t)r;
	}
	body[have] = '\0';
	*eoh = '\0';
	return code;
}

/* N requests with a wrong key (X-API-Key and a wrong admin token); counts by status. */
static int mode_flood(size_t n, const char *path, const char *json)
{
	char req[1024], hdrs[8192], body[8192];
	size_t i, n2xx = 0, n4xx = 0, n429 = 0, retry_after = 0, json_429 = 0, reconnects = 0;
	struct conn c = {.fd = -1};

	for (i = 0; i < n; i++) {
		int code, len;

		if (c.fd < 0) {
			if (conn_open(&c) < 0)
				die("connect");
			nonblocking(&c);
			reconnects++;
		}
		len = snprintf(req, sizeof(req),
		               "POST %s HTTP/1.1\r\nHost: x\r\nX-API-Key: u%zu_basic_%016zx\r\n"
		               "Authorization: Bearer wrong-token-%zu\r\nContent-Type: "
		               "application/json\r\nContent-Length: %zu\r\n\r\n%s",
		               path, i, i, i, strlen(json), json);
		if (len < 0 || (size_t)len >= sizeof(req) ||
		    conn_write(&c, req, (size_t)len) != len) {
			conn_close(&c);
			continue;
		}
		code = read_reply(&c, hdrs, sizeof(hdrs), body, sizeof(body));
		if (code == 0) {
			conn_close(&c);
			continue;
		}
		n2xx += code / 100 == 2;
		n4xx += code / 100 == 4;
		if (code == 429) {
			n429++;
			retry_after += strcasestr(hdrs, "\r\nRetry-After: ") != NULL;
			json_429 += strstr(body, "\"code\":\"rate_limited\"") != NULL;
		}
	}
	conn_close(&c);
	printf("requests=%zu 2xx=%zu 4xx=%zu 429=%zu retry_after=%zu json_429=%zu "
	       "connections=%zu\n",
	       n, n2xx, n4xx, n429, retry_after, json_429, reconnects);
	return 0;
}

/* One raw request from stdin; the reply (status line and body) on stdout. */
static int mode_send(double secs)
{
	static char in[1 << 20];
	char buf[4096];
	size_t len = fread(in, 1, sizeof(in), stdin), off = 0;
	struct conn c;
	double end = now_s() + secs;

	if (conn_open(&c) < 0)
		die("connect");
	nonblocking(&c);
	while (off < len && now_s() < end) {
		struct pollfd p = {.fd = c.fd, .events = POLLOUT};
		long w = conn_write(&c, in + off, len - off);

		if (w < 0)
			break;
		off += (size_t)w;
		if (w == 0)
			poll(&p, 1, 200);
	}
	while (now_s() < end) {
		struct pollfd p = {.fd = c.fd, .events = POLLIN};
		long r = conn_read(&c, buf, sizeof(buf));

		if (r < 0)
			break;
		if (r == 0) {
			poll(&p, 1, 200);
			continue;
		}
		fwrite(buf, 1, (size_t)r, stdout);
	}
	conn_close(&c);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: pv_abuse [--tls] [--from A,B,...] "
	                "slow|idle|pipeline|flood|send HOST PORT ARGS...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	const char *mode;
	int i = 1;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--tls") == 0) {
			opt.tls = 1;
		} else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
			char *s = argv[++i], *comma;

			while (s && opt.n_from < MAX_FROM) {
				comma = strchr(s, ',');
				if (comma)
					*comma++ = '\0';
				opt.from[opt.n_from++] = s;
				s = comma;
			}
		} else {
			usage();
		}
	}
	if (argc - i < 4)
		usage();
	mode = argv[i];
	opt.host = argv[i + 1];
	opt.port = (unsigned short)arg_long(argv[i + 2], 1, 65535);
	/* SSL_write to a socket the server closed must fail, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	/* Thousands of sockets: take the hard limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (opt.tls) {
		opt.ctx = SSL_CTX_new(TLS_client_method());
		if (!opt.ctx)
			die("SSL_CTX_new");
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (strcmp(mode, "slow") == 0 && argc - i == 5)
		return mode_slow((size_t)arg_long(argv[i + 3], 1, MAX_CONNS),
		                 (double)arg_long(argv[i + 4], 1, 600));
	if (strcmp(mode, "idle") == 0 && argc - i == 5)
		return mode_idle((size_t)arg_long(argv[i + 3], 1, MAX_CONNS),
		                 (double)arg_long(argv[i + 4], 1, 600));
	if (strcmp(mode, "pipeline") == 0 && argc - i == 5)
		return mode_pipeline((size_t)arg_long(argv[i + 3], 1, 1L << 30),
		                     (double)arg_long(argv[i + 4], 1, 600));
	if (strcmp(mode, "flood") == 0 && argc - i == 6)
		return mode_flood((size_t)arg_long(argv[i + 3], 1, 1000000), argv[i + 4],
		                  argv[i + 5]);
	if (strcmp(mode, "send") == 0 && argc - i == 4)
		return mode_send((double)arg_long(argv[i + 3], 1, 600));
	usage();
	return 2;
}
