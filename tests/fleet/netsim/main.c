/* SPDX-License-Identifier: MIT */
/*
 * pv-netsim: the event loop.  One ppoll over a signalfd and every port's TAP,
 * with a timeout that ends at the earliest pending frame's due time (µs
 * precision).  SIGHUP re-reads the ports file (new ports, changed loss or
 * jitter), SIGUSR1 writes the stats file, SIGTERM/SIGINT write it once more
 * and exit.  `pv-netsim --geo FILE --delay LOC:ROLE LOC:ROLE` prints the
 * model's one-way delay in ms instead, for tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "netsim.h"

#define FRAME_BUF      65536
#define READS_PER_PORT 64 /* per wakeup, so one busy port cannot starve the others */
#define DEFAULT_PAIR   2048
#define DEFAULT_TOTAL  32768
#define DEFAULT_SEED   19

struct opts {
	const char *geo, *ports, *stats;
	const char *delay_a, *delay_b;
	unsigned long seed, per_pair, total;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000U + (uint64_t)ts.tv_nsec / 1000U;
}

static void usage(void)
{
	fprintf(stderr, "usage: pv-netsim --geo FILE --ports FILE --stats FILE [--seed N]\n"
	                "                 [--per-pair FRAMES] [--total FRAMES]\n"
	                "       pv-netsim --geo FILE --delay LOC:ROLE LOC:ROLE   (one-way ms)\n"
	                "ROLE is client, server or controller.  See tests/fleet/README.md.\n");
	exit(2);
}

static unsigned long number(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > UINT32_MAX) {
		fprintf(stderr, "pv-netsim: %s wants a positive number, got '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	        {"geo", required_argument, NULL, 'g'},      {"ports", required_argument, NULL, 'p'},
	        {"stats", required_argument, NULL, 's'},    {"seed", required_argument, NULL, 'r'},
	        {"per-pair", required_argument, NULL, 'q'}, {"total", required_argument, NULL, 't'},
	        {"delay", no_argument, NULL, 'd'},          {NULL, 0, NULL, 0}};
	int c, delay = 0;

	memset(o, 0, sizeof(*o));
	o->seed = DEFAULT_SEED;
	o->per_pair = DEFAULT_PAIR;
	o->total = DEFAULT_TOTAL;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'g':
			o->geo = optarg;
			break;
		case 'p':
			o->ports = optarg;
			break;
		case 's':
			o->stats = optarg;
			break;
		case 'r':
			o->seed = number(optarg, "--seed");
			break;
		case 'q':
			o->per_pair = number(optarg, "--per-pair");
			break;
		case 't':
			o->total = number(optarg, "--total");
			break;
		case 'd':
			delay = 1;
			break;
		default:
			usage();
		}
	}
	if (!o->geo)
		usage();
	if (delay) {
		if (argc - optind != 2)
			usage();
		o->delay_a = argv[optind];
		o->delay_b = argv[optind + 1];
	} else if (!o->ports || !o->stats || optind != argc) {
		usage();
	}
}

/* "New York:client" into a location index and a role; -1 when unknown. */
static int endpoint(const struct netsim_geo *g, const char *spec, int *loc, int *role)
{
	char name[64];
	const char *colon = strrchr(spec, ':');

	if (!colon || (size_t)(colon - spec) >= sizeof(name))
		return -1;
	snprintf(name, sizeof(name), "%.*s", (int)(colon - spec), spec);
	*loc = netsim_geo_find(g, name);
	*role = netsim_role_parse(colon + 1);
	return *loc < 0 || *role < 0 ? -1 : 0;
}

static int print_delay(const struct netsim_geo *g, const struct opts *o)
{
	int la, ra, lb, rb;

	if (endpoint(g, o->delay_a, &la, &ra) < 0 || endpoint(g, o->delay_b, &lb, &rb) < 0) {
		fprintf(stderr,
		        "pv-netsim: want LOCATION:ROLE with a location of %s and a role "
		        "client, server or controller\n",
		        o->geo);
		return 2;
	}
	printf("%.3f\n",
	       netsim_geo_oneway_us(g, la, (enum netsim_role)ra, lb, (enum netsim_role)rb) /
	               1000.0);
	return 0;
}

