/* SPDX-License-Identifier: MIT */
/*
 * The tools' files: the login config ($XDG_CONFIG_HOME/TOOL/config.json) and
 * the wg-quick tunnel file (/etc/wireguard/pvpn0.conf), whose "# vpnctl-*"
 * comment lines remember the server, so config and state change together in
 * one rename.  Both hold secrets: written 0600 from the first instant.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "vpnctl.h"

static int name_is_valid(const char *s, size_t max)
{
	size_t i;

	if (!s || !s[0])
		return 0;
	for (i = 0; s[i]; i++) {
		char c = s[i];

		if (i >= max)
			return 0;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int vpnctl_key_is_valid(const char *key)
{
	return name_is_valid(key, VPNCTL_MAX_KEY_LEN);
}

int vpnctl_token_is_valid(const char *token)
{
	size_t i;

	for (i = 0; token && token[i]; i++)
		if (token[i] <= ' ' || token[i] > '~' || i >= VPNCTL_MAX_KEY_LEN)
			return 0;
	return token && i >= 16;
}

void vpnctl_default_device(char *buf, size_t len)
{
	char host[256] = "";
	size_t i, j = 0;

	if (gethostname(host, sizeof(host) - 1) < 0)
		host[0] = '\0';
	for (i = 0; host[i] && j + 1 < len && j < VPNCTL_MAX_DEVICE_LEN; i++) {
		char c = host[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '-')
			buf[j++] = c;
	}
	buf[j] = '\0';
	if (!j)
		snprintf(buf, len, "default");
}

static int conf_dir(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int n;

	/* The XDG spec says a relative XDG_CONFIG_HOME is invalid and ignored. */
	if (xdg && xdg[0] == '/')
		n = snprintf(buf, len, "%s/%s", xdg, cli_program);
	else if (home && home[0] == '/')
		n = snprintf(buf, len, "%s/.config/%s", home, cli_program);
	else
		return PV_EINVAL;
	return n > 0 && (size_t)n < len ? 0 : PV_EINVAL;
}

int vpnctl_conf_path(char *buf, size_t len)
{
	char dir[PATH_MAX];
	int n;

	if (conf_dir(dir, sizeof(dir)) < 0)
		return PV_EINVAL;
	n = snprintf(buf, len, "%s/config.json", dir);
	return n > 0 && (size_t)n < len ? 0 : PV_EINVAL;
}

/* The config directory must be 0700 (docs/vpnctl.md): others may not even list it. */
static int conf_dir_private(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return errno == ENOENT ? PV_ENOTFOUND : PV_EIO;
	if (S_ISDIR(st.st_mode) && !(st.st_mode & 077))
		return 0;
	snprintf(err, errlen,
	         "config directory %s has mode %04o, wider than 0700 (others could read or "
	         "replace your API key): run chmod 700 %s",
	         dir, (unsigned)(st.st_mode & 07777), dir);
	return PV_EINVAL;
}

void vpnctl_conf_clear(struct vpnctl_conf *c)
{
	if (c->api_key)
		OPENSSL_clear_free(c->api_key, strlen(c->api_key));
	if (c->admin_token)
		OPENSSL_clear_free(c->admin_token, strlen(c->admin_token));
	free(c->api_url);
	free(c->cacert);
	free(c->device);
	memset(c, 0, sizeof(*c));
}

static int dup_field(char **dst, const char *src)
{
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : PV_ENOMEM;
}

