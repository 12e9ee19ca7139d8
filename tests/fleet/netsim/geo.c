/* SPDX-License-Identifier: MIT */
/*
 * The geography file and the delay model.  The file names locations (latitude,
 * longitude) and the model's constants; a one-way delay between two endpoints
 * is
 *
 *   access(role a) + access(role b) + route_factor * great_circle_km / fiber_km_per_ms
 *
 * Light in fibre covers about 200 km per ms (2/3 c); real routes are longer
 * than the great circle (route_factor); the access term is the last mile of
 * a home client or the few hops inside a datacenter.  tests/fleet/geo.json
 * fits route_factor and the access delays so that a client in New York sees
 * Frankfurt at about 45 ms and Sydney at about 100 ms one way.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "netsim.h"

#define EARTH_RADIUS_KM 6371.0
#define NAME_MAX_LEN    48

struct netsim_geo {
	size_t n;
	char (*name)[NAME_MAX_LEN];
	double *km; /* n * n great-circle distances */
	double route_factor, fiber_km_per_ms;
	double access_ms[2]; /* by enum netsim_role */
};

static double radians(double deg)
{
	return deg * M_PI / 180.0;
}

double netsim_geo_km(double lat1, double lon1, double lat2, double lon2)
{
	/* Haversine: well conditioned for short distances too. */
	double dlat = radians(lat2 - lat1), dlon = radians(lon2 - lon1);
	double h = sin(dlat / 2) * sin(dlat / 2) +
	           cos(radians(lat1)) * cos(radians(lat2)) * sin(dlon / 2) * sin(dlon / 2);

	return 2 * EARTH_RADIUS_KM * asin(sqrt(h > 1 ? 1 : h));
}

void netsim_geo_free(struct netsim_geo *g)
{
	if (!g)
		return;
	free(g->name);
	free(g->km);
	free(g);
}

int netsim_geo_find(const struct netsim_geo *g, const char *name)
{
	size_t i;

	for (i = 0; name && i < g->n; i++)
		if (strcmp(g->name[i], name) == 0)
			return (int)i;
	return -1;
}

int netsim_role_parse(const char *s)
{
	if (strcmp(s, "client") == 0)
		return NETSIM_ROLE_CLIENT;
	if (strcmp(s, "server") == 0 || strcmp(s, "controller") == 0 ||
	    strcmp(s, "datacenter") == 0)
		return NETSIM_ROLE_DATACENTER;
	return -1;
}

uint32_t netsim_geo_oneway_us(const struct netsim_geo *g, int a, enum netsim_role ra, int b,
                              enum netsim_role rb)
{
	double ms = g->access_ms[ra] + g->access_ms[rb] +
	            g->route_factor * g->km[(size_t)a * g->n + (size_t)b] / g->fiber_km_per_ms;

	return (uint32_t)lround(ms * 1000.0);
}

/* The model's constants, each required and positive (access may be 0). */
static int load_model(struct netsim_geo *g, json_t *root, char *err, size_t errlen)
{
	json_error_t je;

	if (json_unpack_ex(root, &je, 0, "{s:{s:F, s:F, s:{s:F, s:F}}}", "model", "route_factor",
	                   &g->route_factor, "fiber_km_per_ms", &g->fiber_km_per_ms, "access_ms",
	                   "client", &g->access_ms[NETSIM_ROLE_CLIENT], "datacenter",
	                   &g->access_ms[NETSIM_ROLE_DATACENTER]) < 0) {
		snprintf(err, errlen, "model: %s", je.text);
		return -1;
	}
	if (!(g->route_factor >= 1.0 && g->fiber_km_per_ms > 0 &&
	      g->access_ms[NETSIM_ROLE_CLIENT] >= 0 && g->access_ms[NETSIM_ROLE_DATACENTER] >= 0)) {
		snprintf(err, errlen,
		         "model: route_factor must be >= 1, fiber_km_per_ms > 0, access_ms >= 0");
		return -1;
	}
	return 0;
}

/* "locations": {"New York": [40.71, -74.01], …} into names and the distance matrix. */
static int load_locations(struct netsim_geo *g, json_t *root, char *err, size_t errlen)
{
	json_t *locs = json_object_get(root, "locations"), *v;
	const char *name;
	double *lat = NULL, *lon = NULL;
	size_t i = 0, j;
	int r = -1;

	if (!json_is_object(locs) || json_object_size(locs) == 0) {
		snprintf(err, errlen, "\"locations\" must be a non-empty object");
		return -1;
	}
	g->n = json_object_size(locs);
	g->name = calloc(g->n, sizeof(*g->name));
	g->km = calloc(g->n * g->n, sizeof(*g->km));
	lat = calloc(g->n, sizeof(*lat));
	lon = calloc(g->n, sizeof(*lon));
	if (!g->name || !g->km || !lat || !lon) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	json_object_foreach(locs, name, v)
	{
		if (strlen(name) >= NAME_MAX_LEN || json_unpack(v, "[FF]", &lat[i], &lon[i]) < 0 ||
		    fabs(lat[i]) > 90 || fabs(lon[i]) > 180) {
			snprintf(
			        err, errlen,
			        "location \"%s\": want [latitude, longitude] in degrees and a name "
			        "under %d bytes",
			        name, NAME_MAX_LEN);
			goto out;
		}
		snprintf(g->name[i], NAME_MAX_LEN, "%s", name);
		i++;
	}
	for (i = 0; i < g->n; i++)
		for (j = 0; j < g->n; j++)
			g->km[i * g->n + j] = netsim_geo_km(lat[i], lon[i], lat[j], lon[j]);
	r = 0;
out:
	free(lat);
	free(lon);
	return r;
}

int netsim_geo_load(const char *path, struct netsim_geo **out, char *err, size_t errlen)
{
	struct netsim_geo *g = calloc(1, sizeof(*g));
	json_error_t je;
	json_t *root = NULL;
	char why[256] = "out of memory";
	int r = -1;

	*out = NULL;
	if (!g)
		goto out;
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		snprintf(why, sizeof(why), "line %d: %s", je.line, je.text);
		goto out;
	}
	if (load_model(g, root, why, sizeof(why)) < 0 ||
	    load_locations(g, root, why, sizeof(why)) < 0)
		goto out;
	*out = g;
	g = NULL;
	r = 0;
out:
	if (r < 0)
		snprintf(err, errlen, "geography file %s: %s", path, why);
	json_decref(root);
	netsim_geo_free(g);
	return r;
}
