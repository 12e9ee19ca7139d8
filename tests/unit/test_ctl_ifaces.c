/* SPDX-License-Identifier: MIT */
/* A health pass's dump counted by interface (ctl_iface_health_count), for /metrics and the admin.
 */
#include <string.h>

#include "controller.h"
#include "test.h"

#define NOW 1700000000

/* Peer i of d on interface iface, last handshake `ago` seconds before NOW (0: never). */
static void peer(struct pv_wg_dump *d, size_t i, unsigned iface, int64_t ago, uint64_t rx,
                 uint64_t tx)
{
	struct pv_wg_peer *p = &d->peers[i];

	memset(p, 0, sizeof(*p));
	p->iface = iface;
	p->latest_handshake = ago ? NOW - ago : 0;
	p->rx_bytes = rx;
	p->tx_bytes = tx;
}

int main(void)
{
	struct pv_wg_peer peers[6];
	struct pv_wg_dump d = {.n = 6, .peers = peers};
	struct ctl_iface_health out[PV_IFACES_MAX];
	size_t k;

	TEST_START("peers are counted on their own interface: wg0 2, wg1 1, wg2 2");
	peer(&d, 0, 0, 10, 100, 1000);
	peer(&d, 1, 0, 0, 0, 0);
	peer(&d, 2, 1, 500, 7, 70);
	peer(&d, 3, 2, 179, 1, 2);
	peer(&d, 4, 2, 180, 3, 4);
	peer(&d, 5, PV_IFACES_MAX, 1, 99, 99);
	memset(out, 0xff, sizeof(out));
	ctl_iface_health_count(&d, NOW, out);
	ASSERT_INT_EQ(out[0].live_peers, 2);
	ASSERT_INT_EQ(out[1].live_peers, 1);
	ASSERT_INT_EQ(out[2].live_peers, 2);
	TEST_DONE();

	TEST_START("a handshake in the last 180 s makes a peer active, on its interface only");
	ASSERT_INT_EQ(out[0].active_peers, 1);
	ASSERT_INT_EQ(out[1].active_peers, 0);
	ASSERT_INT_EQ(out[2].active_peers, 1);
	TEST_DONE();

	TEST_START("rx and tx are the sums of the interface's peers' counters");
	ASSERT_INT_EQ(out[0].rx_bytes, 100);
	ASSERT_INT_EQ(out[0].tx_bytes, 1000);
	ASSERT_INT_EQ(out[1].rx_bytes, 7);
	ASSERT_INT_EQ(out[2].tx_bytes, 6);
	TEST_DONE();

	TEST_START("interfaces without peers are zero, and an out-of-range index is not counted");
	for (k = 3; k < PV_IFACES_MAX; k++) {
		ASSERT_INT_EQ(out[k].live_peers, 0);
		ASSERT_INT_EQ(out[k].rx_bytes, 0);
	}
	TEST_DONE();

	TEST_START("an empty dump zeroes every interface");
	d.n = 0;
	ctl_iface_health_count(&d, NOW, out);
	ASSERT_INT_EQ(out[0].live_peers, 0);
	ASSERT_INT_EQ(out[2].tx_bytes, 0);
	TEST_DONE();
	TEST_SUMMARY();
}
