/* SPDX-License-Identifier: MIT */
/*
 * The stats file: what the switch carried and dropped, per port and in total,
 * so a test can check that its traffic went through the switch (a frame that
 * bypassed it would be missing from these counters).  Written whole to a temp
 * file and renamed, so a reader never sees half of it; "generation" grows by
 * one per write, so a reader that asked (SIGUSR1) knows when the answer is in.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "netsim.h"

static json_t *counters_json(const struct netsim_port_stats *s)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "rx_frames",
	                 (json_int_t)s->rx_frames, "rx_bytes", (json_int_t)s->rx_bytes, "tx_frames",
	                 (json_int_t)s->tx_frames, "tx_bytes", (json_int_t)s->tx_bytes,
	                 "drop_filter", (json_int_t)s->drop_filter, "drop_loss",
	                 (json_int_t)s->drop_loss, "drop_full", (json_int_t)s->drop_full,
	                 "drop_write", (json_int_t)s->drop_write);
}

/* A port's identity, link settings and counters in one object. */
static json_t *port_json(const struct netsim_port *p)
{
	char ip[INET_ADDRSTRLEN];
	struct in_addr a = {.s_addr = p->ip4};
	json_t *j, *c = counters_json(&p->st);

	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	j = json_pack("{s:s, s:s, s:b, s:f, s:f}", "name", p->name, "ip", ip, "open", p->fd >= 0,
	              "loss", p->loss_ppm / 10000.0, "jitter_ms", p->jitter_us / 1000.0);
	if (!j || !c || json_object_update(j, c) < 0) {
		json_decref(j);
		j = NULL;
	}
	json_decref(c);
	return j;
}

static void add_totals(struct netsim_port_stats *t, const struct netsim_port_stats *s)
{
	t->rx_frames += s->rx_frames;
	t->rx_bytes += s->rx_bytes;
	t->tx_frames += s->tx_frames;
	t->tx_bytes += s->tx_bytes;
	t->drop_filter += s->drop_filter;
	t->drop_loss += s->drop_loss;
	t->drop_full += s->drop_full;
	t->drop_write += s->drop_write;
}

static json_t *stats_json(const struct netsim_ports *ps, uint64_t generation, size_t queued)
{
	struct netsim_port_stats t = {0};
	json_t *ports = json_array(), *p;
	uint16_t i;

	for (i = 0; ports && i < ps->n; i++) {
		add_totals(&t, &ps->p[i].st);
		p = port_json(&ps->p[i]);
		if (!p || json_array_append_new(ports, p) < 0) {
			json_decref(ports);
			return NULL;
		}
	}
	return json_pack("{s:I, s:I, s:o, s:o}", "generation", (json_int_t)generation, "queued",
	                 (json_int_t)queued, "total", counters_json(&t), "ports", ports);
}

int netsim_stats_write(const char *path, const struct netsim_ports *ps, uint64_t generation,
                       size_t queued)
{
	char tmp[4096];
	json_t *j = stats_json(ps, generation, queued);
	int r = -1;

	if (!j) {
		errno = ENOMEM;
		return -1;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		goto out;
	}
	if (json_dump_file(j, tmp, JSON_INDENT(1) | JSON_SORT_KEYS) < 0)
		goto out;
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		goto out;
	}
	r = 0;
out:
	json_decref(j);
	return r;
}
