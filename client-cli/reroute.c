/* SPDX-License-Identifier: MIT */
/*
 * Moving the tunnel's routes from one interface to another (`rotate`).
 * Every unicast route through the interface, in every table but `local`, is
 * listed from `ip -j route show table all dev IFACE` and swapped in place
 * with `ip route replace` (one `ip -batch` run, one netlink request per
 * route).  Each replace is atomic, so a packet is routed either through the
 * old interface, with that interface's source address and key, or through
 * the new one with its own: never the new address under the old key.  The
 * routes name no source address, so the kernel takes the interface's own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vpnctl.h"

void vpnctl_routes_free(struct vpnctl_routes *rs)
{
	free(rs->r);
	rs->r = NULL;
	rs->n = 0;
}

/* One route of ip's JSON into rs; 0 also when it is skipped. */
static int route_add(struct vpnctl_routes *rs, const json_t *o, int family)
{
	const char *dst = json_string_value(json_object_get(o, "dst"));
	const char *table = json_string_value(json_object_get(o, "table"));
	const json_t *metric = json_object_get(o, "metric");
	struct vpnctl_route *r, *grown;

	/* local, broadcast, multicast and link-local routes belong to the interface. */
	if (json_object_get(o, "type") || !dst || strncmp(dst, "fe80:", 5) == 0)
		return 0;
	if (table && strcmp(table, "local") == 0)
		return 0;
	grown = realloc(rs->r, (rs->n + 1) * sizeof(*rs->r));
	if (!grown)
		return PV_ENOMEM;
	rs->r = grown;
	r = &rs->r[rs->n];
	if (strcmp(dst, "default") == 0)
		dst = family == 4 ? "0.0.0.0/0" : "::/0";
	if (snprintf(r->dst, sizeof(r->dst), "%s", dst) >= (int)sizeof(r->dst) ||
	    snprintf(r->table, sizeof(r->table), "%s", table ? table : "main") >=
	            (int)sizeof(r->table) ||
	    (metric && !json_is_integer(metric)))
		return PV_EINVAL;
	r->metric = metric ? (long)json_integer_value(metric) : -1;
	rs->n++;
	return 0;
}

int vpnctl_routes_parse(struct vpnctl_routes *rs, const char *json_text, int family)
{
	json_t *list = json_loads(json_text, 0, NULL), *o;
	size_t i;
	int r = PV_EINVAL;

	if (!json_is_array(list))
		goto out;
	json_array_foreach(list, i, o)
	{
		if (!json_is_object(o))
			goto out;
		if ((r = route_add(rs, o, family)) < 0)
			goto out;
	}
	r = 0;
out:
	json_decref(list);
	return r;
}

int vpnctl_routes_of(struct vpnctl_routes *rs, const char *iface, char *err, size_t errlen)
{
	static const char *const families[] = {"-4", "-6"};
	size_t f;
	int r = 0;

	rs->r = NULL;
	rs->n = 0;
	for (f = 0; f < 2 && r == 0; f++) {
		const char *argv[] = {"ip",    "-j",  families[f], "route", "show",
		                      "table", "all", "dev",       iface,   NULL};
		char *out = NULL;

		r = vpnctl_run(argv, &out, err, errlen);
		if (r == 0 && vpnctl_routes_parse(rs, out, f == 0 ? 4 : 6) < 0) {
			snprintf(err, errlen, "unexpected `ip -j route` output for %s", iface);
			r = PV_EINVAL;
		}
		free(out);
	}
	if (r > 0)
		r = PV_EREMOTE;
	if (r < 0)
		vpnctl_routes_free(rs);
	return r;
}

char *vpnctl_routes_batch(const struct vpnctl_routes *rs, const char *iface)
{
	size_t i, cap = rs->n * 200 + 1, len = 0; /* a line is at most ~140 characters */
	char *text = malloc(cap);

	if (!text)
		return NULL;
	text[0] = '\0';
	for (i = 0; i < rs->n; i++) {
		const struct vpnctl_route *r = &rs->r[i];
		char metric[32] = "";

		if (r->metric >= 0)
			snprintf(metric, sizeof(metric), " metric %ld", r->metric);
		len += (size_t)snprintf(text + len, cap - len,
		                        "route replace %s dev %s table %s%s\n", r->dst, iface,
		                        r->table, metric);
	}
	return text;
}

int vpnctl_routes_move(const struct vpnctl_routes *rs, const char *iface, char *err, size_t errlen)
{
	char path[64], *text = vpnctl_routes_batch(rs, iface);
	const char *argv[] = {"ip", "-batch", path, NULL};
	int fd, r;

	if (!text) {
		snprintf(err, errlen, "out of memory");
		return PV_ENOMEM;
	}
	fd = vpnctl_memfd("vpnctl-routes", text, path, sizeof(path));
	free(text);
	if (fd < 0) {
		snprintf(err, errlen, "cannot hand the routes to ip: %s", strerror(errno));
		return PV_EIO;
	}
	r = vpnctl_run(argv, NULL, err, errlen);
	close(fd);
	return r == 0 ? 0 : r < 0 ? r : PV_EREMOTE;
}
