/* SPDX-License-Identifier: MIT */
/*
 * Frames waiting for their due time: a binary min-heap ordered by (due time,
 * push order).  Each (source, destination) pair remembers the due time of its
 * last frame and never schedules the next one earlier, so jitter cannot
 * reorder a pair; equal due times fall back to push order.  Memory is bounded
 * by a cap per pair and a cap overall: beyond them a frame is refused (the
 * caller counts it), as a full router queue would drop it.
 */
#include <stdlib.h>
#include <string.h>

#include "netsim.h"

struct pair {
	uint64_t last_due;
	uint32_t queued;
};

struct netsim_queue {
	struct netsim_frame **heap;
	size_t len, cap; /* cap: the overall bound */
	uint16_t max_ports;
	uint32_t per_pair;
	uint64_t seq;
	struct pair *pairs; /* max_ports * max_ports */
};

struct netsim_queue *netsim_queue_new(uint16_t max_ports, uint32_t per_pair, uint32_t total)
{
	struct netsim_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->heap = calloc(total, sizeof(struct netsim_frame *));
	q->pairs = calloc((size_t)max_ports * max_ports, sizeof(*q->pairs));
	if (!q->heap || !q->pairs) {
		netsim_queue_free(q);
		return NULL;
	}
	q->cap = total;
	q->max_ports = max_ports;
	q->per_pair = per_pair;
	return q;
}

void netsim_queue_free(struct netsim_queue *q)
{
	size_t i;

	if (!q)
		return;
	for (i = 0; i < q->len; i++)
		free(q->heap[i]);
	free(q->heap);
	free(q->pairs);
	free(q);
}

static int earlier(const struct netsim_frame *a, const struct netsim_frame *b)
{
	return a->due_us < b->due_us || (a->due_us == b->due_us && a->seq < b->seq);
}

static void swap(struct netsim_frame **h, size_t i, size_t j)
{
	struct netsim_frame *t = h[i];

	h[i] = h[j];
	h[j] = t;
}

static void sift_up(struct netsim_frame **h, size_t i)
{
	while (i > 0 && earlier(h[i], h[(i - 1) / 2])) {
		swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void sift_down(struct netsim_frame **h, size_t len, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < len && earlier(h[l], h[m]))
			m = l;
		if (r < len && earlier(h[r], h[m]))
			m = r;
		if (m == i)
			return;
		swap(h, i, m);
		i = m;
	}
}

static struct pair *pair_of(struct netsim_queue *q, uint16_t src, uint16_t dst)
{
	return &q->pairs[(size_t)src * q->max_ports + dst];
}

int netsim_queue_push(struct netsim_queue *q, struct netsim_rng *rng, uint64_t now_us, uint16_t src,
                      uint16_t dst, const struct netsim_link *link, const void *data, size_t len,
                      uint64_t *due_us)
{
	struct netsim_frame *f;
	struct pair *p;
	uint64_t due;

	if (src >= q->max_ports || dst >= q->max_ports || len > UINT16_MAX)
		return -1;
	if (netsim_rng_chance(rng, link->loss_ppm))
		return NETSIM_LOST;
	p = pair_of(q, src, dst);
	if (q->len >= q->cap || p->queued >= q->per_pair)
		return NETSIM_FULL;
	f = malloc(sizeof(*f) + len);
	if (!f)
		return -1;
	due = now_us + link->delay_us + netsim_rng_upto(rng, link->jitter_us);
	if (due < p->last_due)
		due = p->last_due;
	p->last_due = due;
	p->queued++;
	f->due_us = due;
	f->seq = q->seq++;
	f->src = src;
	f->dst = dst;
	f->len = (uint16_t)len;
	memcpy(f->data, data, len);
	q->heap[q->len] = f;
	sift_up(q->heap, q->len++);
	if (due_us)
		*due_us = due;
	return NETSIM_QUEUED;
}

struct netsim_frame *netsim_queue_pop(struct netsim_queue *q, uint64_t now_us)
{
	struct netsim_frame *f;

	if (q->len == 0 || q->heap[0]->due_us > now_us)
		return NULL;
	f = q->heap[0];
	q->heap[0] = q->heap[--q->len];
	sift_down(q->heap, q->len, 0);
	pair_of(q, f->src, f->dst)->queued--;
	return f;
}

uint64_t netsim_queue_next_due(const struct netsim_queue *q)
{
	return q->len ? q->heap[0]->due_us : UINT64_MAX;
}

size_t netsim_queue_len(const struct netsim_queue *q)
{
	return q->len;
}

void netsim_queue_drop_port(struct netsim_queue *q, uint16_t p)
{
	size_t i, kept = 0;

	/* Filter, then rebuild the heap bottom-up (Floyd): simpler than removing
	 * from the middle while walking it. */
	for (i = 0; i < q->len; i++) {
		struct netsim_frame *f = q->heap[i];

		if (f->src == p || f->dst == p) {
			pair_of(q, f->src, f->dst)->queued--;
			free(f);
		} else {
			q->heap[kept++] = f;
		}
	}
	q->len = kept;
	for (i = kept / 2; i-- > 0;)
		sift_down(q->heap, q->len, i);
}
