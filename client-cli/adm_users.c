/* SPDX-License-Identifier: MIT */
/*
 * vpnadm's user commands: `users` (every page, or one with --limit and
 * --cursor), `user show`, and the admin actions `user issue-key`,
 * `user rotate-key`, `user disable`, `user tier` (docs/api.md).  Keys are
 * printed on stdout only, one line, so `key=$(vpnadm user rotate-key u1)`
 * works; they are never in argv or logs.
 */
#include <stdio.h>
#include <string.h>

#include "vpnctl.h"

#define PAGE_MAX 1000

/* The USER positional, checked like the controller does; prints why not. */
static const char *user_arg(const struct vpnctl_args *args, const char *what)
{
	if (args->npos < 1 || !pv_user_id_is_valid(args->pos[0])) {
		vpnctl_err("%s: USER must be [A-Za-z0-9.-]{1,64}", what);
		return NULL;
	}
	return args->pos[0];
}

static void print_users(const json_t *users)
{
	static const char *const head[] = {"USER", "TIER", "ACTIVE", "KEY GEN", "PEERS", "DEVICES"};
	static const int widths[] = {24, 6, 7, 8, 6};
	const json_t *u;
	size_t i;

	cli_table_row(head, widths, 6);
	json_array_foreach(users, i, u)
	{
		const char *id = "?", *tier = "?";
		int active = 0;
		json_int_t gen = 0, peers = 0, devices = 0;
		char g[24], p[24], d[24];
		const char *row[6] = {id, tier, "", g, p, d};

		json_unpack((json_t *)u, "{s?:s, s?:s, s?:b, s?:I, s?:I, s?:I}", "user_id", &id,
		            "tier", &tier, "active", &active, "key_generation", &gen, "peers",
		            &peers, "devices", &devices);
		row[0] = id;
		row[1] = tier;
		row[2] = active ? "yes" : "no";
		snprintf(g, sizeof(g), "%lld", (long long)gen);
		snprintf(p, sizeof(p), "%lld", (long long)peers);
		snprintf(d, sizeof(d), "%lld", (long long)devices);
		cli_table_row(row, widths, 6);
	}
}

/* GET one page after cursor ("" = first); *next is the reply's next_cursor or NULL. */
static int users_page(long limit, const char *cursor, json_t **reply, const char **next)
{
	char path[160];
	int r;

	snprintf(path, sizeof(path), "/api/admin/users?limit=%ld%s%s", limit,
	         *cursor ? "&cursor=" : "", cursor);
	r = adm_call("users", "GET", path, NULL, reply);
	if (r)
		return r;
	*next = json_string_value(json_object_get(*reply, "next_cursor"));
	return VX_OK;
}

int adm_users(const struct vpnctl_args *args)
{
	json_t *all = json_array(), *page = NULL;
	char cursor[80];
	const char *next = NULL;
	int r = VX_OK;

	if (args->cursor && !pv_user_id_is_valid(args->cursor)) {
		vpnctl_err("users: --cursor must be a user id");
		json_decref(all);
		return VX_USAGE;
	}
	snprintf(cursor, sizeof(cursor), "%s", args->cursor ? args->cursor : "");
	do {
		r = users_page(args->limit ? args->limit : PAGE_MAX, cursor, &page, &next);
		if (r)
			break;
		if (!all || json_array_extend(all, json_object_get(page, "users")) < 0) {
			r = VX_LOCAL;
			break;
		}
		snprintf(cursor, sizeof(cursor), "%s", next ? next : "");
		json_decref(page);
		page = NULL;
		vpnctl_progress(args, "%zu users ...", json_array_size(all));
	} while (!args->limit && cursor[0]);
	json_decref(page);
	if (r) {
		json_decref(all);
		return r;
	}
	if (args->limit && cursor[0])
		vpnctl_progress(args, "More: vpnadm users --limit %ld --cursor %s", args->limit,
		                cursor);
	if (args->json)
		return vpnctl_print_json(json_pack("{s:o, s:s?}", "users", all, "next_cursor",
		                                   args->limit && cursor[0] ? cursor : NULL));
	print_users(all);
	json_decref(all);
	return VX_OK;
}

