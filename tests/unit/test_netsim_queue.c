/* SPDX-License-Identifier: MIT */
/* pv-netsim's delay queue: due times computed from the clock it is given (never
 * measured), order per pair under jitter, loss rate with a fixed seed, caps. */
#include <string.h>

#include "netsim.h"
#include "test.h"

static const struct netsim_link plain = {.delay_us = 45000};

static int push_n(struct netsim_queue *q, struct netsim_rng *rng, uint64_t now, uint16_t s,
                  uint16_t d, const struct netsim_link *l, uint32_t n)
{
	return netsim_queue_push(q, rng, now, s, d, l, &n, sizeof(n), NULL);
}

static uint32_t payload(const struct netsim_frame *f)
{
	uint32_t n;

	memcpy(&n, f->data, sizeof(n));
	return n;
}

static void test_due_time_is_now_plus_delay(void)
{
	struct netsim_queue *q = netsim_queue_new(4, 16, 64);
	struct netsim_rng rng;
	struct netsim_link fast = {.delay_us = 10000};
	struct netsim_frame *f;
	uint64_t due = 0;

	TEST_START("a frame is due exactly its pair's delay after it was pushed, not a µs sooner");
	netsim_rng_seed(&rng, 1);
	ASSERT_INT_EQ(netsim_queue_push(q, &rng, 1000, 0, 1, &plain, "x", 1, &due), NETSIM_QUEUED);
	ASSERT_INT_EQ(due, 46000);
	ASSERT_INT_EQ(netsim_queue_next_due(q), 46000);
	ASSERT_TRUE(netsim_queue_pop(q, 45999) == NULL);
	/* A later push on a shorter pair overtakes: pairs are independent. */
	ASSERT_INT_EQ(push_n(q, &rng, 5000, 2, 3, &fast, 7), NETSIM_QUEUED);
	f = netsim_queue_pop(q, 46000);
	ASSERT_TRUE(f != NULL);
	ASSERT_INT_EQ(f->src, 2);
	ASSERT_INT_EQ(f->due_us, 15000);
	free(f);
	f = netsim_queue_pop(q, 46000);
	ASSERT_TRUE(f != NULL);
	ASSERT_INT_EQ(f->due_us, 46000);
	ASSERT_INT_EQ(f->len, 1);
	free(f);
	ASSERT_INT_EQ(netsim_queue_len(q), 0);
	ASSERT_INT_EQ(netsim_queue_next_due(q), UINT64_MAX);
	netsim_queue_free(q);
	TEST_DONE();
}

static void test_jitter_never_reorders_a_pair(void)
{
	struct netsim_queue *q = netsim_queue_new(4, 4096, 8192);
	struct netsim_link jit = {.delay_us = 20000, .jitter_us = 15000};
	struct netsim_rng rng;
	struct netsim_frame *f;
	uint32_t i, next[2] = {0, 0};
	uint64_t last = 0, due;

	TEST_START(
	        "with jitter larger than the gap between frames, each pair still arrives in order");
	netsim_rng_seed(&rng, 19);
	for (i = 0; i < 2000; i++) {
		uint16_t src = (uint16_t)(i % 2);

		ASSERT_INT_EQ(netsim_queue_push(q, &rng, (uint64_t)i * 100, src, 3, &jit, &i,
		                                sizeof(i), &due),
		              NETSIM_QUEUED);
		ASSERT_TRUE(due >= (uint64_t)i * 100 + 20000);
	}
	while ((f = netsim_queue_pop(q, UINT64_MAX - 1))) {
		ASSERT_TRUE(f->due_us >= last);
		last = f->due_us;
		ASSERT_INT_EQ(payload(f), next[f->src] * 2 + f->src);
		next[f->src]++;
		free(f);
	}
	ASSERT_INT_EQ(next[0] + next[1], 2000);
	netsim_queue_free(q);
	TEST_DONE();
}

