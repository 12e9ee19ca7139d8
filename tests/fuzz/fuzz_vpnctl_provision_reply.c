/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the provision reply vpnctl turns into its tunnel file
 * (client-cli/tunnel.c): any bytes must be refused (PV_EINVAL with a
 * message) or give a file whose every line is a comment, a section header
 * or one of the whitelisted keys, with no carriage return anywhere: nothing
 * else can ever reach wg-quick.  Built and run by tests/fuzz/run.sh.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "vpnctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const allowed_keys[] = {
        "PrivateKey = ", "Address = ",   "FwMark = ",
        "DNS = ",        "PublicKey = ", "PresharedKey = ",
        "AllowedIPs = ", "Endpoint = ",  "PersistentKeepalive = ",
};

static int line_ok(const char *line, size_t len)
{
	size_t i;

	if (len == 0 || line[0] == '#' || (len == 11 && memcmp(line, "[Interface]", 11) == 0) ||
	    (len == 6 && memcmp(line, "[Peer]", 6) == 0))
		return 1;
	for (i = 0; i < sizeof(allowed_keys) / sizeof(allowed_keys[0]); i++)
		if (strncmp(line, allowed_keys[i], strlen(allowed_keys[i])) == 0)
			return 1;
	return 0;
}

static void check_file(const char *text)
{
	const char *p = text;

	if (strchr(text, '\r'))
		abort();
	while (*p) {
		size_t len = strcspn(p, "\n");

		if (!line_ok(p, len))
			abort();
		p += len + (p[len] == '\n');
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char priv[] = "eLY6k1TaEaipiHXeqEy41wcS3pouw9gpsNwRuKwfRUM=";
	struct vpnctl_tunnel t = {.server_id = "eu-west-1", .location = "x", .device = "laptop"};
	struct vpnctl_tunnel_spec s;
	char err[256] = "", *text = NULL;
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	int r;

	if (!j)
		return 0;
	r = vpnctl_tunnel_from_reply(&s, j, "eu-west-1", priv, err, sizeof(err));
	if (r != 0 && (r != PV_EINVAL || !err[0]))
		abort();
	if (r == 0) {
		if (vpnctl_tunnel_render(&text, &s, &t, err, sizeof(err)) != 0)
			abort();
		check_file(text);
		OPENSSL_clear_free(text, strlen(text));
	}
	vpnctl_tunnel_spec_clear(&s);
	json_decref(j);
	return 0;
}
