/* SPDX-License-Identifier: MIT */
/*
 * Blocking wrappers over the asynchronous pool for tools and tests: submit,
 * then sleep on a condvar until the worker's callback fires.  Never for an
 * event loop.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentless_int.h"

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, err, changed;
	char *detail;
	size_t detail_len;
	struct agentless_dump *dump; /* deep copy for dump_wait */
	int want_dump;
};

static void waiter_init(struct waiter *wt, char *detail, size_t detail_len)
{
	memset(wt, 0, sizeof(*wt));
	pthread_mutex_init(&wt->mu, NULL);
	pthread_cond_init(&wt->cv, NULL);
	wt->detail = detail;
	wt->detail_len = detail_len;
	if (detail && detail_len)
		detail[0] = '\0';
}

static int waiter_wait(struct waiter *wt)
{
	pthread_mutex_lock(&wt->mu);
	while (!wt->done)
		pthread_cond_wait(&wt->cv, &wt->mu);
	pthread_mutex_unlock(&wt->mu);
	pthread_mutex_destroy(&wt->mu);
	pthread_cond_destroy(&wt->cv);
	return wt->err;
}

static void waiter_done(struct waiter *wt, int err, const char *detail)
{
	pthread_mutex_lock(&wt->mu);
	wt->err = err;
	if (wt->detail && wt->detail_len)
		snprintf(wt->detail, wt->detail_len, "%s", detail ? detail : "");
	wt->done = 1;
	pthread_cond_signal(&wt->cv);
	pthread_mutex_unlock(&wt->mu);
}

static void edit_done(const struct agentless_result *res, void *arg)
{
	struct waiter *wt = arg;

	wt->changed = res->changed;
	waiter_done(wt, res->err, res->detail);
}

int agentless_submit_wait(struct agentless *pool, const char *server_id,
                          const struct agentless_edit *edit, int *changed, char *detail,
                          size_t detail_len)
{
	struct waiter wt;
	int r;

	if (changed)
		*changed = 0;
	waiter_init(&wt, detail, detail_len);
	if ((r = agentless_submit(pool, server_id, edit, edit_done, &wt)) < 0) {
		pthread_mutex_destroy(&wt.mu);
		pthread_cond_destroy(&wt.cv);
		return r;
	}
	r = waiter_wait(&wt);
	if (r == 0 && changed)
		*changed = wt.changed;
	return r;
}

static void read_done(int err, const char *detail, const struct agentless_dump *dump, void *arg)
{
	struct waiter *wt = arg;

	if (err == 0 && wt->want_dump) {
		int r = agentless_dump_dup(&wt->dump, dump);

		if (r < 0)
			err = r;
	}
	waiter_done(wt, err, detail);
}

static int read_wait(struct agentless *pool, const char *server_id, int dump,
                     struct agentless_dump **out, char *detail, size_t detail_len)
{
	struct waiter wt;
	int r;

	waiter_init(&wt, detail, detail_len);
	wt.want_dump = dump;
	r = dump ? agentless_dump(pool, server_id, read_done, &wt)
	         : agentless_ping(pool, server_id, read_done, &wt);
	if (r < 0) {
		pthread_mutex_destroy(&wt.mu);
		pthread_cond_destroy(&wt.cv);
		return r;
	}
	r = waiter_wait(&wt);
	if (out)
		*out = wt.dump;
	return r;
}

int agentless_dump_wait(struct agentless *pool, const char *server_id, struct agentless_dump **out,
                        char *detail, size_t detail_len)
{
	*out = NULL;
	return read_wait(pool, server_id, 1, out, detail, detail_len);
}

int agentless_ping_wait(struct agentless *pool, const char *server_id, char *detail,
                        size_t detail_len)
{
	return read_wait(pool, server_id, 0, NULL, detail, detail_len);
}
