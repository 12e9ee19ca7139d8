/* SPDX-License-Identifier: MIT */
/*
 * The port table, read from the fleet's ports file (one JSON object per
 * line, appended by tests/fleet/fleet and announced with SIGHUP).  Each port
 * is a TAP device named eth0 that the switch creates inside the port's
 * network namespace: it enters the namespace (setns), opens /dev/net/tun
 * there (a TAP belongs to the namespace it was opened in) and comes back.  The
 * TAP is not persistent: when the switch exits, every port's eth0 goes, so
 * no frame can take another path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <jansson.h>

#include "netsim.h"

#define MAX_JITTER_MS 10000.0

struct port_line {
	const char *name, *netns, *ip, *loc, *role;
	double loss_pct, jitter_ms;
};

static int name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	return n > 0 && n < max && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

/* TAP "eth0" inside /run/netns/<netns>, or -1 (errno set, message on stderr). */
static int open_tap_in(const struct netsim_ports *ps, const char *netns)
{
	char path[128];
	struct ifreq ifr;
	int nsfd, fd = -1, saved;

	snprintf(path, sizeof(path), "/run/netns/%s", netns);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "pv-netsim: cannot enter %s: %s\n", path, strerror(errno));
		goto out;
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth0");
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
		fprintf(stderr, "pv-netsim: cannot create TAP eth0 in %s: %s\n", netns,
		        strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	saved = errno;
	/* Back home; failing that, later ports would land in the wrong namespace. */
	if (setns(ps->self_ns, CLONE_NEWNET) < 0) {
		fprintf(stderr, "pv-netsim: cannot return to our namespace: %s\n", strerror(errno));
		abort();
	}
	errno = saved;
out:
	if (nsfd >= 0)
		close(nsfd);
	return fd;
}

static int find_name(const struct netsim_ports *ps, const char *name)
{
	uint16_t i;

	for (i = 0; i < ps->n; i++)
		if (strcmp(ps->p[i].name, name) == 0)
			return i;
	return -1;
}

/* Check one parsed line; 0 or -1 with the reason on stderr. */
static int check_line(const struct port_line *l, const struct netsim_geo *g, int lineno,
                      uint32_t *ip4, int *loc, int *role)
{
	const char *why = NULL;
	struct in_addr a;

	if (!name_ok(l->name, sizeof(((struct netsim_port *)0)->name)))
		why = "name wants [a-z0-9_-], under 32 bytes";
	else if (!name_ok(l->netns, sizeof(((struct netsim_port *)0)->netns)))
		why = "netns wants [a-z0-9_-], under 64 bytes";
	else if (inet_pton(AF_INET, l->ip, &a) != 1)
		why = "ip is not an IPv4 address";
	else if ((*loc = netsim_geo_find(g, l->loc)) < 0)
		why = "loc is not a location of the geography file";
	else if ((*role = netsim_role_parse(l->role)) < 0)
		why = "role wants client, server or controller";
	else if (!(l->loss_pct >= 0 && l->loss_pct <= 100))
		why = "loss wants a percentage 0..100";
	else if (!(l->jitter_ms >= 0 && l->jitter_ms <= MAX_JITTER_MS))
		why = "jitter_ms wants 0..10000";
	if (why) {
		fprintf(stderr, "pv-netsim: ports file line %d: %s\n", lineno, why);
		return -1;
	}
	*ip4 = a.s_addr;
	return 0;
}

/* Apply one line: update a known port's link, or add and open a new one. */
static int apply_line(struct netsim_ports *ps, const struct netsim_geo *g, const char *text,
                      int lineno)
{
	struct port_line l = {0};
	struct netsim_port *p;
	json_error_t je;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	int r = -1, loc = -1, role = -1, i;
	uint32_t ip4 = 0;

	if (!j || json_unpack_ex(j, &je, JSON_STRICT, "{s:s, s:s, s:s, s:s, s:s, s?F, s?F}", "name",
	                         &l.name, "netns", &l.netns, "ip", &l.ip, "loc", &l.loc, "role",
	                         &l.role, "loss", &l.loss_pct, "jitter_ms", &l.jitter_ms) < 0) {
		fprintf(stderr, "pv-netsim: ports file line %d: %s\n", lineno, je.text);
		goto out;
	}
	if (check_line(&l, g, lineno, &ip4, &loc, &role) < 0)
		goto out;
	if ((i = find_name(ps, l.name)) < 0) {
		if (ps->n >= NETSIM_MAX_PORTS) {
			fprintf(stderr, "pv-netsim: ports file line %d: more than %d ports\n",
			        lineno, NETSIM_MAX_PORTS);
			goto out;
		}
		i = ps->n;
		p = &ps->p[i];
		memset(p, 0, sizeof(*p));
		snprintf(p->name, sizeof(p->name), "%s", l.name);
		snprintf(p->netns, sizeof(p->netns), "%s", l.netns);
		p->fd = open_tap_in(ps, l.netns);
		if (p->fd < 0)
			goto out;
		ps->n++;
	}
	p = &ps->p[i];
	p->ip4 = ip4;
	p->loc = loc;
	p->role = (enum netsim_role)role;
	p->loss_ppm = (uint32_t)(l.loss_pct * 10000.0 + 0.5);
	p->jitter_us = (uint32_t)(l.jitter_ms * 1000.0 + 0.5);
	r = 0;
out:
	json_decref(j);
	return r;
}

int netsim_ports_load(struct netsim_ports *ps, const struct netsim_geo *g, const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, bad = 0;

	if (!f) {
		fprintf(stderr, "pv-netsim: cannot read ports file %s: %s\n", path,
		        strerror(errno));
		return 1;
	}
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		if (line[strspn(line, " \t\n")] == '\0')
			continue;
		if (apply_line(ps, g, line, lineno) < 0)
			bad++;
	}
	free(line);
	fclose(f);
	return bad;
}

int netsim_ports_by_ip(const struct netsim_ports *ps, uint32_t ip4)
{
	uint16_t i;

	for (i = 0; i < ps->n; i++)
		if (ps->p[i].fd >= 0 && ps->p[i].ip4 == ip4)
			return i;
	return -1;
}

int netsim_ports_by_mac(const struct netsim_ports *ps, const unsigned char mac[6])
{
	uint16_t i;

	for (i = 0; i < ps->n; i++)
		if (ps->p[i].fd >= 0 && ps->p[i].mac_known && memcmp(ps->p[i].mac, mac, 6) == 0)
			return i;
	return -1;
}

void netsim_ports_close(struct netsim_ports *ps)
{
	uint16_t i;

	for (i = 0; i < ps->n; i++) {
		if (ps->p[i].fd >= 0)
			close(ps->p[i].fd);
		ps->p[i].fd = -1;
	}
}
