/* SPDX-License-Identifier: MIT */
/*
 * The fleet the controller serves, and where it comes from (docs/fleet.md).
 * servers.json is imported into the DB on the first start (when the DB
 * holds no fleet yet); from then on the DB is the source of truth: servers
 * are added (POST /api/admin/servers) and removed (DELETE) at runtime, and
 * later edits of servers.json are ignored (logged) — GET
 * /api/admin/servers/export writes the current fleet back as a servers.json.
 *
 * ctl->fleet has PV_FLEET_MAX slots, so a server never moves: the pool and
 * queued jobs hold pointers to it.  A removed server keeps its slot, marked
 * gone, until the next start.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agentless.h"
#include "controller.h"
#include "db.h"

const struct pv_server *ctl_server(const struct ctl *ctl, const char *id)
{
	const struct pv_server *s = pv_fleet_find(ctl->fleet, id);

	return s && !ctl->fleet_gone[s - ctl->fleet->servers] ? s : NULL;
}

const struct pv_server *ctl_server_at(const struct ctl *ctl, size_t i)
{
	return ctl->fleet_gone[i] ? NULL : &ctl->fleet->servers[i];
}

/* {"version": 1, "servers": entries} (entries stolen) as text; *out owned (ctl_json_free). */
static int fleet_doc(json_t *entries, char **out)
{
	json_t *doc = json_pack("{s:i, s:o}", "version", 1, "servers", entries);

	*out = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(doc);
	return *out ? 0 : PV_ENOMEM;
}

/* The DB's entries as a JSON array (new reference), NULL on failure (logged in err). */
static json_t *db_entries(struct ctl *ctl, char *err, size_t errlen)
{
	char *text = NULL;
	json_t *a;
	int n;

	if (db_fleet_entries(ctl->db, &text, &n) < 0) {
		ctl_errf(err, errlen, "db: %s", db_errmsg(ctl->db));
		return NULL;
	}
	a = json_loads(text, 0, NULL);
	free(text);
	if (!json_is_array(a)) {
		json_decref(a);
		ctl_errf(err, errlen, "db: the fleet's entries are not a JSON array");
		return NULL;
	}
	return a;
}

/* The first start: servers.json into the DB, each server with its entry. */
static int import_file(struct ctl *ctl, char *err, size_t errlen)
{
	const char *path = ctl->cfg->fleet_path;
	struct pv_fleet *f = NULL;
	json_t *root = NULL, *servers;
	char *entry;
	size_t i;
	int r;

	if ((r = pv_fleet_load(&f, path, err, errlen)) < 0)
		return r;
	r = PV_EIO;
	root = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
	servers = json_object_get(root, "servers");
	if (json_array_size(servers) != f->n) {
		ctl_errf(err, errlen, "%s changed while it was being imported", path);
		goto out;
	}
	if ((r = db_servers_sync(ctl->db, f)) < 0)
		goto db_fail;
	for (i = 0; i < f->n; i++) {
		entry = json_dumps(json_array_get(servers, i), JSON_COMPACT | JSON_SORT_KEYS);
		r = entry ? db_server_set_entry(ctl->db, &f->servers[i], entry) : PV_ENOMEM;
		ctl_json_free(entry);
		if (r < 0)
			goto db_fail;
	}
	ctl_log("fleet: imported %zu servers from %s; from now on the DB holds the fleet", f->n,
	        path);
	r = 0;
	goto out;
db_fail:
	ctl_errf(err, errlen, "state DB %s: importing fleet_path %s: %s", ctl->db_name, path,
	         db_errmsg(ctl->db));
out:
	json_decref(root);
	pv_fleet_free(f);
	return r;
}

/* Parse entries (stolen) as a fleet, checked by common/fleet.c's rules; *out owned. */
static int parse_entries(struct pv_fleet **out, json_t *entries, const char *what, char *err,
                         size_t errlen)
{
	char *doc = NULL;
	int r = fleet_doc(entries, &doc);

	*out = NULL;
	if (r == 0)
		r = pv_fleet_parse(out, doc, strlen(doc), what, err, errlen);
	ctl_json_free(doc);
	return r;
}

/*
 * Each server's interface count from its entry into the DB, where the lease
 * allocator reads it: entries updated at runtime take effect here, at start.
 */
static int sync_interfaces(struct ctl *ctl, const struct pv_fleet *f, char *err, size_t errlen)
{
	size_t i;
	int r;

	for (i = 0; i < f->n; i++) {
		if ((r = db_server_set_interfaces(ctl->db, f->servers[i].id,
		                                  f->servers[i].n_ifaces)) < 0) {
			ctl_errf(err, errlen, "db_path %s: %s", ctl->cfg->db_path,
			         db_errmsg(ctl->db));
			return r;
		}
	}
	return 0;
}