static void test_jitter_stays_in_range(void)
{
	struct netsim_queue *q = netsim_queue_new(2, 4, 4);
	struct netsim_link jit = {.delay_us = 20000, .jitter_us = 15000};
	struct netsim_rng rng;
	uint64_t due, now, lo = UINT64_MAX, hi = 0;
	uint32_t i;

	TEST_START("frames far apart get delay + a jitter drawn over all of [0, jitter]");
	netsim_rng_seed(&rng, 19);
	for (i = 0; i < 1000; i++) {
		now = (uint64_t)i * 1000000U; /* 1 s apart: nothing is held back */
		ASSERT_INT_EQ(netsim_queue_push(q, &rng, now, 0, 1, &jit, &i, sizeof(i), &due),
		              NETSIM_QUEUED);
		free(netsim_queue_pop(q, due));
		lo = due - now < lo ? due - now : lo;
		hi = due - now > hi ? due - now : hi;
	}
	ASSERT_INT_LT(19999, lo);
	ASSERT_INT_LT(lo, 20500);
	ASSERT_INT_LT(34500, hi);
	ASSERT_INT_LT(hi, 35001);
	netsim_queue_free(q);
	TEST_DONE();
}

static void test_loss_rate_with_a_fixed_seed(void)
{
	struct netsim_queue *q = netsim_queue_new(2, 4, 4);
	struct netsim_link lossy = {.delay_us = 1, .loss_ppm = 20000};
	struct netsim_rng rng;
	uint32_t i, lost = 0, n = 100000;

	TEST_START("2% loss drops 2% of 100000 frames, within five standard deviations");
	netsim_rng_seed(&rng, 19);
	for (i = 0; i < n; i++) {
		int r = push_n(q, &rng, i, 0, 1, &lossy, i);

		if (r == NETSIM_LOST)
			lost++;
		else
			free(netsim_queue_pop(q, UINT64_MAX - 1));
	}
	/* Binomial: mean 2000, sd sqrt(100000 * 0.02 * 0.98) = 44.3. */
	ASSERT_INT_LT(2000 - 222, lost);
	ASSERT_INT_LT(lost, 2000 + 222);
	netsim_queue_free(q);
	TEST_DONE();
}

static void test_caps_bound_memory(void)
{
	struct netsim_queue *q = netsim_queue_new(4, 3, 5);
	struct netsim_rng rng;
	uint32_t i;

	TEST_START("a full pair, or a full queue, refuses the next frame until one is delivered");
	netsim_rng_seed(&rng, 1);
	for (i = 0; i < 3; i++)
		ASSERT_INT_EQ(push_n(q, &rng, 0, 0, 1, &plain, i), NETSIM_QUEUED);
	ASSERT_INT_EQ(push_n(q, &rng, 0, 0, 1, &plain, 3), NETSIM_FULL);
	ASSERT_INT_EQ(push_n(q, &rng, 0, 1, 0, &plain, 4), NETSIM_QUEUED); /* other direction */
	ASSERT_INT_EQ(push_n(q, &rng, 0, 2, 0, &plain, 5), NETSIM_QUEUED);
	ASSERT_INT_EQ(push_n(q, &rng, 0, 3, 0, &plain, 6), NETSIM_FULL); /* 5 overall */
	free(netsim_queue_pop(q, 45000));
	ASSERT_INT_EQ(push_n(q, &rng, 0, 0, 1, &plain, 7), NETSIM_QUEUED);
	ASSERT_INT_EQ(netsim_queue_push(q, &rng, 0, 9, 1, &plain, "x", 1, NULL), -1);
	netsim_queue_free(q);
	TEST_DONE();
}

static void test_drop_port_forgets_its_frames(void)
{
	struct netsim_queue *q = netsim_queue_new(4, 16, 64);
	struct netsim_rng rng;
	struct netsim_frame *f;
	uint32_t i, left = 0;

	TEST_START("a port that goes away takes its queued frames, both directions, with it");
	netsim_rng_seed(&rng, 1);
	for (i = 0; i < 12; i++)
		ASSERT_INT_EQ(
		        push_n(q, &rng, i, (uint16_t)(i % 4), (uint16_t)((i + 1) % 4), &plain, i),
		        NETSIM_QUEUED);
	netsim_queue_drop_port(q, 2);
	ASSERT_INT_EQ(netsim_queue_len(q), 6);
	while ((f = netsim_queue_pop(q, UINT64_MAX - 1))) {
		ASSERT_TRUE(f->src != 2 && f->dst != 2);
		left++;
		free(f);
	}
	ASSERT_INT_EQ(left, 6);
	netsim_queue_free(q);
	TEST_DONE();
}

int main(void)
{
	test_due_time_is_now_plus_delay();
	test_jitter_never_reorders_a_pair();
	test_jitter_stays_in_range();
	test_loss_rate_with_a_fixed_seed();
	test_caps_bound_memory();
	test_drop_port_forgets_its_frames();
	TEST_SUMMARY();
}
