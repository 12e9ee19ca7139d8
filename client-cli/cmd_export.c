/* SPDX-License-Identifier: MIT */
/*
 * `vpnctl export [SERVER] --device NAME`: a tunnel for a phone or tablet
 * (the official WireGuard apps), which cannot run vpnctl.  The controller
 * makes the key pair (POST /api/provision without public_key) and never
 * stores the private key; vpnctl shows the config as a QR code or writes it
 * to the files asked for (export.c) and keeps nothing: no tunnel file, no
 * config field.  The device is a device like any other (its own peer,
 * lease, quota slot); `vpnctl revoke --device NAME` removes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpnctl.h"

/* 1 if name is this machine's own device (connect's default, or its tunnel's):
 * exporting it would replace this machine's peer. */
static int own_device(const struct vpnctl_conf *c, const char *name)
{
	struct vpnctl_tunnel t;

	return strcmp(c->device ? c->device : "default", name) == 0 ||
	       (vpnctl_tunnel_load(&t, VPNCTL_WG_DIR) == 0 && strcmp(t.device, name) == 0);
}

static int export_to(const struct vpnctl_conf *c, struct cli_export *x, const char *server)
{
	const struct vpnctl_args *args = x->args;
	json_t *reply = NULL;
	int r = vpnctl_provision(args, c, "export", server, args->device, NULL, &reply);

	if (r)
		return r;
	r = cli_export_finish(x, server, reply);
	cli_export_cleanse(reply);
	json_decref(reply);
	/* A peer whose config was not delivered has a key nobody has: take it back. */
	if (r != VX_OK)
		vpnctl_revoke_quietly(c, "export", server, args->device);
	else
		vpnctl_progress(args,
		                "Device %s has its own peer on %s; `vpnctl revoke --device %s` "
		                "removes it.",
		                args->device, server, args->device);
	return r;
}

int cmd_export(const struct vpnctl_args *args)
{
	struct vpnctl_conf c = {0};
	struct cli_export x = {.png_fd = -1, .out_fd = -1};
	struct vpnctl_server server;
	int r;

	if (!args->device) {
		vpnctl_err("export: --device NAME is required: the phone's or tablet's own name");
		return VX_USAGE;
	}
	if (args->npos == 1 && !pv_server_id_is_valid(args->pos[0])) {
		vpnctl_err("export: '%s' is not a server name (see `vpnctl servers`)",
		           args->pos[0]);
		return VX_USAGE;
	}
	r = vpnctl_login_load(&c);
	if (r)
		goto out;
	if (own_device(&c, args->device)) {
		vpnctl_err("export: %s is this machine's device: its peer would be replaced; "
		           "name the phone's own device",
		           args->device);
		r = VX_USAGE;
		goto out;
	}
	r = cli_export_open(&x, args, "export");
	if (r)
		goto out;
	if (args->npos == 1)
		snprintf(server.id, sizeof(server.id), "%s", args->pos[0]);
	else
		r = vpnctl_choose_server(&c, args, "export", NULL, NULL, &server);
	if (r == VX_OK)
		r = export_to(&c, &x, server.id);
out:
	cli_export_close(&x);
	vpnctl_conf_clear(&c);
	return r;
}
