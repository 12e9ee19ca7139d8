/* SPDX-License-Identifier: MIT */
/*
 * `vpnctl connect --watch`: after the connect, stay in the foreground (for
 * the systemd unit client-cli/vpnctl-watch.service) and check the tunnel
 * every VPNCTL_WATCH_S seconds.  It is left for the next best server when
 *   - nothing was received and no handshake happened for 3 keepalive
 *     periods (WireGuard answers every keepalive, so a live tunnel receives
 *     at least once a period; a handshake alone renews only every 2 min),
 *   - the controller reports the server down or draining, or
 *   - the latency probe cannot reach the server twice in a row.
 * A check that cannot reach the controller is no reason to switch (the
 * tunnel may be fine).  The kill switch, if on, is never lifted meanwhile.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vpnctl.h"

#define STALE_S (3L * VPNCTL_KEEPALIVE_S)

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct watch_state {
	char server_id[32];
	uint64_t rx;          /* last seen received bytes */
	uint64_t rx_since_ms; /* monotonic time rx last changed */
	int unreachable;      /* consecutive rounds the probe failed */
};

static void watch_reset(struct watch_state *w)
{
	struct vpnctl_tunnel t;

	memset(w, 0, sizeof(*w));
	if (vpnctl_tunnel_load(&t, VPNCTL_WG_DIR) == 0)
		snprintf(w->server_id, sizeof(w->server_id), "%s", t.server_id);
	w->rx_since_ms = pv_now_ms();
}

/* The tunnel itself: interface present, something received or a handshake lately. */
static const char *tunnel_failing(struct watch_state *w)
{
	struct vpnctl_wg_status st;
	int64_t age;

	if (!vpnctl_iface_exists(VPNCTL_IFACE))
		return "the tunnel interface is gone";
	if (vpnctl_wg_status(VPNCTL_IFACE, &st) < 0 || st.npeers == 0)
		return "the tunnel has no peer";
	if (st.peer.rx != w->rx) {
		w->rx = st.peer.rx;
		w->rx_since_ms = pv_now_ms();
	}
	age = st.peer.latest_handshake > 0 ? (int64_t)time(NULL) - st.peer.latest_handshake
	                                   : INT64_MAX;
	if (pv_now_ms() - w->rx_since_ms > (uint64_t)STALE_S * 1000u && age > STALE_S)
		return "no handshake and nothing received for 3 keepalive periods";
	return NULL;
}

/* The controller's view and our probe of the current server. */
static const char *server_failing(const struct vpnctl_args *quiet, const struct vpnctl_conf *conf,
                                  struct watch_state *w)
{
	struct vpnctl_fleet_view v;
	const char *why = NULL;
	size_t i;

	if (vpnctl_fetch_servers(conf, quiet, "watch", &v) != VX_OK)
		return NULL;
	for (i = 0; i < v.n; i++) {
		if (strcmp(v.servers[i].id, w->server_id) != 0)
			continue;
		if (strcmp(v.servers[i].status, "down") == 0)
			why = "the controller reports it down";
		else if (strcmp(v.servers[i].status, "draining") == 0)
			why = "the controller reports it draining";
		else if (!v.servers[i].reachable && ++w->unreachable >= 2)
			why = "unreachable from here twice in a row";
		else if (v.servers[i].reachable)
			w->unreachable = 0;
	}
	free(v.servers);
	return why;
}

/* Sleep up to s seconds, waking early on a stop request. */
static void pause_s(int s)
{
	struct timespec step = {0, 100L * 1000 * 1000};
	int i;

	for (i = 0; i < s * 10 && !stop_requested; i++)
		nanosleep(&step, NULL);
}

int vpnctl_watch(const struct vpnctl_args *args, const struct vpnctl_conf *conf)
{
	struct vpnctl_args quiet = *args;
	struct watch_state w;
	struct sigaction sa;
	const char *why;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	quiet.json = 1; /* no progress lines for the periodic probes */
	watch_reset(&w);
	vpnctl_progress(args, "Watching the tunnel to %s every %d s (Ctrl-C stops watching)",
	                w.server_id, VPNCTL_WATCH_S);
	while (!stop_requested) {
		pause_s(VPNCTL_WATCH_S);
		if (stop_requested)
			break;
		why = tunnel_failing(&w);
		if (!why)
			why = server_failing(&quiet, conf, &w);
		if (!why)
			continue;
		vpnctl_err("watch: leaving %s: %s", w.server_id, why);
		if (vpnctl_connect_switch(args, conf, w.server_id) != VX_OK)
			vpnctl_err("watch: no switch this time; trying again in %d s",
			           VPNCTL_WATCH_S);
		watch_reset(&w);
	}
	vpnctl_progress(args, "Stopped watching; the tunnel stays as it is");
	return VX_OK;
}