/* Read what port i has for us; a dead TAP closes the port. */
static void drain_port(struct netsim_switch *sw, uint16_t i, unsigned char *buf)
{
	struct netsim_port *p = &sw->ports->p[i];
	int k;

	for (k = 0; k < READS_PER_PORT; k++) {
		ssize_t n = read(p->fd, buf, FRAME_BUF);

		if (n > 0) {
			netsim_switch_input(sw, i, buf, (size_t)n, now_us());
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		fprintf(stderr, "pv-netsim: port %s: TAP gone (%s); closing it\n", p->name,
		        n < 0 ? strerror(errno) : "end of file");
		close(p->fd);
		p->fd = -1;
		netsim_queue_drop_port(sw->queue, i);
		return;
	}
}

static void write_stats(const struct opts *o, const struct netsim_switch *sw, uint64_t *gen)
{
	if (netsim_stats_write(o->stats, sw->ports, ++*gen, netsim_queue_len(sw->queue)) < 0)
		fprintf(stderr, "pv-netsim: cannot write %s: %s\n", o->stats, strerror(errno));
}

/* Handle the pending signals; 1 when it is time to exit. */
static int on_signals(int sfd, const struct opts *o, struct netsim_switch *sw, uint64_t *gen)
{
	struct signalfd_siginfo si;
	int stop = 0;

	while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			int bad = netsim_ports_load(sw->ports, sw->geo, o->ports);

			if (bad)
				fprintf(stderr, "pv-netsim: %d bad line(s) in %s\n", bad, o->ports);
		} else if (si.ssi_signo != SIGUSR1) {
			stop = 1;
		}
		/* After a reload too: the fleet waits for the new port to show here. */
		write_stats(o, sw, gen);
	}
	return stop;
}

/* ppoll's timeout: until the earliest frame is due, or forever. */
static struct timespec *timeout_for(const struct netsim_switch *sw, struct timespec *ts)
{
	uint64_t due = netsim_queue_next_due(sw->queue), now = now_us();

	if (due == UINT64_MAX)
		return NULL;
	due = due > now ? due - now : 0;
	ts->tv_sec = (time_t)(due / 1000000U);
	ts->tv_nsec = (long)(due % 1000000U) * 1000L;
	return ts;
}

static int run(const struct opts *o, struct netsim_switch *sw, int sfd)
{
	static unsigned char buf[FRAME_BUF];
	struct pollfd pfd[NETSIM_MAX_PORTS + 1];
	uint16_t idx[NETSIM_MAX_PORTS + 1];
	uint64_t gen = 0;
	struct timespec ts;
	nfds_t n, i;

	write_stats(o, sw, &gen);
	for (;;) {
		pfd[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
		for (n = 1, i = 0; i < sw->ports->n; i++) {
			if (sw->ports->p[i].fd < 0)
				continue;
			idx[n] = (uint16_t)i;
			pfd[n++] = (struct pollfd){.fd = sw->ports->p[i].fd, .events = POLLIN};
		}
		if (ppoll(pfd, n, timeout_for(sw, &ts), NULL) < 0 && errno != EINTR) {
			fprintf(stderr, "pv-netsim: ppoll: %s\n", strerror(errno));
			return 1;
		}
		for (i = 1; i < n; i++)
			if (pfd[i].revents)
				drain_port(sw, idx[i], buf);
		netsim_switch_deliver(sw, now_us());
		if (pfd[0].revents && on_signals(sfd, o, sw, &gen))
			return 0;
	}
}

int main(int argc, char **argv)
{
	static struct netsim_ports ports;
	struct netsim_switch sw = {.ports = &ports};
	struct netsim_geo *geo = NULL;
	struct opts o;
	char err[512];
	sigset_t set;
	int sfd = -1, r = 1;

	ports.self_ns = -1;
	parse_opts(argc, argv, &o);
	if (netsim_geo_load(o.geo, &geo, err, sizeof(err)) < 0) {
		fprintf(stderr, "pv-netsim: %s\n", err);
		return 1;
	}
	if (o.delay_a) {
		r = print_delay(geo, &o);
		goto out;
	}
	sw.geo = geo;
	netsim_rng_seed(&sw.rng, o.seed);
	sw.queue = netsim_queue_new(NETSIM_MAX_PORTS, (uint32_t)o.per_pair, (uint32_t)o.total);
	ports.self_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (!sw.queue || ports.self_ns < 0 || sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
	    (sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		fprintf(stderr, "pv-netsim: setup failed: %s\n", strerror(errno));
		goto out;
	}
	if (netsim_ports_load(&ports, geo, o.ports))
		fprintf(stderr, "pv-netsim: bad lines in %s (see above)\n", o.ports);
	r = run(&o, &sw, sfd);
out:
	if (sfd >= 0)
		close(sfd);
	netsim_ports_close(&ports);
	if (ports.self_ns >= 0)
		close(ports.self_ns);
	netsim_queue_free(sw.queue);
	netsim_geo_free(geo);
	return r;
}
