/* SPDX-License-Identifier: MIT */
/*
 * The validators of every name and number that crosses a boundary: ids in
 * the API, peer and interface names that end up in wg0.conf, numbers in
 * `wg show dump`.  One rule per kind of token, so the controller, the remote
 * edit and vpnctl can never disagree on what is valid.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pv.h"

static const char ALNUM[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
static const char LOWER_DIGIT[] = "abcdefghijklmnopqrstuvwxyz0123456789";

/* 1 if s is 1..max characters, each from set or extra. */
static int token_ok(const char *s, size_t max, const char *set, const char *extra)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++)
		if (n >= max || (!strchr(set, s[n]) && !strchr(extra, s[n])))
			return 0;
	return n > 0;
}

int pv_peer_name_is_valid(const char *s)
{
	return token_ok(s, PV_PEER_NAME_MAX, ALNUM, "_-");
}

int pv_iface_is_valid(const char *s)
{
	return token_ok(s, PV_IFACE_MAX, ALNUM, "_=+.-");
}

int pv_server_id_is_valid(const char *s)
{
	return token_ok(s, PV_SERVER_ID_MAX, LOWER_DIGIT, "-");
}

int pv_device_is_valid(const char *s)
{
	return token_ok(s, PV_DEVICE_MAX, ALNUM, "._-");
}

int pv_user_id_is_valid(const char *s)
{
	return token_ok(s, PV_USER_ID_MAX, ALNUM, ".-");
}

int pv_parse_u64(const char *s, int base, uint64_t max, uint64_t *out)
{
	const char *digits = base == 16 ? "0123456789abcdefABCDEF" : "0123456789";
	unsigned long long v;
	char *end;

	/* strtoull would take a sign, leading blanks and a 0x prefix: refuse them. */
	if (!s || !*s || !strchr(digits, *s) || (base == 16 && s[0] == '0' && s[1] == 'x'))
		return PV_EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end || v > max)
		return PV_EINVAL;
	*out = v;
	return 0;
}
