/* SPDX-License-Identifier: MIT */
/*
 * The controller API client (docs/api.md) on libcurl's easy interface: HTTPS
 * only, peer and host always verified (--cacert adds a private CA; there is
 * no insecure mode), proxies from the environment ignored, replies capped and
 * parsed with jansson.  vpnctl_api_fail turns an error into the next step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "vpnctl.h"

struct reply_buf {
	char *data;
	size_t len;
	int overflow;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct reply_buf *b = userdata;
	size_t n = size * nmemb;
	char *p;

	if (b->len + n > VPNCTL_MAX_REPLY) {
		b->overflow = 1;
		return 0;
	}
	p = realloc(b->data, b->len + n + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, ptr, n);
	b->data = p;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/*
 * The controller's JSON "code" decides (docs/api.md's table); the status
 * only when a reply has no code we know (a proxy's error page, an older
 * controller).
 */
static int reply_to_err(const char *code, long status)
{
	static const struct {
		const char *code;
		int err;
	} codes[] = {
	        {"bad_request", PV_EINVAL},
	        {"too_large", PV_EINVAL},
	        {"unauthorized", PV_EAUTH},
	        {"forbidden_tier", PV_ETIER},
	        {"not_found", PV_ENOTFOUND},
	        {"conflict", PV_EEXIST},
	        {"server_full", PV_EFULL},
	        {"address_in_use", PV_EEXIST},
	        {"quota_exceeded", PV_EFULL},
	        {"rate_limited", PV_EAUTH},
	        {"unreachable", PV_EUNREACH},
	        {"timeout", PV_ETIMEOUT},
	        {"host_key_mismatch", PV_EUNREACH},
	        {"ssh_auth_failed", PV_EUNREACH},
	        {"remote_error", PV_EUNREACH},
	        {"busy", PV_EBUSY},
	        {"draining", PV_EFULL},
	};
	size_t i;

	for (i = 0; code && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(codes[i].code, code) == 0)
			return codes[i].err;
	switch (status) {
	case 400:
	case 413:
		return PV_EINVAL;
	case 401:
		return PV_EAUTH;
	case 403:
		return PV_ETIER;
	case 404:
		return PV_ENOTFOUND;
	case 409:
		return PV_EEXIST;
	}
	return PV_EREMOTE;
}

/* Fill e from an error reply {"error":..., "code":...}; tolerate anything. */
static void parse_error(const struct reply_buf *b, struct vpnctl_api_error *e)
{
	const char *msg = NULL, *code = NULL;
	json_t *j = b->data ? json_loadb(b->data, b->len, 0, NULL) : NULL;

	if (j && json_unpack(j, "{s?:s, s?:s}", "error", &msg, "code", &code) == 0) {
		snprintf(e->msg, sizeof(e->msg), "%s", msg ? msg : "");
		snprintf(e->code, sizeof(e->code), "%s", code ? code : "");
	}
	if (!e->msg[0])
		snprintf(e->msg, sizeof(e->msg), "HTTP status %ld", e->status);
	json_decref(j);
}

/* Mark the socket so wg-quick's policy rule routes it outside a full tunnel. */
static int set_mark(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
	const uint32_t *fwmark = clientp;

	(void)purpose;
	if (*fwmark)
		(void)setsockopt(fd, SOL_SOCKET, SO_MARK, fwmark, sizeof(*fwmark));
	return CURL_SOCKOPT_OK;
}

CURL *vpnctl_curl_new(const char *url, const char *protocols, long connect_ms, long total_ms,
                      const uint32_t *fwmark)
{
	CURL *h = curl_easy_init();

	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protocols);
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
	/* Servers and controller are addressed directly: an http_proxy from the
	 * environment must neither see the API key nor skew a latency. */
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total_ms);
	curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, set_mark);
	curl_easy_setopt(h, CURLOPT_SOCKOPTDATA, fwmark);
	return h;
}

static CURL *make_handle(const struct vpnctl_conf *c, const char *url, struct reply_buf *b,
                         struct curl_slist *headers, char *errbuf, const uint32_t *fwmark)
{
	CURL *h = vpnctl_curl_new(url, "https", 5000L, 60000L, fwmark);

	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->cacert)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT,
	                 c->admin_token ? "vpnadm/" PV_VERSION : "vpnctl/" PV_VERSION);
	return h;
}

