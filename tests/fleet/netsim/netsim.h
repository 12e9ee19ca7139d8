/* SPDX-License-Identifier: MIT */
/*
 * pv-netsim: the test fleet's userspace switch with geography.  One TAP port
 * per network namespace; each frame is delivered after the one-way delay of
 * its (source, destination) pair, with optional jitter and loss, in order per
 * pair.  It only carries frames addressed to fleet addresses.  See
 * tests/fleet/README.md ("Geography").
 *
 * Pieces: rng.c (seeded PRNG), geo.c (the geography file and the delay
 * formula), queue.c (pending frames: a heap keyed by due time), frame.c
 * (where a frame is going, and whether it may go), ports.c (the port table,
 * TAP devices opened inside namespaces), stats.c (the stats file), main.c (the
 * event loop).  Times are microseconds of CLOCK_MONOTONIC.
 */
#ifndef PV_NETSIM_H
#define PV_NETSIM_H

#include <stddef.h>
#include <stdint.h>

/* ---- seeded PRNG (rng.c) -------------------------------------------------- */

/* splitmix64: tiny, seedable, and enough for loss and jitter draws. */
struct netsim_rng {
	uint64_t state;
};

void netsim_rng_seed(struct netsim_rng *r, uint64_t seed);
uint64_t netsim_rng_next(struct netsim_rng *r);
/* Uniform in [0, bound]; bound 0 gives 0. */
uint32_t netsim_rng_upto(struct netsim_rng *r, uint32_t bound);
/* 1 with probability ppm / 1e6. */
int netsim_rng_chance(struct netsim_rng *r, uint32_t ppm);

/* ---- geography (geo.c) ---------------------------------------------------- */

enum netsim_role { NETSIM_ROLE_CLIENT = 0, NETSIM_ROLE_DATACENTER = 1 };

struct netsim_geo; /* opaque: locations, distances and the delay model */

/*
 * Load a geography file (JSON, see tests/fleet/geo.json).  On success *out is
 * the caller's (netsim_geo_free).  On failure returns -1 and writes a human
 * message into err.
 */
int netsim_geo_load(const char *path, struct netsim_geo **out, char *err, size_t errlen);
void netsim_geo_free(struct netsim_geo *g);
/* Index of location `name`, or -1. */
int netsim_geo_find(const struct netsim_geo *g, const char *name);
/* Great-circle distance in km between two points (degrees). */
double netsim_geo_km(double lat1, double lon1, double lat2, double lon2);
/*
 * One-way delay in µs between location a in role ra and location b in role
 * rb: access(ra) + access(rb) + route_factor * km(a, b) / fiber_km_per_ms.
 */
uint32_t netsim_geo_oneway_us(const struct netsim_geo *g, int a, enum netsim_role ra, int b,
                              enum netsim_role rb);
/* "client" -> CLIENT; "server"/"controller"/"datacenter" -> DATACENTER; else -1. */
int netsim_role_parse(const char *s);

/* ---- delay queue (queue.c) ------------------------------------------------ */

/* What one direction of a (source, destination) pair does to a frame. */
struct netsim_link {
	uint32_t delay_us;  /* one-way delay */
	uint32_t jitter_us; /* extra delay, uniform in [0, jitter_us] */
	uint32_t loss_ppm;  /* chance of loss, per million */
};

/* A frame waiting for its due time.  Owned by the queue until popped, then by the caller (free). */
struct netsim_frame {
	uint64_t due_us;
	uint64_t seq; /* push order, the tie-break that keeps equal due times in order */
	uint16_t src, dst;
	uint16_t len;
	unsigned char data[];
};

enum netsim_push {
	NETSIM_QUEUED = 0,
	NETSIM_LOST = 1, /* the link's loss draw dropped it */
	NETSIM_FULL = 2  /* the pair's or the queue's cap was reached */
};

struct netsim_queue;

/*
 * A queue for ports 0..max_ports-1 holding at most per_pair frames per
 * (source, destination) pair and total frames overall (the memory bound).
 * NULL when out of memory.  Free with netsim_queue_free (frees pending frames).
 */
struct netsim_queue *netsim_queue_new(uint16_t max_ports, uint32_t per_pair, uint32_t total);
void netsim_queue_free(struct netsim_queue *q);
/*
 * Queue a copy of a frame from src to dst, due at now + delay + jitter, but
 * never before the pair's previous frame (order per pair).  Returns
 * enum netsim_push, or -1 when out of memory (or len/ports out of range).
 * *due_us (may be NULL) gets the due time of a queued frame.
 */