int ctl_fleet_open(struct ctl *ctl, char *err, size_t errlen)
{
	struct pv_fleet *f = NULL;
	json_t *entries;
	int r;

	if (!(entries = db_entries(ctl, err, errlen)))
		return PV_EDB;
	if (json_array_size(entries) == 0) {
		json_decref(entries);
		if ((r = import_file(ctl, err, errlen)) < 0)
			return r;
		if (!(entries = db_entries(ctl, err, errlen)))
			return PV_EDB;
	} else {
		ctl_log("fleet: %zu servers from the DB (fleet_path %s is not read again: it was "
		        "imported once)",
		        json_array_size(entries), ctl->cfg->fleet_path);
	}
	if ((r = parse_entries(&f, entries, "the DB's fleet", err, errlen)) < 0)
		return r;
	if ((r = sync_interfaces(ctl, f, err, errlen)) < 0)
		goto out;
	r = PV_ENOMEM;
	ctl->fleet = calloc(1, sizeof(*ctl->fleet));
	ctl->fleet_gone = calloc(PV_FLEET_MAX, 1);
	if (!ctl->fleet || !ctl->fleet_gone ||
	    !(ctl->fleet->servers = calloc(PV_FLEET_MAX, sizeof(*ctl->fleet->servers)))) {
		ctl_errf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(ctl->fleet->servers, f->servers, f->n * sizeof(*f->servers));
	ctl->fleet->n = f->n;
	r = 0;
out:
	pv_fleet_free(f);
	return r;
}

int ctl_fleet_add(struct ctl *ctl, json_t *entry, const struct pv_server **out, char *err,
                  size_t errlen)
{
	struct pv_fleet *f = NULL;
	struct pv_server *slot;
	json_t *entries;
	char *text = NULL;
	int r;

	*out = NULL;
	if (!json_is_string(json_object_get(json_object_get(entry, "ssh"), "host_key"))) {
		ctl_errf(err, errlen,
		         "field \"ssh.host_key\": required (\"ssh-ed25519 AAAA…\"): a server "
		         "added at runtime is pinned, there is no trust on first use");
		return PV_EINVAL;
	}
	if (!(entries = db_entries(ctl, err, errlen)))
		return PV_EDB;
	/* The whole fleet plus the new entry: fleet.c checks it and that ids and endpoints stay
	 * unique. */
	if (json_array_append(entries, entry) < 0) {
		json_decref(entries);
		return PV_ENOMEM;
	}
	if ((r = parse_entries(&f, entries, "request", err, errlen)) < 0)
		return r;
	if (pv_fleet_find(ctl->fleet, f->servers[f->n - 1].id)) {
		r = PV_EEXIST;
		ctl_errf(err, errlen,
		         "server %s is already in the fleet (or was removed since the "
		         "last start: ids are never reused)",
		         f->servers[f->n - 1].id);
		goto out;
	}
	r = PV_EFULL;
	if (ctl->fleet->n >= PV_FLEET_MAX) {
		ctl_errf(err, errlen, "the fleet is full (%d servers)", PV_FLEET_MAX);
		goto out;
	}
	r = PV_ENOMEM;
	if (!(text = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS)))
		goto out;
	slot = &ctl->fleet->servers[ctl->fleet->n];
	*slot = f->servers[f->n - 1];
	if ((r = db_server_add(ctl->db, slot, text)) < 0) {
		ctl_errf(err, errlen, "%s%s", db_errmsg(ctl->db),
		         r == PV_EEXIST ? " (ids of removed servers are never reused)" : "");
		goto out;
	}
	if ((r = agentless_add_server(ctl->pool, slot)) < 0) {
		ctl_errf(err, errlen, "server %s: cannot start its SSH worker: %s", slot->id,
		         pv_strerror(r));
		if (db_server_retire(ctl->db, slot->id) < 0)
			ctl_log("fleet: %s: %s", slot->id, db_errmsg(ctl->db));
		goto out;
	}
	ctl->fleet->n++;
	*out = slot;
	r = 0;
out:
	ctl_json_free(text);
	pv_fleet_free(f);
	return r;
}

