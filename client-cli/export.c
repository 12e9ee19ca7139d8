/* SPDX-License-Identifier: MIT */
/*
 * Delivery of an exported tunnel, shared by `vpnctl export` and `vpnadm user
 * config`: the provision reply carries a private key the controller made
 * (and never stores); its fields are checked as connect checks them and
 * the app's config is rendered from them by tunnel.c's fixed template (the
 * reply's free-text config is never used).  That config goes to a QR code on
 * the terminal, a PNG of the same matrix and/or a file, and nowhere else.  Files are created
 * 0600 with O_EXCL before anything is provisioned, so an existing file is
 * never overwritten and a refused path costs no peer; they are deleted
 * again when the export does not finish.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "vpnctl.h"

static int create_private(const char *what, const char *path, int *fd)
{
	*fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (*fd >= 0)
		return VX_OK;
	vpnctl_err("%s: cannot create %s: %s%s", what, path, strerror(errno),
	           errno == EEXIST ? " (an existing file is never overwritten)" : "");
	return VX_LOCAL;
}

int cli_export_open(struct cli_export *x, const struct vpnctl_args *args, const char *what)
{
	int r = VX_OK;

	x->args = args;
	x->what = what;
	x->png_fd = x->out_fd = -1;
	x->delivered = 0;
	if (args->qr_png)
		r = create_private(what, args->qr_png, &x->png_fd);
	if (r == VX_OK && args->output)
		r = create_private(what, args->output, &x->out_fd);
	if (r != VX_OK)
		cli_export_close(x);
	return r;
}

void cli_export_close(struct cli_export *x)
{
	if (x->png_fd >= 0) {
		close(x->png_fd);
		if (!x->delivered)
			unlink(x->args->qr_png);
	}
	if (x->out_fd >= 0) {
		close(x->out_fd);
		if (!x->delivered)
			unlink(x->args->output);
	}
	x->png_fd = x->out_fd = -1;
}

/*
 * The app's config from the reply's checked fields, as connect checks them
 * (server-key mode: the reply's private_key), never the reply's free text.
 * *config owned by the caller, holds the key: OPENSSL_clear_free.
 */
static int build_config(const struct cli_export *x, const char *server_id, const json_t *reply,
                        char **config)
{
	struct vpnctl_tunnel_spec spec;
	const char *device = NULL;
	char err[256];
	int r;

	*config = NULL;
	if (json_unpack((json_t *)reply, "{s:s}", "device", &device) < 0 ||
	    strcmp(device, x->args->device) != 0) {
		snprintf(err, sizeof(err), "the controller's provision reply is not for device %s",
		         x->args->device);
		r = PV_EINVAL;
	} else {
		r = vpnctl_tunnel_from_reply(&spec, reply, server_id, NULL, err, sizeof(err));
		if (r == 0)
			r = vpnctl_tunnel_render(config, &spec, NULL, err, sizeof(err));
		vpnctl_tunnel_spec_clear(&spec);
	}
	if (r == 0)
		return VX_OK;
	vpnctl_err("%s: %s; nothing written", x->what, err);
	return r == PV_ENOMEM ? VX_LOCAL : VX_NETWORK;
}

static int write_png(const struct cli_export *x, const struct cli_qr *q)
{
	/* A stdio stream of its own descriptor: png_fd stays for cli_export_close. */
	int fd = dup(x->png_fd);
	FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
	int r;

	if (!f) {
		if (fd >= 0)
			close(fd);
		vpnctl_err("%s: %s: %s", x->what, x->args->qr_png, strerror(errno));
		return VX_LOCAL;
	}
	r = cli_qr_write_png(q, f, CLI_QR_PNG_SCALE);
	if (r == 0 && fsync(fd) < 0)
		r = PV_EIO;
	if (fclose(f) != 0 && r == 0)
		r = PV_EIO;
	if (r < 0)
		vpnctl_err("%s: writing %s failed: %s", x->what, x->args->qr_png, strerror(errno));
	return r < 0 ? VX_LOCAL : VX_OK;
}

static int write_conf(const struct cli_export *x, const char *config)
{
	if (pv_write_all(x->out_fd, config, strlen(config)) == 0 && fsync(x->out_fd) == 0)
		return VX_OK;
	vpnctl_err("%s: writing %s failed: %s", x->what, x->args->output, strerror(errno));
	return VX_LOCAL;
}

int cli_export_finish(struct cli_export *x, const char *server_id, const json_t *reply)
{
	const struct vpnctl_args *a = x->args;
	struct cli_qr *q = NULL;
	char *config = NULL;
	int r = build_config(x, server_id, reply, &config);

	if (r)
		return r;
	if ((a->qr || a->qr_png || !a->output) && cli_qr_encode(config, &q) < 0) {
		vpnctl_err("%s: the config does not fit in a QR code", x->what);
		r = VX_LOCAL;
	}
	if (r == VX_OK && x->out_fd >= 0)
		r = write_conf(x, config);
	if (r == VX_OK && x->png_fd >= 0)
		r = write_png(x, q);
	if (r == VX_OK && (a->qr || (!a->qr_png && !a->output))) {
		vpnctl_progress(a, "Scan this with the WireGuard app (+, Scan from QR code):");
		if (cli_qr_print(q, stdout, isatty(STDOUT_FILENO)) < 0 || fflush(stdout) != 0) {
			vpnctl_err("%s: writing the QR code to stdout failed", x->what);
			r = VX_LOCAL;
		}
	}
	cli_qr_free(q);
	OPENSSL_clear_free(config, strlen(config));
	x->delivered = r == VX_OK;
	return r;
}

/* The reply's secrets, cleansed in place: jansson frees without cleansing. */
void cli_export_cleanse(json_t *reply)
{
	static const char *const secrets[] = {"private_key", "preshared_key", "config"};
	size_t i;

	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		json_t *v = json_object_get(reply, secrets[i]);

		if (json_is_string(v))
			OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
	}
}
