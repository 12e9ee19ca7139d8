/* SPDX-License-Identifier: MIT */
/*
 * Delivery of an exported tunnel, shared by `vpnctl export` and `vpnadm user
 * config`: the config the controller made with a private key of its own
 * (which it never stores) goes to a QR code on the terminal, a PNG of the
 * same matrix and/or a wg-quick file, and nowhere else.  Files are created
 * 0600 with O_EXCL before anything is provisioned, so an existing file is
 * never overwritten and a refused path costs no peer; they are deleted
 * again when the export does not finish.
 */
#include <arpa/inet.h>
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

/* 1 if config has the line "key = value". */
static int has_line(const char *config, const char *key, const char *value)
{
	char line[256];

	snprintf(line, sizeof(line), "\n%s = %s\n", key, value);
	return strstr(config, line) != NULL;
}

/* Every field of the reply, and the config's agreement with them; the config on success. */
static int check_reply(const struct cli_export *x, json_t *reply, const char **config)
{
	const char *server, *device, *peer, *ip4, *ip6, *server_key, *endpoint;
	unsigned char addr[16];
	char err[256];

	if (json_unpack(reply, "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "server_id", &server,
	                "device", &device, "peer_name", &peer, "client_ipv4", &ip4, "client_ipv6",
	                &ip6, "server_public_key", &server_key, "endpoint", &endpoint, "config",
	                config) < 0) {
		snprintf(err, sizeof(err), "a field is missing or not a string");
	} else if (!pv_server_id_is_valid(server) || !pv_device_is_valid(device) ||
	           strcmp(device, x->args->device) != 0 || !pv_peer_name_is_valid(peer)) {
		snprintf(err, sizeof(err),
		         "server_id, device or peer_name is malformed or not ours");
	} else if (inet_pton(AF_INET, ip4, addr) != 1 || inet_pton(AF_INET6, ip6, addr) != 1 ||
	           !pv_key_is_valid_base64(server_key)) {
		snprintf(err, sizeof(err),
		         "client_ipv4, client_ipv6 or server_public_key is malformed");
	} else if (cli_config_check(*config, err, sizeof(err)) < 0) {
		/* err says why */
	} else if (!has_line(*config, "PublicKey", server_key) ||
	           !has_line(*config, "Endpoint", endpoint)) {
		snprintf(err, sizeof(err),
		         "the config's [Peer] is not server_public_key at endpoint");
	} else {
		return VX_OK;
	}
	vpnctl_err("%s: the controller's reply is not a usable config (%s); nothing written",
	           x->what, err);
	return VX_NETWORK;
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

int cli_export_finish(struct cli_export *x, json_t *reply)
{
	const struct vpnctl_args *a = x->args;
	struct cli_qr *q = NULL;
	const char *config = NULL;
	int r = check_reply(x, reply, &config);

	if (r)
		return r;
	if ((a->qr || a->qr_png || !a->output) && cli_qr_encode(config, &q) < 0) {
		vpnctl_err("%s: the config does not fit in a QR code", x->what);
		return VX_LOCAL;
	}
	if (x->out_fd >= 0)
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
	x->delivered = r == VX_OK;
	return r;
}

/* The config string of a reply, cleansed in place: jansson frees without cleansing. */
void cli_export_cleanse(json_t *reply)
{
	json_t *config = json_object_get(reply, "config");

	if (json_is_string(config))
		OPENSSL_cleanse((char *)json_string_value(config), json_string_length(config));
}
