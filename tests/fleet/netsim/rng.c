/* SPDX-License-Identifier: MIT */
/*
 * The switch's random draws (loss, jitter) from a seeded splitmix64, so a
 * unit test with a fixed seed sees the same sequence every run.
 */
#include "netsim.h"

void netsim_rng_seed(struct netsim_rng *r, uint64_t seed)
{
	r->state = seed;
}

uint64_t netsim_rng_next(struct netsim_rng *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint32_t netsim_rng_upto(struct netsim_rng *r, uint32_t bound)
{
	/* The modulo bias is below 2^-32 for 32-bit bounds: irrelevant here. */
	return bound ? (uint32_t)(netsim_rng_next(r) % ((uint64_t)bound + 1)) : 0;
}

int netsim_rng_chance(struct netsim_rng *r, uint32_t ppm)
{
	return ppm && netsim_rng_next(r) % 1000000U < ppm;
}