static void print_user(const json_t *u)
{
	static const char *const head[] = {"PEER", "DEVICE", "SERVER", "IPV4", "IPV6", "STATE"};
	static const int widths[] = {8, 16, 16, 15, 26};
	const json_t *devices = json_object_get(u, "devices"), *peers = json_object_get(u, "peers");
	const char *id = "?", *tier = "?";
	const json_t *p, *d;
	int active = 0;
	json_int_t gen = 0;
	size_t i;

	json_unpack((json_t *)u, "{s?:s, s?:s, s?:b, s?:I}", "user_id", &id, "tier", &tier,
	            "active", &active, "key_generation", &gen);
	printf("User %s: %s tier, %s, key generation %lld\nDevices:", id, tier,
	       active ? "active" : "disabled", (long long)gen);
	json_array_foreach(devices, i, d)
	{
		printf("%s %s", i ? "," : "", json_string_value(d));
	}
	printf("%s\n\n", json_array_size(devices) ? "" : " none");
	cli_table_row(head, widths, 6);
	json_array_foreach(peers, i, p)
	{
		const char *row[6] = {"?", "?", "?", "-", "-", "?"};

		json_unpack((json_t *)p, "{s?:s, s?:s, s?:s, s?:s, s?:s, s?:s}", "name", &row[0],
		            "device", &row[1], "server_id", &row[2], "client_ipv4", &row[3],
		            "client_ipv6", &row[4], "state", &row[5]);
		cli_table_row(row, widths, 6);
	}
}

int adm_user_show(const struct vpnctl_args *args)
{
	const char *user = user_arg(args, "user show");
	char path[128];
	json_t *reply = NULL;
	int r;

	if (!user)
		return VX_USAGE;
	snprintf(path, sizeof(path), "/api/admin/users/%s", user);
	if ((r = adm_call("user show", "GET", path, NULL, &reply)))
		return r;
	if (args->json)
		return vpnctl_print_json(reply);
	print_user(reply);
	json_decref(reply);
	return VX_OK;
}

/*
 * POST an admin action on USER (with TIER for the commands that take one)
 * and print the reply: --json whole, else the new key alone when there is
 * one, else a summary line.
 */
static int user_action(const struct vpnctl_args *args, const char *what, const char *path,
                       int with_tier)
{
	const char *user = user_arg(args, what);
	json_t *body, *reply = NULL;
	const char *key;
	int r;

	if (!user)
		return VX_USAGE;
	if (with_tier && (args->npos < 2 || (strcmp(args->pos[1], "basic") != 0 &&
	                                     strcmp(args->pos[1], "pro") != 0))) {
		vpnctl_err("%s: TIER must be basic or pro", what);
		return VX_USAGE;
	}
	body = with_tier ? json_pack("{s:s, s:s}", "user_id", user, "tier", args->pos[1])
	                 : json_pack("{s:s}", "user_id", user);
	if (!body)
		return VX_LOCAL;
	r = adm_call(what, "POST", path, body, &reply);
	json_decref(body);
	if (r)
		return r;
	if (args->json)
		return vpnctl_print_json(reply);
	key = json_string_value(json_object_get(reply, "api_key"));
	if (key)
		printf("%s\n", key);
	else
		printf("%s: done, %lld peers revoked\n", user,
		       (long long)json_integer_value(json_object_get(reply, "revoked")));
	json_decref(reply);
	return VX_OK;
}

int adm_user_issue_key(const struct vpnctl_args *args)
{
	return user_action(args, "user issue-key", "/api/generate-api-key", 1);
}

int adm_user_rotate_key(const struct vpnctl_args *args)
{
	return user_action(args, "user rotate-key", "/api/admin/users/rotate-key", 0);
}

int adm_user_disable(const struct vpnctl_args *args)
{
	return user_action(args, "user disable", "/api/admin/users/disable", 0);
}

int adm_user_tier(const struct vpnctl_args *args)
{
	return user_action(args, "user tier", "/api/admin/users/tier", 1);
}