int vpnctl_conf_load(struct vpnctl_conf *c, char *err, size_t errlen)
{
	const char *url = NULL, *key = NULL, *token = NULL, *ca = NULL, *dev = NULL;
	char dir[PATH_MAX], path[PATH_MAX], *text = NULL;
	json_error_t je;
	json_t *j = NULL;
	size_t len;
	int r;

	memset(c, 0, sizeof(*c));
	if (conf_dir(dir, sizeof(dir)) < 0 || vpnctl_conf_path(path, sizeof(path)) < 0) {
		snprintf(err, errlen, "neither XDG_CONFIG_HOME nor HOME is an absolute path");
		return PV_EINVAL;
	}
	r = conf_dir_private(dir, err, errlen);
	if (r == PV_EINVAL)
		return r;
	r = pv_file_read(&text, &len, path, (size_t)64 * 1024, 1);
	if (r == PV_ENOTFOUND) {
		snprintf(err, errlen, "not logged in (%s does not exist)", path);
		goto out;
	}
	if (r < 0) {
		snprintf(err, errlen, "%s: unreadable or readable by others (must be 0600)", path);
		goto out;
	}
	r = PV_EINVAL;
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j ||
	    json_unpack_ex(j, &je, 0, "{s:s, s?:s, s?:s, s?:s, s?:s !}", "api_url", &url, "api_key",
	                   &key, "admin_token", &token, "cacert", &ca, "device", &dev) < 0) {
		snprintf(err, errlen, "%s: %s", path, je.text);
		goto out;
	}
	/* Exactly one credential: vpnctl's API key or vpnadm's admin token. */
	if (!key == !token || (key && !vpnctl_key_is_valid(key)) ||
	    (token && !vpnctl_token_is_valid(token)) || (dev && !pv_device_is_valid(dev))) {
		snprintf(err, errlen,
		         "%s: api_key, admin_token or device is malformed; run %s login", path,
		         cli_program);
		goto out;
	}
	if (dup_field(&c->api_url, url) < 0 || dup_field(&c->api_key, key) < 0 ||
	    dup_field(&c->admin_token, token) < 0 || dup_field(&c->cacert, ca) < 0 ||
	    dup_field(&c->device, dev) < 0) {
		r = PV_ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	r = 0;
out:
	if (r < 0)
		vpnctl_conf_clear(c);
	json_decref(j);
	if (text)
		OPENSSL_clear_free(text, len);
	return r;
}

static int mkdir_private(const char *dir)
{
	char tmp[PATH_MAX], *p;

	if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp))
		return PV_EINVAL;
	/* Parents as the user would make them; the last one private. */
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return PV_EIO;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return PV_EIO;
	return 0;
}

