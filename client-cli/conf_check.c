/* SPDX-License-Identifier: MIT */
/*
 * The check of a complete wg-quick config the controller answered for an
 * exported device (docs/vpnctl.md, `vpnctl export`): the config goes to a
 * phone's WireGuard app as it is, so nothing but the wg-quick basics may
 * be in it.  A whitelist of keys per section, every value parsed
 * (wireguard-tools' config.c rules): a PostUp, a Table, a second peer or
 * a key of the wrong length is refused, naming the line.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpnctl.h"

#define MAX_LINE 1024

enum section { SEC_NONE, SEC_IFACE, SEC_PEER };

/* "10.7.0.2" or "fd00::2", with "/N" when prefix (N in range for the family). */
static int ip_ok(const char *s, int prefix)
{
	char buf[64], *slash;
	unsigned char addr[16];
	uint64_t bits;
	int v6;

	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
		return 0;
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if ((slash != NULL) != prefix)
		return 0;
	v6 = strchr(buf, ':') != NULL;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, addr) != 1)
		return 0;
	return !slash || pv_parse_u64(slash + 1, 10, v6 ? 128 : 32, &bits) == 0;
}

/* A DNS entry: an address, or a search domain as wg-quick takes it. */
static int dns_ok(const char *s)
{
	return ip_ok(s, 0) ||
	       (*s &&
	        strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") ==
	                strlen(s));
}

/* Every ", "-separated item of list passes ok. */
static int list_ok(const char *list, int (*ok)(const char *, int), int arg)
{
	char buf[MAX_LINE], *save = NULL, *item;

	if (snprintf(buf, sizeof(buf), "%s", list) >= (int)sizeof(buf))
		return 0;
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		item += strspn(item, " ");
		if (!ok(item, arg))
			return 0;
	}
	return list[0] && list[strlen(list) - 1] != ',';
}

static int dns_item_ok(const char *s, int unused)
{
	(void)unused;
	return dns_ok(s);
}

/* host:port, [v6]:port or name:port with port 1..65535. */
static int endpoint_ok(const char *s)
{
	char host[80];
	const char *colon = strrchr(s, ':');
	uint64_t port;
	size_t n;

	if (!colon || pv_parse_u64(colon + 1, 10, 65535, &port) < 0 || port == 0)
		return 0;
	n = (size_t)(colon - s);
	if (n >= sizeof(host) || n == 0)
		return 0;
	memcpy(host, s, n);
	host[n] = '\0';
	if (host[0] == '[' && host[n - 1] == ']') {
		host[n - 1] = '\0';
		return strchr(host + 1, ':') && ip_ok(host + 1, 0);
	}
	return !strchr(host, ':') && dns_ok(host);
}

static int keepalive_ok(const char *s)
{
	uint64_t v;

	return strcmp(s, "off") == 0 || pv_parse_u64(s, 10, 65535, &v) == 0;
}

/* The whitelist: section, key, value check, and whether the key must be there. */
enum value_kind { V_KEY, V_ADDRS, V_DNS, V_CIDRS, V_ENDPOINT, V_KEEPALIVE };

static const struct {
	enum section sec;
	const char *key;
	enum value_kind kind;
	int required;
} fields[] = {
        {SEC_IFACE, "PrivateKey", V_KEY, 1},   {SEC_IFACE, "Address", V_ADDRS, 1},
        {SEC_IFACE, "DNS", V_DNS, 0},          {SEC_PEER, "PublicKey", V_KEY, 1},
        {SEC_PEER, "PresharedKey", V_KEY, 0},  {SEC_PEER, "AllowedIPs", V_CIDRS, 1},
        {SEC_PEER, "Endpoint", V_ENDPOINT, 1}, {SEC_PEER, "PersistentKeepalive", V_KEEPALIVE, 0},
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static int value_ok(enum value_kind kind, const char *v)
{
	switch (kind) {
	case V_KEY:
		return pv_key_is_valid_base64(v);
	case V_ADDRS:
	case V_CIDRS:
		return list_ok(v, ip_ok, 1);
	case V_DNS:
		return list_ok(v, dns_item_ok, 0);
	case V_ENDPOINT:
		return endpoint_ok(v);
	case V_KEEPALIVE:
		return keepalive_ok(v);
	}
	return 0;
}

/* One "Key = Value" line of section sec; seen[] counts the keys. */
static int check_field(enum section sec, const char *line, int *seen, char *err, size_t errlen)
{
	const char *eq = strstr(line, " = ");
	size_t i, klen = eq ? (size_t)(eq - line) : 0;

	for (i = 0; eq && i < NFIELDS; i++)
		if (fields[i].sec == sec && strlen(fields[i].key) == klen &&
		    strncmp(fields[i].key, line, klen) == 0)
			break;
	if (!eq || i == NFIELDS) {
		snprintf(err, errlen, "line \"%.*s\": not a wg-quick key vpnctl accepts there",
		         (int)(eq ? klen : strcspn(line, " =")), line);
		return PV_EINVAL;
	}
	if (seen[i]++ || !value_ok(fields[i].kind, eq + 3)) {
		/* The value may be a key: name the field, never echo it. */
		snprintf(err, errlen, "%s: %s", fields[i].key,
		         seen[i] > 1 ? "given twice" : "malformed value");
		return PV_EINVAL;
	}
	return 0;
}

/* Printable ASCII lines only (the app's parser and a QR code in byte mode). */
static int text_ok(const char *config)
{
	const unsigned char *p;

	for (p = (const unsigned char *)config; *p; p++)
		if ((*p < 0x20 && *p != '\n') || *p >= 0x7f)
			return 0;
	return 1;
}

int cli_config_check(const char *config, char *err, size_t errlen)
{
	char line[MAX_LINE];
	int seen[NFIELDS] = {0}, ifaces = 0, peers = 0, r;
	enum section sec = SEC_NONE;
	size_t pos = 0, len = strlen(config), i;

	if (!text_ok(config)) {
		snprintf(err, errlen, "the config holds a control or non-ASCII byte");
		return PV_EINVAL;
	}
	while ((r = pv_line_next(config, len, &pos, line, sizeof(line))) == 1) {
		if (!line[0])
			continue;
		if (strcmp(line, "[Interface]") == 0) {
			sec = SEC_IFACE;
			ifaces++;
		} else if (strcmp(line, "[Peer]") == 0) {
			sec = SEC_PEER;
			peers++;
		} else if (sec == SEC_NONE) {
			snprintf(err, errlen, "a line before [Interface]");
			return PV_EINVAL;
		} else if ((r = check_field(sec, line, seen, err, errlen)) < 0)
			return r;
	}
	if (r < 0) {
		snprintf(err, errlen, "a line longer than %d bytes", MAX_LINE - 1);
		return r;
	}
	if (ifaces != 1 || peers != 1) {
		snprintf(err, errlen, "%d [Interface] and %d [Peer] sections, not one each", ifaces,
		         peers);
		return PV_EINVAL;
	}
	for (i = 0; i < NFIELDS; i++)
		if (fields[i].required && !seen[i]) {
			snprintf(err, errlen, "no %s", fields[i].key);
			return PV_EINVAL;
		}
	return 0;
}