int vpnctl_api(const struct vpnctl_conf *c, const char *method, const char *path, json_t *body,
               json_t **reply, struct vpnctl_api_error *e)
{
	char url[1024], keyhdr[VPNCTL_MAX_KEY_LEN + 32], errbuf[CURL_ERROR_SIZE] = "";
	struct reply_buf b = {0};
	struct curl_slist *headers = NULL, *tmp;
	char *payload = NULL;
	json_error_t je;
	uint32_t fwmark;
	CURLcode cc;
	CURL *h = NULL;
	int r = PV_ENOMEM;

	*reply = NULL;
	memset(e, 0, sizeof(*e));
	if ((c->admin_token ? !vpnctl_token_is_valid(c->admin_token)
	                    : !vpnctl_key_is_valid(c->api_key)) ||
	    snprintf(url, sizeof(url), "%s%s", c->api_url, path) >= (int)sizeof(url)) {
		snprintf(e->msg, sizeof(e->msg), "malformed credential or URL in the login config");
		return PV_EINVAL;
	}
	if (c->admin_token)
		snprintf(keyhdr, sizeof(keyhdr), "Authorization: Bearer %s", c->admin_token);
	else
		snprintf(keyhdr, sizeof(keyhdr), "X-API-Key: %s", c->api_key);
	tmp = curl_slist_append(headers, keyhdr);
	if (!tmp)
		goto out;
	headers = tmp;
	tmp = curl_slist_append(headers, "Accept: application/json");
	if (!tmp)
		goto out;
	headers = tmp;
	if (body) {
		payload = json_dumps(body, JSON_COMPACT);
		tmp = payload ? curl_slist_append(headers, "Content-Type: application/json") : NULL;
		if (!tmp)
			goto out;
		headers = tmp;
	}
	/* The controller is reached around a full tunnel, so it stays reachable
	 * when the tunnel's server dies (that is when the user reconnects). */
	fwmark = vpnctl_bypass_mark();
	h = make_handle(c, url, &b, headers, errbuf, &fwmark);
	if (!h)
		goto out;
	if (payload)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
	else if (strcmp(method, "POST") == 0)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method); /* DELETE */
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		r = b.overflow ? PV_EREMOTE : PV_EUNREACH;
		snprintf(e->msg, sizeof(e->msg), "%s: %s", c->api_url,
		         b.overflow  ? "reply larger than 1 MiB"
		         : errbuf[0] ? errbuf
		                     : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &e->status);
	if (e->status < 200 || e->status > 299) {
		parse_error(&b, e);
		r = reply_to_err(e->code[0] ? e->code : NULL, e->status);
		goto out;
	}
	*reply = b.data ? json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &je) : NULL;
	if (!*reply || !json_is_object(*reply)) {
		json_decref(*reply);
		*reply = NULL;
		snprintf(e->msg, sizeof(e->msg), "%s%s: reply is not a JSON object", c->api_url,
		         path);
		r = PV_EREMOTE;
		goto out;
	}
	r = 0;
out:
	if (r == PV_ENOMEM && !e->msg[0])
		snprintf(e->msg, sizeof(e->msg), "out of memory");
	curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	OPENSSL_cleanse(keyhdr, sizeof(keyhdr));
	if (payload)
		OPENSSL_clear_free(payload, strlen(payload));
	if (b.data)
		OPENSSL_clear_free(b.data, b.len + 1);
	return r;
}

static int copy_str(char *dst, size_t len, const char *src)
{
	return snprintf(dst, len, "%s", src ? src : "") < (int)len ? 0 : PV_EINVAL;
}