int vpnctl_conf_save(const struct vpnctl_conf *c, char *err, size_t errlen)
{
	char dir[PATH_MAX], *text = NULL;
	json_t *j;
	int r = PV_ENOMEM;

	if (conf_dir(dir, sizeof(dir)) < 0) {
		snprintf(err, errlen, "neither XDG_CONFIG_HOME nor HOME is an absolute path");
		return PV_EINVAL;
	}
	j = json_pack("{s:s}", "api_url", c->api_url);
	if (!j)
		goto out;
	if (c->api_key && json_object_set_new(j, "api_key", json_string(c->api_key)) < 0)
		goto out;
	if (c->admin_token &&
	    json_object_set_new(j, "admin_token", json_string(c->admin_token)) < 0)
		goto out;
	if (c->cacert && json_object_set_new(j, "cacert", json_string(c->cacert)) < 0)
		goto out;
	if (c->device && json_object_set_new(j, "device", json_string(c->device)) < 0)
		goto out;
	text = json_dumps(j, JSON_INDENT(2));
	if (!text)
		goto out;
	r = mkdir_private(dir);
	if (r == 0 && (r = conf_dir_private(dir, err, errlen)) == PV_EINVAL)
		goto out;
	if (r == 0)
		r = vpnctl_write_secret_file(dir, "config.json", text, strlen(text));
	if (r < 0)
		snprintf(err, errlen, "cannot write %s/config.json: %s", dir, strerror(errno));
out:
	if (r == PV_ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (text)
		OPENSSL_clear_free(text, strlen(text));
	json_decref(j);
	return r;
}

int vpnctl_write_secret_file(const char *dir, const char *name, const char *data, size_t len)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	mode_t old = umask(077);
	int fd = -1, dfd, r = PV_EINVAL, saved;

	if (snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%ld", dir, name, (long)getpid()) >=
	            (int)sizeof(tmp) ||
	    snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= (int)sizeof(dst))
		goto out;
	r = PV_EIO;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		goto out;
	if (pv_write_all(fd, data, len) < 0 || fsync(fd) < 0)
		goto out_unlink;
	r = close(fd) < 0 ? PV_EIO : 0;
	fd = -1;
	if (r < 0 || rename(tmp, dst) < 0) {
		r = PV_EIO;
		goto out_unlink;
	}
	/* Make the rename itself durable. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	r = 0;
	goto out;
out_unlink:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
out:
	umask(old);
	return r;
}

/* ---- tunnel file ------------------------------------------------------------ */

/* Copy the rest of the line after prefix into dst. */
static void copy_header(char *dst, size_t len, const char *line, size_t prefix)
{
	const char *v = line + prefix;
	size_t n = strcspn(v, "\r\n");

	snprintf(dst, len, "%.*s", (int)n, v);
}

int vpnctl_tunnel_parse(struct vpnctl_tunnel *t, const char *text)
{
	const char *p = text;

	memset(t, 0, sizeof(*t));
	while (p && *p) {
		const char *q = p;

		if (strncmp(p, VPNCTL_HDR_SERVER, strlen(VPNCTL_HDR_SERVER)) == 0)
			copy_header(t->server_id, sizeof(t->server_id), p,
			            strlen(VPNCTL_HDR_SERVER));
		else if (strncmp(p, VPNCTL_HDR_LOCATION, strlen(VPNCTL_HDR_LOCATION)) == 0)
			copy_header(t->location, sizeof(t->location), p,
			            strlen(VPNCTL_HDR_LOCATION));
		else if (strncmp(p, VPNCTL_HDR_DEVICE, strlen(VPNCTL_HDR_DEVICE)) == 0)
			copy_header(t->device, sizeof(t->device), p, strlen(VPNCTL_HDR_DEVICE));
		while (*q == ' ' || *q == '\t')
			q++;
		if (!t->address[0] && strncasecmp(q, "Address", 7) == 0) {
			q += 7;
			q += strspn(q, " \t");
			if (*q == '=')
				copy_header(t->address, sizeof(t->address),
				            q + 1 + strspn(q + 1, " \t"), 0);
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return t->server_id[0] ? 0 : PV_EINVAL;
}

int vpnctl_tunnel_load(struct vpnctl_tunnel *t, const char *dir)
{
	return vpnctl_tunnel_load_iface(t, dir, VPNCTL_IFACE);
}

int vpnctl_tunnel_load_iface(struct vpnctl_tunnel *t, const char *dir, const char *iface)
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	int r;

	memset(t, 0, sizeof(*t));
	if (snprintf(path, sizeof(path), "%s/%s.conf", dir, iface) >= (int)sizeof(path))
		return PV_EINVAL;
	if ((r = pv_file_read(&text, &len, path, (size_t)64 * 1024, 1)) < 0)
		return r;
	r = vpnctl_tunnel_parse(t, text);
	OPENSSL_clear_free(text, len);
	return r;
}

char *cli_secret_from_stdin(void)
{
	char buf[VPNCTL_MAX_KEY_LEN + 3] = "", *secret;
	size_t n;

	if (!fgets(buf, sizeof(buf), stdin))
		return NULL;
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	secret = strdup(buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	return secret;
}

int cli_api_url_set(struct vpnctl_conf *c, const char *url)
{
	size_t n = url ? strlen(url) : 0;

	if (strncmp(url ? url : "", "https://", 8) != 0 || n <= 8 || n >= 512 ||
	    strpbrk(url, " \t\r\n")) {
		vpnctl_err("login: the controller URL must be https://host[:port] (TLS is always "
		           "verified)");
		return VX_USAGE;
	}
	free(c->api_url);
	c->api_url = strdup(url);
	if (!c->api_url)
		return VX_LOCAL;
	/* Drop a trailing slash so "/api/..." paths join cleanly. */
	if (c->api_url[n - 1] == '/')
		c->api_url[n - 1] = '\0';
	return VX_OK;
}

int cli_cacert_set(struct vpnctl_conf *c, const char *path)
{
	char ca[PATH_MAX];

	if (!realpath(path, ca) || access(ca, R_OK) < 0) {
		vpnctl_err("login: --cacert %s: cannot read it", path);
		return VX_USAGE;
	}
	free(c->cacert);
	c->cacert = strdup(ca);
	return c->cacert ? VX_OK : VX_LOCAL;
}
