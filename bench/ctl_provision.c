/* SPDX-License-Identifier: MIT */
/*
 * Provisioning load generator: TOTAL provisions over HTTPS, CONCURRENCY at a
 * time (curl multi, one easy handle per in-flight request), spread round
 * robin over the given servers, each with its own device name.  Prints
 * provisions/s and the p50/p90/p99/max latency; counts non-200 answers by
 * status.  Never asserts timing.
 *
 *   bench_ctl_provision URL CACERT API_KEY TOTAL CONCURRENCY SERVER...
 *   (the API key comes from the environment variable PV_API_KEY if API_KEY is "-";
 *   several keys, comma-separated, are used round robin: request i goes out
 *   as user i % N, as many clients would)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "pv.h"

struct slot {
	CURL *easy;
	struct curl_slist *hdrs;
	char body[128];
	uint64_t start_us;
};

struct run {
	const char *url, *cacert;
	char *keys;    /* the API keys, NUL-separated */
	char **key_of; /* nkeys pointers into keys */
	size_t nkeys;
	char **servers;
	size_t nservers, total, started, done;
	uint64_t *lat_us;
	size_t nlat;
	unsigned status[600];
	unsigned transport_errors;
};

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static int start_one(struct run *r, CURLM *multi, struct slot *s)
{
	size_t i = r->started++;
	char key_header[160];

	snprintf(s->body, sizeof(s->body), "{\"server_id\":\"%s\",\"device\":\"bench%zu\"}",
	         r->servers[i % r->nservers], i);
	snprintf(key_header, sizeof(key_header), "X-API-Key: %s", r->key_of[i % r->nkeys]);
	s->easy = curl_easy_init();
	s->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	s->hdrs = curl_slist_append(s->hdrs, key_header);
	if (!s->easy || !s->hdrs)
		return -1;
	curl_easy_setopt(s->easy, CURLOPT_URL, r->url);
	curl_easy_setopt(s->easy, CURLOPT_CAINFO, r->cacert);
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->hdrs);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
	s->start_us = pv_now_us();
	return curl_multi_add_handle(multi, s->easy) == CURLM_OK ? 0 : -1;
}

static void finish_one(struct run *r, CURLM *multi, CURLMsg *msg)
{
	struct slot *s = NULL;
	long code = 0;

	curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
	if (msg->data.result != CURLE_OK) {
		r->transport_errors++;
	} else {
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		if (code > 0 && code < 600)
			r->status[code]++;
		if (code == 200)
			r->lat_us[r->nlat++] = pv_now_us() - s->start_us;
	}
	curl_multi_remove_handle(multi, s->easy);
	curl_easy_cleanup(s->easy);
	curl_slist_free_all(s->hdrs);
	s->easy = NULL;
	r->done++;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_ms(const struct run *r, double p)
{
	size_t i;

	if (!r->nlat)
		return 0;
	i = (size_t)(p * (double)(r->nlat - 1) + 0.5);
	return (double)r->lat_us[i] / 1000.0;
}

/* Split the comma-separated key list into r->key_of; -1 when out of memory or empty. */
static int split_keys(struct run *r, const char *list)
{
	size_t len = strlen(list);
	char *p, *comma;

	r->keys = malloc(len + 1);
	r->key_of = calloc(len / 2 + 1, sizeof(*r->key_of));
	if (!r->keys || !r->key_of)
		return -1;
	memcpy(r->keys, list, len + 1);
	for (p = r->keys; p; p = comma ? comma + 1 : NULL) {
		comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		if (*p)
			r->key_of[r->nkeys++] = p;
	}
	return r->nkeys ? 0 : -1;
}

static void report(struct run *r, size_t conc, uint64_t elapsed_us)
{
	unsigned i;

	qsort(r->lat_us, r->nlat, sizeof(*r->lat_us), cmp_u64);
	printf("provisions: %zu ok of %zu, concurrency %zu, %zu servers, %.2f s\n", r->nlat,
	       r->total, conc, r->nservers, (double)elapsed_us / 1e6);
	printf("throughput: %.1f provisions/s\n", (double)r->nlat * 1e6 / (double)elapsed_us);
	printf("latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", pct_ms(r, 0.50),
	       pct_ms(r, 0.90), pct_ms(r, 0.99), pct_ms(r, 1.0));
	for (i = 0; i < 600; i++)
		if (i != 200 && r->status[i])
			printf("status %u: %u\n", i, r->status[i]);
	if (r->transport_errors)
		printf("transport errors: %u\n", r->transport_errors);
}

int main(int argc, char **argv)
{
	struct run r = {0};
	const char *env_key;
	struct slot *slots;
	CURLM *multi;
	size_t conc, i;
	uint64_t t0;
	int running = 0, rc = 1;

	if (argc < 7) {
		fprintf(stderr, "usage: %s URL CACERT API_KEY|- TOTAL CONCURRENCY SERVER...\n",
		        argv[0]);
		return 2;
	}
	r.url = argv[1];
	r.cacert = argv[2];
	r.total = strtoul(argv[4], NULL, 10);
	conc = strtoul(argv[5], NULL, 10);
	r.servers = argv + 6;
	r.nservers = (size_t)(argc - 6);
	if (!r.total || !conc) {
		fprintf(stderr, "TOTAL and CONCURRENCY must be positive integers\n");
		return 2;
	}
	env_key = getenv("PV_API_KEY");
	if (split_keys(&r, strcmp(argv[3], "-") == 0 && env_key ? env_key : argv[3]) < 0) {
		fprintf(stderr, "API_KEY: no key, or out of memory\n");
		free(r.keys);
		free(r.key_of);
		return 2;
	}
	r.lat_us = calloc(r.total, sizeof(*r.lat_us));
	slots = calloc(conc, sizeof(*slots));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	multi = curl_multi_init();
	if (!r.lat_us || !slots || !multi)
		goto out;
	t0 = pv_now_us();
	for (i = 0; i < conc && r.started < r.total; i++)
		if (start_one(&r, multi, &slots[i]) < 0)
			goto out;
	while (r.done < r.total) {
		CURLMsg *msg;
		int left;

		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &left))) {
			struct slot *s = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			finish_one(&r, multi, msg);
			if (r.started < r.total && start_one(&r, multi, s) < 0)
				goto out;
		}
		curl_multi_poll(multi, NULL, 0, 100, NULL);
	}
	report(&r, conc, pv_now_us() - t0);
	rc = 0;
out:
	if (multi)
		curl_multi_cleanup(multi);
	curl_global_cleanup();
	free(slots);
	free(r.lat_us);
	free(r.key_of);
	free(r.keys);
	return rc;
}
