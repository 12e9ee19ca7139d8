/* SPDX-License-Identifier: MIT */
/*
 * The key -> user check without a DB query per request: the user rows
 * (active flag, tier) that authenticated requests looked up, kept in a small
 * open-addressing table.  The table is dropped whole:
 * - by ctl_users_changed(), which every admin change of a user calls
 *   (api_admin.c: generate-api-key, disable, tier, rotate-key);
 * - when another process wrote the DB (PRAGMA data_version moved), e.g. an
 *   ops tool working on the file directly;
 * - when it is full (CACHE_SLOTS / 2 users), so a flood of distinct keys
 *   costs lookups, not memory.
 * Only found rows are kept: an unknown user is asked for every time.
 */
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "db.h"

#define CACHE_SLOTS 4096 /* a power of two */

struct ctl_users {
	struct db_user slot[CACHE_SLOTS]; /* id[0] == '\0': empty */
	size_t used;
	int64_t data_version;
};

static size_t slot_of(const char *user)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *user; user++)
		h = (h ^ (uint8_t)*user) * 16777619u;
	return h & (CACHE_SLOTS - 1);
}

static void cache_clear(struct ctl_users *c)
{
	size_t i;

	for (i = 0; i < CACHE_SLOTS; i++)
		c->slot[i].id[0] = '\0';
	c->used = 0;
}

/* The cache, valid for the DB as it is now; NULL without memory. */
static struct ctl_users *cache_get(struct ctl *ctl)
{
	struct ctl_users *c = ctl->users;
	int64_t v;

	if (!c) {
		if (!(c = calloc(1, sizeof(*c))))
			return NULL;
		ctl->users = c;
		c->data_version = -1;
	}
	if (db_data_version(ctl->db, &v) < 0)
		v = -1;
	if (v < 0 || v != c->data_version) {
		cache_clear(c);
		c->data_version = v;
	}
	return c;
}

int ctl_user_get(struct ctl *ctl, const char *user, struct db_user *out)
{
	struct ctl_users *c = cache_get(ctl);
	size_t i;
	int r;

	for (i = c ? slot_of(user) : 0; c && c->slot[i].id[0]; i = (i + 1) & (CACHE_SLOTS - 1)) {
		if (strcmp(c->slot[i].id, user) == 0) {
			*out = c->slot[i];
			return 0;
		}
	}
	if ((r = db_user_get(ctl->db, user, out)) < 0 || !c || c->data_version < 0)
		return r;
	if (c->used >= CACHE_SLOTS / 2)
		cache_clear(c);
	for (i = slot_of(user); c->slot[i].id[0]; i = (i + 1) & (CACHE_SLOTS - 1))
		;
	c->slot[i] = *out;
	c->used++;
	return 0;
}

void ctl_users_changed(struct ctl *ctl)
{
	if (ctl->users)
		cache_clear(ctl->users);
}

void ctl_users_free(struct ctl *ctl)
{
	free(ctl->users);
	ctl->users = NULL;
}