int vpnctl_servers_parse(const json_t *reply, struct vpnctl_server **out, size_t *n)
{
	json_t *arr = json_object_get(reply, "servers"), *it;
	struct vpnctl_server *s;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!json_is_array(arr))
		return PV_EINVAL;
	s = calloc(json_array_size(arr) + 1, sizeof(*s));
	if (!s)
		return PV_ENOMEM;
	json_array_foreach(arr, i, it)
	{
		const char *id, *loc = NULL, *reg = NULL, *tier = NULL, *host, *st = NULL,
		                *key = NULL;
		json_int_t port = 51820, load = -1, cap = -1;

		if (json_unpack(it, "{s:s, s?:s, s?:s, s?:s, s:s, s?:I, s?:s, s?:I, s?:I, s?:s}",
		                "id", &id, "location", &loc, "region", &reg, "tier", &tier, "host",
		                &host, "port", &port, "status", &st, "load", &load, "capacity",
		                &cap, "public_key", &key) < 0 ||
		    (key && *key && !pv_key_is_valid_base64(key)) ||
		    copy_str(s[i].public_key, sizeof(s[i].public_key), key) < 0 ||
		    copy_str(s[i].id, sizeof(s[i].id), id) < 0 ||
		    copy_str(s[i].location, sizeof(s[i].location), loc) < 0 ||
		    copy_str(s[i].region, sizeof(s[i].region), reg) < 0 ||
		    copy_str(s[i].tier, sizeof(s[i].tier), tier) < 0 ||
		    copy_str(s[i].host, sizeof(s[i].host), host) < 0 ||
		    copy_str(s[i].status, sizeof(s[i].status), st ? st : "unknown") < 0 ||
		    port < 1 || port > 65535) {
			free(s);
			return PV_EINVAL;
		}
		s[i].port = (unsigned)port;
		s[i].load = (long)load;
		s[i].capacity = (long)cap;
	}
	*out = s;
	*n = json_array_size(arr);
	return 0;
}

int vpnctl_api_exit(int r)
{
	switch (r) {
	case PV_EUNREACH:
		return VX_NETWORK;
	case PV_EAUTH:
		return VX_AUTH;
	case PV_ETIER:
	case PV_EFULL:
	case PV_EEXIST:
		return VX_REFUSED;
	case PV_ENOTFOUND:
	case PV_EINVAL:
		return VX_USAGE;
	}
	return VX_NETWORK;
}

int vpnctl_api_fail(int r, const struct vpnctl_api_error *e, const char *what)
{
	/* Two refusals share their class with others but need their own advice. */
	if (strcmp(e->code, "quota_exceeded") == 0) {
		vpnctl_err("%s: %s.\n  Your account has as many devices as its tier allows: "
		           "`vpnctl revoke` one of them first.",
		           what, e->msg);
		return VX_REFUSED;
	}
	if (strcmp(e->code, "draining") == 0) {
		vpnctl_err("%s: %s.\n  The server is being taken out of service: pick another one "
		           "(`vpnctl servers`), or run `vpnctl connect` without a name.",
		           what, e->msg);
		return VX_REFUSED;
	}
	if (strcmp(e->code, "rate_limited") == 0) {
		vpnctl_err("%s: %s.\n  Too many failed attempts came from this address; wait, then "
		           "check the key (`vpnctl login`).",
		           what, e->msg);
		return VX_AUTH;
	}
	switch (r) {
	case PV_EUNREACH:
		vpnctl_err("%s: cannot reach the controller: %s\n  Check the URL (vpnctl login "
		           "--api URL), the network, and --cacert if it uses a private CA.",
		           what, e->msg);
		break;
	case PV_EAUTH:
		vpnctl_err("%s: the controller refused the API key (%s).\n  Run `vpnctl login` "
		           "with a current key from the portal.",
		           what, e->msg);
		break;
	case PV_ETIER:
		vpnctl_err("%s: %s.\n  That server is not in your tier: pick one from `vpnctl "
		           "servers`, or upgrade.",
		           what, e->msg);
		break;
	case PV_EFULL:
		vpnctl_err("%s: %s.\n  The server is full: try another one (`vpnctl servers`), or "
		           "run `vpnctl connect` without a name.",
		           what, e->msg);
		break;
	case PV_ENOTFOUND:
		vpnctl_err("%s: %s.\n  See `vpnctl servers` for the names.", what, e->msg);
		break;
	case PV_EEXIST:
		vpnctl_err("%s: %s.\n  Another peer holds this key or a change is in progress: "
		           "try again, or `vpnctl revoke` first.",
		           what, e->msg);
		break;
	case PV_EINVAL:
		vpnctl_err("%s: the controller rejected the request: %s", what, e->msg);
		break;
	default:
		vpnctl_err("%s: the controller failed: %s%s%s\n  Try again later; if it persists, "
		           "tell your administrator.",
		           what, e->msg, e->code[0] ? " / " : "", e->code);
	}
	return vpnctl_api_exit(r);
}
