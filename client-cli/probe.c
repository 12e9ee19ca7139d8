/* SPDX-License-Identifier: MIT */
/*
 * Latency probe and server choice.  Every server gets one TCP connect to its
 * WireGuard host:port, all at once on a curl multi handle, each with its own
 * timeout, so N servers cost about the slowest answer and never N timeouts.
 *
 * Why TCP to the WireGuard port: the bootstrap's firewall answers it with a
 * TCP reset (nothing listens, and the rule is `reject with tcp reset`), so a
 * refused connect is exactly one round trip and proves the host is alive.
 * WireGuard's UDP port stays silent to anyone without a key, ICMP echo needs
 * raw sockets (root) and may be dropped, and a host that drops everything
 * (down, filtered) times out: that is "unreachable".  See docs/vpnctl.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "vpnctl.h"

static CURL *probe_handle(struct vpnctl_server *s, long timeout_ms, const uint32_t *fwmark)
{
	char url[128];
	CURL *h;

	snprintf(url, sizeof(url), strchr(s->host, ':') ? "http://[%s]:%u/" : "http://%s:%u/",
	         s->host, s->port);
	h = vpnctl_curl_new(url, "http", timeout_ms, timeout_ms, fwmark);
	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
	/* A reused connection would report a connect time of 0. */
	curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(h, CURLOPT_PRIVATE, s);
	return h;
}

/* Record one finished probe: connected or refused is one round trip. */
static void probe_done(CURL *h, CURLcode cc)
{
	struct vpnctl_server *s = NULL;
	curl_off_t lookup = 0, t = 0;
	long oserr = 0;

	curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&s);
	curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
	curl_easy_getinfo(h, CURLINFO_NAMELOOKUP_TIME_T, &lookup);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &t);
	} else if (cc == CURLE_COULDNT_CONNECT && oserr == ECONNREFUSED) {
		curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &t);
	} else {
		s->reachable = 0;
		s->probe_error = (int)cc;
		return;
	}
	s->reachable = 1;
	s->probe_error = 0;
	s->rtt_us = (int64_t)(t > lookup ? t - lookup : t);
}

int vpnctl_probe(struct vpnctl_server *s, size_t n, long timeout_ms, uint32_t fwmark)
{
	CURLM *m = curl_multi_init();
	CURL **hs = calloc(n + 1, sizeof(*hs));
	int running = 0, r = PV_ENOMEM;
	CURLMsg *msg;
	size_t i, j, start = 0;

	if (!m || !hs)
		goto out;
	for (i = 0; i < n; i++) {
		s[i].reachable = 0;
		s[i].rtt_us = -1;
		s[i].probe_error = CURLE_OPERATION_TIMEDOUT;
	}
	/* The last probe started is read a little sooner than the others: start at a
	 * random server so that edge goes to nobody in particular. */
	if (n && RAND_bytes((unsigned char *)&start, sizeof(start)) != 1)
		start = 0;
	for (j = 0; j < n; j++) {
		i = (j + start % n) % n;
		hs[i] = probe_handle(&s[i], timeout_ms, &fwmark);
		if (!hs[i] || curl_multi_add_handle(m, hs[i]) != CURLM_OK)
			goto out;
		/* Start this connect now and look at the earlier ones: otherwise the first
		 * probes' answers wait, counted as latency, until every later connect has
		 * been set up, and the last server in the list always looks fastest. */
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			r = PV_EIO;
			goto out;
		}
	}
	for (;;) {
		int left;

		while ((msg = curl_multi_info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE)
				probe_done(msg->easy_handle, msg->data.result);
		if (!running)
			break;
		if (curl_multi_poll(m, NULL, 0, 100, NULL) != CURLM_OK ||
		    curl_multi_perform(m, &running) != CURLM_OK) {
			r = PV_EIO;
			goto out;
		}
	}
	r = 0;
out:
	for (i = 0; hs && i < n; i++) {
		if (!hs[i])
			continue;
		curl_multi_remove_handle(m, hs[i]);
		curl_easy_cleanup(hs[i]);
	}
	free(hs);
	curl_multi_cleanup(m);
	return r;
}

/* Best index among reachable servers whose status is `status`; *cur gets current's index. */
static int pick_among(const struct vpnctl_server *s, size_t n, const char *status,
                      const char *current, int *cur)
{
	int best = -1;
	size_t i;

	*cur = -1;
	for (i = 0; i < n; i++) {
		if (!s[i].reachable || strcmp(s[i].status, status) != 0)
			continue;
		if (best < 0 || s[i].rtt_us < s[best].rtt_us)
			best = (int)i;
		if (current && strcmp(s[i].id, current) == 0)
			*cur = (int)i;
	}
	return best;
}

int vpnctl_pick(const struct vpnctl_server *s, size_t n, const char *current)
{
	int cur, best = pick_among(s, n, "up", current, &cur);

	/* A controller that has not finished its first health pass says "unknown":
	 * better a reachable unknown server than none; "down" is never picked. */
	if (best < 0)
		best = pick_among(s, n, "unknown", current, &cur);
	if (best < 0 || cur < 0 || cur == best)
		return best;
	/* Switch only when clearly better, so repeated connects don't flap on noise. */
	if (s[best].rtt_us * 100 < s[cur].rtt_us * (100 - VPNCTL_KEEP_PERCENT) &&
	    s[cur].rtt_us - s[best].rtt_us > VPNCTL_KEEP_MIN_US)
		return best;
	return cur;
}

int vpnctl_choose_server(const struct vpnctl_conf *c, const struct vpnctl_args *args,
                         const char *what, const char *current, const char *avoid,
                         struct vpnctl_server *out)
{
	struct vpnctl_fleet_view v;
	char lat[32];
	int r = vpnctl_fetch_servers(c, args, what, &v), i;

	if (r)
		return r;
	for (i = 0; avoid && i < (int)v.n; i++)
		if (strcmp(v.servers[i].id, avoid) == 0)
			v.servers[i].reachable = 0;
	if ((i = vpnctl_pick(v.servers, v.n, current)) < 0) {
		vpnctl_err("%s: none of your tier's %zu servers is both up and reachable.\n"
		           "  See `vpnctl servers`; check this machine's network, or try later.",
		           what, v.n);
		free(v.servers);
		return VX_NETWORK;
	}
	vpnctl_format_latency(lat, sizeof(lat), &v.servers[i]);
	vpnctl_progress(args, "Picked %s (%s), %s%s", v.servers[i].id, v.servers[i].location, lat,
	                current && strcmp(current, v.servers[i].id) == 0 ? ", the current server"
	                                                                 : "");
	*out = v.servers[i];
	free(v.servers);
	return VX_OK;
}
