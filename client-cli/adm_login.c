/* SPDX-License-Identifier: MIT */
/*
 * `vpnadm login URL [--cacert FILE]`: check the admin token with
 * GET /api/admin/users?limit=1, then store URL, token and CA file in the
 * 0600 config ($XDG_CONFIG_HOME/vpnadm/config.json).  The token comes from
 * VPNADM_TOKEN or one line of stdin, never from argv.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpnctl.h"

int adm_login(const struct vpnctl_args *args)
{
	const char *env = getenv("VPNADM_TOKEN");
	struct vpnctl_api_error e;
	struct vpnctl_conf c = {0};
	json_t *reply = NULL;
	char path[512], err[512];
	int r;

	if (args->npos != 1) {
		vpnctl_err("login: give the controller's URL (https://host:port)");
		return VX_USAGE;
	}
	c.admin_token = env ? strdup(env) : cli_secret_from_stdin();
	if (!c.admin_token || !vpnctl_token_is_valid(c.admin_token)) {
		vpnctl_err(
		        "login: no admin token: set VPNADM_TOKEN or give it as one line on stdin "
		        "(16..200 printable characters, no spaces)");
		r = VX_USAGE;
		goto out;
	}
	if ((r = cli_api_url_set(&c, args->pos[0])) ||
	    (args->cacert && (r = cli_cacert_set(&c, args->cacert))))
		goto out;
	if ((r = vpnctl_api(&c, "GET", "/api/admin/users?limit=1", NULL, &reply, &e)) < 0) {
		r = adm_fail(r, &e, "login");
		goto out;
	}
	if (vpnctl_conf_save(&c, err, sizeof(err)) < 0) {
		vpnctl_err("login: %s", err);
		r = VX_LOCAL;
		goto out;
	}
	vpnctl_conf_path(path, sizeof(path));
	printf("Logged in to %s as an operator; saved in %s\n", c.api_url, path);
	r = VX_OK;
out:
	json_decref(reply);
	vpnctl_conf_clear(&c);
	return r;
}
