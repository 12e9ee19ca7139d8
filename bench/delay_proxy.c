/* SPDX-License-Identifier: MIT */
/*
 * bench_delay_proxy: a TCP proxy on loopback that delays each direction by D
 * ms, in order, so SSH sessions through it see a round trip of 2·D (this
 * kernel has no netem; see /work/shared/testbed.md "Networking rules").
 *
 *   bench_delay_proxy DELAY_MS LPORT:HOST:PORT [LPORT:HOST:PORT ...]
 *
 * Listens on 127.0.0.1:LPORT for each mapping and forwards to HOST:PORT.
 * Every chunk read is queued with its due time (now + D) and written when due,
 * per direction and in order; an EOF travels the same way (shutdown after
 * the data before it).  One thread, one poll() loop; it runs until killed.
 * Prints "ready" on stdout once every port listens.  Bench only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pv.h"

#define MAX_MAPS  64
#define MAX_CONNS 512
#define CHUNK     65536
#define NO_ACTION INT32_MIN

struct chunk {
	struct chunk *next;
	uint64_t due_ms;
	size_t len, off; /* len 0: the EOF marker */
	char data[];
};

/* One direction of a connection: read from src, deliver to dst after D ms. */
struct pipe_dir {
	int src, dst;
	struct chunk *head, **tail;
	int src_eof, done;
	int blocked; /* dst's buffer is full: wait for POLLOUT */
};

struct conn {
	int used;
	struct pipe_dir dir[2];
};

struct map {
	struct sockaddr_storage to;
	int lfd;
	socklen_t tolen;
};

static struct map maps[MAX_MAPS];
static struct conn conns[MAX_CONNS];
static size_t nmaps;
static uint64_t delay_ms;

static int parse_map(struct map *m, char *spec)
{
	struct sockaddr_in la = {.sin_family = AF_INET};
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	char *host = strchr(spec, ':'), *port;
	int one = 1;

	if (!host || !(port = strrchr(host + 1, ':')))
		return -1;
	*host++ = '\0';
	*port++ = '\0';
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	memcpy(&m->to, res->ai_addr, res->ai_addrlen);
	m->tolen = res->ai_addrlen;
	freeaddrinfo(res);
	la.sin_port = htons((uint16_t)strtoul(spec, NULL, 10));
	la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	m->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (m->lfd < 0)
		return -1;
	setsockopt(m->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(m->lfd, (struct sockaddr *)&la, sizeof(la)) < 0 || listen(m->lfd, 64) < 0)
		return -1;
	return 0;
}

static void conn_close(struct conn *c)
{
	int d;

	for (d = 0; d < 2; d++) {
		struct chunk *k;

		while ((k = c->dir[d].head)) {
			c->dir[d].head = k->next;
			free(k);
		}
	}
	close(c->dir[0].src);
	close(c->dir[0].dst);
	memset(c, 0, sizeof(*c));
}

static void accept_one(const struct map *m)
{
	int cfd = accept4(m->lfd, NULL, NULL, SOCK_CLOEXEC), sfd, one = 1, i;
	struct conn *c = NULL;

	if (cfd < 0)
		return;
	for (i = 0; i < MAX_CONNS && !c; i++)
		if (!conns[i].used)
			c = &conns[i];
	sfd = socket(m->to.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!c || sfd < 0 || connect(sfd, (const struct sockaddr *)&m->to, m->tolen) < 0) {
		fprintf(stderr, "bench_delay_proxy: cannot forward: %s\n", strerror(errno));
		close(cfd);
		if (sfd >= 0)
			close(sfd);
		return;
	}
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->used = 1;
	c->dir[0] = (struct pipe_dir){.src = cfd, .dst = sfd};
	c->dir[1] = (struct pipe_dir){.src = sfd, .dst = cfd};
	c->dir[0].tail = &c->dir[0].head;
	c->dir[1].tail = &c->dir[1].head;
}

