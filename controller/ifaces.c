/* SPDX-License-Identifier: MIT */
/*
 * The per-interface view of the fleet (issue 12: a server may have wg0,
 * wg1, ...): each interface's leases, from one grouped DB query, joined with
 * what the last health pass counted on it (health.c, in memory).  /metrics
 * and the admin server detail both read it.
 */
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "db.h"

/*
 * Leases of interface k of server id in l[n].  Both the rows and the
 * callers go in fleet order, so the search starts where the last one
 * stopped (*at) and is O(1) per call then; it wraps to stay right whatever
 * the order.
 */
static int leases_used(const struct db_iface_leases *l, size_t n, size_t *at, const char *id,
                       unsigned k)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		j = (*at + i) % n;
		if (l[j].iface == k && strcmp(l[j].server_id, id) == 0) {
			*at = j + 1;
			return l[j].used;
		}
	}
	return 0;
}

/* Append server s's rows to v (room for them is there). */
static void add_server(const struct ctl *ctl, const struct pv_server *s,
                       const struct db_iface_leases *l, size_t nl, size_t *at,
                       struct ctl_iface_view *v, size_t *n)
{
	const struct ctl_server_ifaces *h = ctl_iface_health(ctl, s);
	unsigned k;

	for (k = 0; k < s->n_ifaces; k++) {
		v[*n].server = s;
		v[*n].iface = k;
		v[*n].leases_used = leases_used(l, nl, at, s->id, k);
		v[*n].health = h ? &h->ifc[k] : NULL;
		(*n)++;
	}
}

/* Fleet slot i if it is in the view of s (NULL: every server), else NULL. */
static const struct pv_server *in_view(const struct ctl *ctl, size_t i, const struct pv_server *s)
{
	const struct pv_server *at = ctl_server_at(ctl, i);

	return at && (!s || s == at) ? at : NULL;
}

int ctl_iface_view(struct ctl *ctl, const struct pv_server *s, struct ctl_iface_view **out,
                   size_t *n)
{
	struct db_iface_leases *l = NULL;
	struct ctl_iface_view *v = NULL;
	size_t nl = 0, at = 0, rows = 0, i;
	int r;

	*out = NULL;
	*n = 0;
	if ((r = db_iface_leases(ctl->db, s ? s->id : NULL, &l, &nl)) < 0)
		return r;
	for (i = 0; i < ctl->fleet->n; i++)
		if (in_view(ctl, i, s))
			rows += ctl->fleet->servers[i].n_ifaces;
	if (!(v = calloc(rows ? rows : 1, sizeof(*v)))) {
		r = PV_ENOMEM;
		goto out;
	}
	for (i = 0; i < ctl->fleet->n; i++)
		if (in_view(ctl, i, s))
			add_server(ctl, in_view(ctl, i, s), l, nl, &at, v, n);
	*out = v;
	r = 0;
out:
	free(l);
	return r;
}