/* The first field (besides the interface list) in which b differs from a, or NULL. */
static const char *changed_field(const struct pv_server *a, const struct pv_server *b)
{
	if (strcmp(a->location, b->location) != 0)
		return "location";
	if (strcmp(a->region, b->region) != 0)
		return "region";
	if (a->tier != b->tier)
		return "tier";
	if (strcmp(a->wg_host, b->wg_host) != 0)
		return "wireguard.host";
	if (strcmp(a->ssh_host, b->ssh_host) != 0 || a->ssh_port != b->ssh_port ||
	    strcmp(a->ssh_user, b->ssh_user) != 0 || strcmp(a->ssh_hostkey, b->ssh_hostkey) != 0)
		return "ssh";
	return NULL;
}

/* 0 when b is a with interfaces appended, else PV_EINVAL naming what differs. */
static int only_appended(const struct pv_server *a, const struct pv_server *b, char *err,
                         size_t errlen)
{
	const char *field = changed_field(a, b);
	size_t k;

	if (field) {
		ctl_errf(err, errlen,
		         "server %s: field \"%s\": only interfaces can be added to a server in the "
		         "fleet",
		         a->id, field);
		return PV_EINVAL;
	}
	if (b->n_ifaces < a->n_ifaces) {
		ctl_errf(err, errlen,
		         "server %s: field \"wireguard.interfaces\": %zu interfaces, it has %zu: "
		         "an interface is never removed (its peers hold leases on it)",
		         a->id, b->n_ifaces, a->n_ifaces);
		return PV_EINVAL;
	}
	for (k = 0; k < a->n_ifaces; k++) {
		const struct pv_iface *x = &a->ifaces[k], *y = &b->ifaces[k];

		if (strcmp(x->name, y->name) != 0 || x->port != y->port ||
		    strcmp(x->subnet4, y->subnet4) != 0 || strcmp(x->subnet6, y->subnet6) != 0) {
			ctl_errf(err, errlen,
			         "server %s: field \"wireguard.interfaces[%zu]\": differs from the "
			         "server's %s: existing interfaces stay as they are, new ones are "
			         "appended",
			         a->id, k, x->name);
			return PV_EINVAL;
		}
	}
	return 0;
}

/* The index of server id in the DB's entries, or -1. */
static long entry_index(json_t *entries, const char *id)
{
	size_t i;
	json_t *e;

	json_array_foreach(entries, i, e)
	{
		const char *eid = json_string_value(json_object_get(e, "id"));

		if (eid && strcmp(eid, id) == 0)
			return (long)i;
	}
	return -1;
}

int ctl_fleet_update(struct ctl *ctl, const struct pv_server *s, json_t *entry, size_t *n_ifaces,
                     char *err, size_t errlen)
{
	struct pv_fleet *f = NULL;
	json_t *entries;
	char *text = NULL;
	long at;
	int r;

	if (!(entries = db_entries(ctl, err, errlen)))
		return PV_EDB;
	if ((at = entry_index(entries, s->id)) < 0) {
		json_decref(entries);
		ctl_errf(err, errlen, "server %s has no entry in the DB", s->id);
		return PV_ENOTFOUND;
	}
	/* The whole fleet with the new entry: fleet.c checks it, ids and endpoints unique. */
	if (json_array_set(entries, (size_t)at, entry) < 0) {
		json_decref(entries);
		return PV_ENOMEM;
	}
	if ((r = parse_entries(&f, entries, "request", err, errlen)) < 0)
		return r;
	if (strcmp(f->servers[at].id, s->id) != 0) {
		r = PV_EINVAL;
		ctl_errf(err, errlen, "field \"id\": the entry is %s's, not %s", s->id,
		         f->servers[at].id);
		goto out;
	}
	if ((r = only_appended(s, &f->servers[at], err, errlen)) < 0)
		goto out;
	r = PV_ENOMEM;
	if (!(text = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS)))
		goto out;
	if ((r = db_server_set_entry(ctl->db, &f->servers[at], text)) < 0) {
		ctl_errf(err, errlen, "%s", db_errmsg(ctl->db));
		goto out;
	}
	*n_ifaces = f->servers[at].n_ifaces;
out:
	ctl_json_free(text);
	pv_fleet_free(f);
	return r;
}

int ctl_fleet_remove(struct ctl *ctl, const struct pv_server *s)
{
	int r = db_server_retire(ctl->db, s->id);

	if (r == 0)
		ctl->fleet_gone[s - ctl->fleet->servers] = 1;
	return r;
}

int ctl_fleet_export(struct ctl *ctl, char **out, char *err, size_t errlen)
{
	json_t *entries = db_entries(ctl, err, errlen);

	*out = NULL;
	return entries ? fleet_doc(entries, out) : PV_EDB;
}