int netsim_queue_push(struct netsim_queue *q, struct netsim_rng *rng, uint64_t now_us, uint16_t src,
                      uint16_t dst, const struct netsim_link *link, const void *data, size_t len,
                      uint64_t *due_us);
/* The earliest frame if it is due at now_us, else NULL; the caller frees it. */
struct netsim_frame *netsim_queue_pop(struct netsim_queue *q, uint64_t now_us);
/* Due time of the earliest frame, or UINT64_MAX when empty. */
uint64_t netsim_queue_next_due(const struct netsim_queue *q);
size_t netsim_queue_len(const struct netsim_queue *q);
/* Forget every pending frame of port p (its TAP went away). */
void netsim_queue_drop_port(struct netsim_queue *q, uint16_t p);

/* ---- frames (frame.c) ----------------------------------------------------- */

enum netsim_kind {
	NETSIM_K_IPV4,    /* IPv4: goes to the port owning the destination address */
	NETSIM_K_ARP,     /* ARP: goes to the port owning the target address */
	NETSIM_K_V6_LINK, /* IPv6 to a link-local or link-scope multicast address (ND) */
	NETSIM_K_OTHER    /* anything else: never carried */
};

struct netsim_dest {
	enum netsim_kind kind;
	uint32_t ip4; /* destination (IPv4) or target (ARP), network order */
	int flood;    /* link-scope IPv6 multicast: every other port */
	int resolve;  /* address resolution (ARP, ND): crosses without delay */
	unsigned char dmac[6];
	unsigned char smac[6];
};

/* Classify an Ethernet frame; a short or malformed one is NETSIM_K_OTHER. */
void netsim_frame_parse(const unsigned char *f, size_t len, struct netsim_dest *d);

/* ---- ports (ports.c) ------------------------------------------------------ */

#define NETSIM_MAX_PORTS 192

struct netsim_port_stats {
	uint64_t rx_frames, rx_bytes;  /* frames the port sent into the switch */
	uint64_t tx_frames, tx_bytes;  /* frames the switch delivered to the port */
	uint64_t drop_filter;          /* not to a fleet address, or no such port */
	uint64_t drop_loss, drop_full; /* link loss, queue cap (counted at the source) */
	uint64_t drop_write;           /* the TAP refused it (eth0 not up yet, say) */
};

struct netsim_port {
	char name[32];
	char netns[64];
	uint32_t ip4; /* network order */
	int loc;      /* geography index */
	enum netsim_role role;
	uint32_t loss_ppm, jitter_us;
	int fd; /* TAP, -1 when closed */
	unsigned char mac[6];
	int mac_known;
	struct netsim_port_stats st;
};

struct netsim_ports {
	struct netsim_port p[NETSIM_MAX_PORTS];
	uint16_t n;
	int self_ns; /* our own network namespace, to come back to after setns */
};

/*
 * Read the ports file (one JSON object per line: name, netns, ip, loc, role,
 * optional loss (percent) and jitter_ms).  A new name opens a TAP "eth0"
 * inside /run/netns/<netns>; a known name updates loss and jitter.  Lines
 * already applied are applied again harmlessly.  Returns the number of bad
 * lines (each reported on stderr with its line number); 0 when all applied.
 */
int netsim_ports_load(struct netsim_ports *ps, const struct netsim_geo *g, const char *path);
/* Port owning IPv4 address ip4 (network order) with an open TAP, or -1. */
int netsim_ports_by_ip(const struct netsim_ports *ps, uint32_t ip4);
/* Port whose learned MAC is mac, or -1. */
int netsim_ports_by_mac(const struct netsim_ports *ps, const unsigned char mac[6]);
/* Close every TAP. */
void netsim_ports_close(struct netsim_ports *ps);

/* ---- forwarding (switch.c) ----------------------------------------------- */

/* The switch's state; main.c owns every member. */
struct netsim_switch {
	struct netsim_ports *ports;
	const struct netsim_geo *geo;
	struct netsim_queue *queue;
	struct netsim_rng rng;
};

/* A frame read from port src at now_us: count it, then queue it for its
 * destination port(s) or drop it (counted on src). */
void netsim_switch_input(struct netsim_switch *sw, uint16_t src, const unsigned char *f, size_t len,
                         uint64_t now_us);
/* Write every frame due at now_us to its destination's TAP. */
void netsim_switch_deliver(struct netsim_switch *sw, uint64_t now_us);

/* ---- stats (stats.c) ------------------------------------------------------ */

/*
 * Write the counters as JSON to path atomically (temp file + rename), with a
 * generation number that grows by one per write.  0, or -1 with errno set.
 */
int netsim_stats_write(const char *path, const struct netsim_ports *ps, uint64_t generation,
                       size_t queued);

#endif
