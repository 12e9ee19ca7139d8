/* SPDX-License-Identifier: MIT */
/*
 * Host-key pinning: the server's key must already be in the controller's
 * known_hosts (OpenSSH format, hashed entries fine, "[host]:port" for ports
 * other than 22) or be the key pinned in its fleet entry (ssh.host_key: the
 * servers an operator added at runtime).  Unknown or changed keys refuse the
 * connection; there is no trust-on-first-use in the push path.
 */
#include <stdio.h>
#include <string.h>

#include <libssh2.h>
#include <openssl/evp.h>

#include "agentless_int.h"

/* "SHA256:<base64 without padding>" of a key blob, like ssh-keygen -l. */
static void al_hostkey_fingerprint(char out[64], const unsigned char *key, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	unsigned char b64[64];
	int n;

	snprintf(out, 64, "SHA256:?");
	if (!EVP_Digest(key, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return;
	n = EVP_EncodeBlock(b64, md, (int)mdlen);
	while (n > 0 && b64[n - 1] == '=') /* OpenSSH prints it unpadded */
		n--;
	snprintf(out, 64, "SHA256:%.*s", n, (const char *)b64);
}

int agentless_hostkey_fingerprint(const char *key, char out[64])
{
	unsigned char blob[PV_HOSTKEY_BLOB_LEN];

	if (!pv_hostkey_parse(key, blob))
		return PV_EINVAL;
	al_hostkey_fingerprint(out, blob, sizeof(blob));
	return 0;
}

/* The decoded blob of a known_hosts key (base64, maybe padded) into blob[cap]; its length or -1. */
static int key_blob(const char *b64, unsigned char *blob, size_t cap)
{
	size_t len = strlen(b64), pad = 0;
	int n;

	if (len == 0 || len % 4 || len / 4 * 3 > cap)
		return -1;
	while (pad < 2 && b64[len - 1 - pad] == '=')
		pad++;
	n = EVP_DecodeBlock(blob, (const unsigned char *)b64, (int)len);
	return n < 0 ? -1 : n - (int)pad;
}

/*
 * Whether known_hosts entry h is srv's: libssh2 hides hashed names
 * (|1|salt|hash), so ask it instead whether srv's host and port would accept
 * the entry's own key; that one question covers plain and hashed entries.
 */
static int entry_is_srv(LIBSSH2_KNOWNHOSTS *kh, const struct libssh2_knownhost *h,
                        const struct pv_server *srv, const unsigned char *blob, size_t len)
{
	int type = h->typemask & LIBSSH2_KNOWNHOST_KEY_MASK;

	return libssh2_knownhost_checkp(kh, srv->ssh_host, srv->ssh_port, (const char *)blob, len,
	                                LIBSSH2_KNOWNHOST_TYPE_PLAIN |
	                                        LIBSSH2_KNOWNHOST_KEYENC_RAW | type,
	                                NULL) == LIBSSH2_KNOWNHOST_CHECK_MATCH;
}

int agentless_known_fingerprint(const char *known_hosts, const struct pv_server *srv, char out[64])
{
	LIBSSH2_SESSION *s = libssh2_session_init();
	LIBSSH2_KNOWNHOSTS *kh = s ? libssh2_knownhost_init(s) : NULL;
	struct libssh2_knownhost *h = NULL;
	unsigned char blob[2048];
	int n, r = PV_ENOTFOUND;

	if (!kh ||
	    libssh2_knownhost_readfile(kh, known_hosts, LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
		r = kh ? PV_EIO : PV_ENOMEM;
		goto out;
	}
	while (libssh2_knownhost_get(kh, &h, h) == 0) {
		if (!h->key || (n = key_blob(h->key, blob, sizeof(blob))) <= 0 ||
		    !entry_is_srv(kh, h, srv, blob, (size_t)n))
			continue;
		al_hostkey_fingerprint(out, blob, (size_t)n);
		r = 0;
		break;
	}
out:
	if (kh)
		libssh2_knownhost_free(kh);
	if (s)
		libssh2_session_free(s);
	return r;
}

/* Add the fleet entry's pinned key to kh as a known_hosts line for its host and port. */
static int add_pinned(LIBSSH2_KNOWNHOSTS *kh, const struct pv_server *srv)
{
	char line[PV_HOSTKEY_MAX + 96];
	int n;

	if (srv->ssh_port == 22)
		n = snprintf(line, sizeof(line), "%s %s", srv->ssh_host, srv->ssh_hostkey);
	else
		n = snprintf(line, sizeof(line), "[%s]:%u %s", srv->ssh_host,
		             (unsigned)srv->ssh_port, srv->ssh_hostkey);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	return libssh2_knownhost_readline(kh, line, (size_t)n, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
}

static int knownhost_type(int hostkey_type)
{
	switch (hostkey_type) {
	case LIBSSH2_HOSTKEY_TYPE_ED25519:
		return LIBSSH2_KNOWNHOST_KEY_ED25519;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
	case LIBSSH2_HOSTKEY_TYPE_RSA:
		return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
	default:
		return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
	}
}

int al_hostkey_check(void *ssh, const struct pv_server *srv, const char *known_hosts, char *detail,
                     size_t detail_len)
{
	LIBSSH2_SESSION *s = ssh;
	LIBSSH2_KNOWNHOSTS *kh = NULL;
	struct libssh2_knownhost *host = NULL;
	const char *key;
	char fp[64];
	size_t len = 0;
	int type = 0, check, r = PV_EHOSTKEY;

	key = libssh2_session_hostkey(s, &len, &type);
	if (!key) {
		snprintf(detail, detail_len, "server %s: no host key offered", srv->id);
		goto out;
	}
	al_hostkey_fingerprint(fp, (const unsigned char *)key, len);
	kh = libssh2_knownhost_init(s);
	if (!kh ||
	    libssh2_knownhost_readfile(kh, known_hosts, LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
		snprintf(detail, detail_len, "server %s: cannot read known_hosts file %s", srv->id,
		         known_hosts);
		r = PV_EIO;
		goto out;
	}
	if (srv->ssh_hostkey[0] && add_pinned(kh, srv) < 0) {
		snprintf(detail, detail_len, "server %s: cannot use its pinned host key", srv->id);
		goto out;
	}
	check = libssh2_knownhost_checkp(
	        kh, srv->ssh_host, srv->ssh_port, key, len,
	        LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | knownhost_type(type),
	        &host);
	if (check == LIBSSH2_KNOWNHOST_CHECK_MATCH) {
		r = 0;
	} else if (check == LIBSSH2_KNOWNHOST_CHECK_MISMATCH ||
	           check == LIBSSH2_KNOWNHOST_CHECK_NOTFOUND) {
		snprintf(detail, detail_len,
		         "server %s (%s port %u): %s %s %s %s; refusing to push%s", srv->id,
		         srv->ssh_host, (unsigned)srv->ssh_port,
		         check == LIBSSH2_KNOWNHOST_CHECK_MISMATCH ? "HOST KEY CHANGED: offered"
		                                                   : "host key",
		         fp,
		         check == LIBSSH2_KNOWNHOST_CHECK_MISMATCH ? "does not match" : "is not in",
		         srv->ssh_hostkey[0] ? "the pinned ssh.host_key or known_hosts"
		                             : known_hosts,
		         check == LIBSSH2_KNOWNHOST_CHECK_NOTFOUND ? " (no trust on first use)"
		                                                   : "");
	} else {
		snprintf(detail, detail_len, "server %s: host key %s could not be checked", srv->id,
		         fp);
	}
out:
	if (kh)
		libssh2_knownhost_free(kh);
	return r;
}
