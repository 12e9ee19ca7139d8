/* SPDX-License-Identifier: MIT */
/*
 * vpnadm's calls to the admin API: the stored login, one request through
 * the shared client (api.c), and failures told as an operator needs them,
 * with the exit codes both tools share.
 */
#include <stdio.h>

#include "vpnctl.h"

int adm_fail(int r, const struct vpnctl_api_error *e, const char *what)
{
	switch (r) {
	case PV_EUNREACH:
		vpnctl_err(
		        "%s: cannot reach the controller: %s\n  Check the URL (vpnadm login URL), "
		        "the network, and --cacert if it uses a private CA.",
		        what, e->msg);
		break;
	case PV_EAUTH:
		vpnctl_err("%s: the controller refused the admin token (%s).\n  Run `vpnadm login "
		           "URL` with the current token (it changes on SIGHUP if the file did).",
		           what, e->msg);
		break;
	default:
		vpnctl_err("%s: %s%s%s", what, e->msg, e->code[0] ? " / " : "", e->code);
	}
	return vpnctl_api_exit(r);
}

int adm_call(const char *what, const char *method, const char *path, json_t *body, json_t **reply)
{
	struct vpnctl_api_error e;
	struct vpnctl_conf c;
	int r = vpnctl_login_load(&c);

	*reply = NULL;
	if (r)
		return r;
	r = vpnctl_api(&c, method, path, body, reply, &e);
	vpnctl_conf_clear(&c);
	return r < 0 ? adm_fail(r, &e, what) : VX_OK;
}
