/* SPDX-License-Identifier: MIT */
/*
 * Forwarding: a frame read from a port goes to the port that owns its
 * destination address (IPv4 destination, ARP target), or for link-scope
 * IPv6 (neighbour discovery) to the port that owns its destination MAC, or to
 * every other port for link-scope multicast.  Anything else, including any
 * IPv4 address that no port of the fleet holds, is dropped and counted on the
 * port it came from.  Each copy waits in the queue for the pair's delay,
 * except address resolution (ARP, neighbour discovery): on a real path it
 * only reaches the next router, so it must not cost a WAN round trip here
 * (a first probe would otherwise measure two).  It still queues behind the
 * pair's earlier frames, so order per pair holds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netsim.h"

/* The link from port a to port b: geography delay, the larger jitter, and
 * the loss of both ends (a frame must survive both links). */
static void pair_link(const struct netsim_switch *sw, const struct netsim_port *a,
                      const struct netsim_port *b, struct netsim_link *l)
{
	uint64_t keep = (uint64_t)(1000000U - a->loss_ppm) * (1000000U - b->loss_ppm) / 1000000U;

	l->delay_us = netsim_geo_oneway_us(sw->geo, a->loc, a->role, b->loc, b->role);
	l->jitter_us = a->jitter_us > b->jitter_us ? a->jitter_us : b->jitter_us;
	l->loss_ppm = (uint32_t)(1000000U - keep);
}

static void enqueue(struct netsim_switch *sw, uint16_t src, uint16_t dst, const unsigned char *f,
                    size_t len, int resolve, uint64_t now_us)
{
	struct netsim_port *s = &sw->ports->p[src];
	struct netsim_link l;

	pair_link(sw, s, &sw->ports->p[dst], &l);
	if (resolve)
		l.delay_us = l.jitter_us = 0;
	switch (netsim_queue_push(sw->queue, &sw->rng, now_us, src, dst, &l, f, len, NULL)) {
	case NETSIM_QUEUED:
		break;
	case NETSIM_LOST:
		s->st.drop_loss++;
		break;
	default: /* full, or out of memory: both are a full queue to the sender */
		s->st.drop_full++;
		break;
	}
}

void netsim_switch_input(struct netsim_switch *sw, uint16_t src, const unsigned char *f, size_t len,
                         uint64_t now_us)
{
	struct netsim_ports *ps = sw->ports;
	struct netsim_port *s = &ps->p[src];
	struct netsim_dest d;
	int dst = -1;
	uint16_t i;

	s->st.rx_frames++;
	s->st.rx_bytes += len;
	netsim_frame_parse(f, len, &d);
	if (d.kind != NETSIM_K_OTHER) {
		memcpy(s->mac, d.smac, 6);
		s->mac_known = 1;
	}
	switch (d.kind) {
	case NETSIM_K_IPV4:
	case NETSIM_K_ARP:
		dst = netsim_ports_by_ip(ps, d.ip4);
		break;
	case NETSIM_K_V6_LINK:
		if (d.flood) {
			for (i = 0; i < ps->n; i++)
				if (i != src && ps->p[i].fd >= 0)
					enqueue(sw, src, i, f, len, d.resolve, now_us);
			return;
		}
		dst = netsim_ports_by_mac(ps, d.dmac);
		break;
	default:
		break;
	}
	if (dst < 0 || dst == src) {
		s->st.drop_filter++;
		return;
	}
	enqueue(sw, src, (uint16_t)dst, f, len, d.resolve, now_us);
}

void netsim_switch_deliver(struct netsim_switch *sw, uint64_t now_us)
{
	struct netsim_frame *f;

	while ((f = netsim_queue_pop(sw->queue, now_us))) {
		struct netsim_port *d = &sw->ports->p[f->dst];

		if (d->fd >= 0 && write(d->fd, f->data, f->len) == (ssize_t)f->len) {
			d->st.tx_frames++;
			d->st.tx_bytes += f->len;
		} else {
			d->st.drop_write++;
		}
		free(f);
	}
}