/* Read what src has into a chunk due D ms from now (len 0 on EOF). */
static void read_dir(struct pipe_dir *p)
{
	struct chunk *k = malloc(sizeof(*k) + CHUNK);
	ssize_t n;

	if (!k)
		return;
	n = read(p->src, k->data, CHUNK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		free(k);
		return;
	}
	k->next = NULL;
	k->due_ms = pv_now_ms() + delay_ms;
	k->len = n > 0 ? (size_t)n : 0;
	k->off = 0;
	p->src_eof = n <= 0;
	*p->tail = k;
	p->tail = &k->next;
}

/* Deliver the chunks that are due; returns the next due time or UINT64_MAX. */
static uint64_t write_dir(struct pipe_dir *p, uint64_t now)
{
	struct chunk *k;

	p->blocked = 0;
	while ((k = p->head) && k->due_ms <= now) {
		if (k->len == 0) {
			shutdown(p->dst, SHUT_WR);
			p->done = 1;
		} else {
			ssize_t n = send(p->dst, k->data + k->off, k->len - k->off,
			                 MSG_DONTWAIT | MSG_NOSIGNAL);

			if (n < 0 && errno == EAGAIN) {
				p->blocked = 1;
				return UINT64_MAX;
			}
			if (n < 0) {
				p->done = 1;
				p->src_eof = 1;
			} else if ((k->off += (size_t)n) < k->len) {
				p->blocked = 1;
				return UINT64_MAX;
			}
		}
		p->head = k->next;
		if (!p->head)
			p->tail = &p->head;
		free(k);
	}
	return k ? k->due_ms : UINT64_MAX;
}

static void loop(void)
{
	static struct pollfd pfd[MAX_MAPS + 4 * MAX_CONNS];
	static int owner[MAX_MAPS + 4 * MAX_CONNS];

	for (;;) {
		uint64_t now = pv_now_ms(), next = UINT64_MAX;
		size_t n = 0, i;
		int d, timeout;

		for (i = 0; i < nmaps; i++) {
			pfd[n] = (struct pollfd){.fd = maps[i].lfd, .events = POLLIN};
			owner[n++] = -1 - (int)i;
		}
		for (i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &conns[i];

			if (!c->used)
				continue;
			for (d = 0; d < 2; d++) {
				uint64_t due = write_dir(&c->dir[d], now);

				if (due < next)
					next = due;
			}
			if (c->dir[0].done && c->dir[1].done) {
				conn_close(c);
				continue;
			}
			for (d = 0; d < 2; d++) {
				struct pipe_dir *p = &c->dir[d];

				if (p->blocked) {
					pfd[n] = (struct pollfd){.fd = p->dst, .events = POLLOUT};
					owner[n++] = NO_ACTION; /* the next pass writes */
				}
				if (p->src_eof)
					continue;
				pfd[n] = (struct pollfd){.fd = p->src, .events = POLLIN};
				owner[n++] = (int)(i * 2 + (size_t)d);
			}
		}
		timeout = next == UINT64_MAX ? 1000 : next <= now ? 0 : (int)(next - now);
		if (poll(pfd, n, timeout) < 0 && errno != EINTR)
			return;
		for (i = 0; i < n; i++) {
			if (owner[i] == NO_ACTION ||
			    !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (owner[i] < 0)
				accept_one(&maps[-1 - owner[i]]);
			else if (conns[owner[i] / 2].used)
				read_dir(&conns[owner[i] / 2].dir[owner[i] % 2]);
		}
	}
}

int main(int argc, char **argv)
{
	int i;

	if (argc < 3 || argc - 2 > MAX_MAPS) {
		fprintf(stderr, "usage: bench_delay_proxy DELAY_MS LPORT:HOST:PORT ...\n");
		return 2;
	}
	delay_ms = strtoull(argv[1], NULL, 10);
	signal(SIGPIPE, SIG_IGN);
	for (i = 2; i < argc; i++) {
		if (parse_map(&maps[nmaps], argv[i]) < 0) {
			fprintf(stderr, "bench_delay_proxy: bad or unusable mapping %s: %s\n",
			        argv[i], strerror(errno));
			return 1;
		}
		nmaps++;
	}
	printf("ready\n");
	fflush(stdout);
	loop();
	return 1;
}
