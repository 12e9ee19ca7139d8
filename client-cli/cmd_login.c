/* SPDX-License-Identifier: MIT */
/*
 * `vpnctl login [KEY | -]`: check an API key with GET /api/servers, then store
 * URL, key, CA file and device name in the 0600 login config.  The key comes
 * from KEY, stdin (-) or VPNCTL_API_KEY, so it need not sit in shell history.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "vpnctl.h"

static char *pick_key(const struct vpnctl_args *args)
{
	const char *env = getenv("VPNCTL_API_KEY");

	if (args->npos == 1 && strcmp(args->pos[0], "-") == 0)
		return cli_secret_from_stdin();
	if (args->npos == 1)
		return strdup(args->pos[0]);
	return env ? strdup(env) : NULL;
}

/* Fill c from the flags, falling back to the stored login for what is not given. */
static int build_conf(const struct vpnctl_args *args, struct vpnctl_conf *c, char *key)
{
	struct vpnctl_conf old;
	char err[256], dev[VPNCTL_MAX_DEVICE_LEN + 1];
	int have_old = vpnctl_conf_load(&old, err, sizeof(err)) == 0;
	int r = VX_USAGE;

	memset(c, 0, sizeof(*c));
	c->api_key = key;
	if (!args->api && !have_old) {
		vpnctl_err(
		        "login: --api URL is needed the first time (e.g. https://vpn.example.com)");
		goto out;
	}
	if (cli_api_url_set(c, args->api ? args->api : old.api_url) < 0)
		goto out;
	if (args->cacert) {
		if (cli_cacert_set(c, args->cacert) < 0)
			goto out;
	} else if (have_old && old.cacert && !args->api) {
		c->cacert = strdup(old.cacert);
	}
	if (args->device)
		c->device = strdup(args->device);
	else if (have_old && old.device)
		c->device = strdup(old.device);
	else {
		vpnctl_default_device(dev, sizeof(dev));
		c->device = strdup(dev);
	}
	r = c->device ? VX_OK : VX_LOCAL;
out:
	if (have_old)
		vpnctl_conf_clear(&old);
	return r;
}

int cmd_login(const struct vpnctl_args *args)
{
	struct vpnctl_api_error e;
	struct vpnctl_conf c = {0};
	json_t *reply = NULL;
	const char *tier = "?";
	char err[512], *key = pick_key(args);
	int r;

	if (!key) {
		vpnctl_err("login: no API key: give KEY, - to read it from stdin, or set "
		           "VPNCTL_API_KEY");
		return VX_USAGE;
	}
	if (!vpnctl_key_is_valid(key)) {
		vpnctl_err("login: the API key is malformed (expected userid_tier_signature)");
		OPENSSL_clear_free(key, strlen(key));
		return VX_USAGE;
	}
	r = build_conf(args, &c, key);
	if (r)
		goto out;
	vpnctl_progress(args, "Checking the key with %s ...", c.api_url);
	if ((r = vpnctl_api(&c, "GET", "/api/servers", NULL, &reply, &e)) < 0) {
		r = vpnctl_api_fail(r, &e, "login");
		goto out;
	}
	json_unpack(reply, "{s?:s}", "tier", &tier);
	if (vpnctl_conf_save(&c, err, sizeof(err)) < 0) {
		vpnctl_err("login: %s", err);
		r = VX_LOCAL;
		goto out;
	}
	vpnctl_conf_path(err, sizeof(err));
	if (args->json)
		r = vpnctl_print_json(json_pack(
		        "{s:s, s:s, s:I, s:s, s:s}", "api_url", c.api_url, "tier", tier, "servers",
		        (json_int_t)json_array_size(json_object_get(reply, "servers")), "device",
		        c.device, "config", err));
	else {
		printf("Logged in to %s (%s tier, %zu servers) as device %s; saved in %s\n",
		       c.api_url, tier, json_array_size(json_object_get(reply, "servers")),
		       c.device, err);
		r = VX_OK;
	}
out:
	json_decref(reply);
	vpnctl_conf_clear(&c);
	return r;
}
