/* SPDX-License-Identifier: MIT */
/*
 * API keys and the admin token.  Keys are the seed's "userid_tier_sig" with
 * sig = first 16 hex digits of HMAC-SHA256(secret, "userid:tier"), so keys a
 * portal already makes with the seed's Python snippet keep working.  A user
 * whose key generation was bumped (rotate-key, disable, tier change) gets
 * "userid_tier_sig-GEN" with sig over "userid:tier:GEN": still three parts
 * split on '_', and the generation 0 key is exactly the seed's.  Every
 * comparison of secret material is constant-time (CRYPTO_memcmp), and both
 * the current and the previous secret are tried, always both.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "controller.h"

#define SECRETS_MAX     4096
#define ADMIN_TOKEN_MIN 16
#define GEN_DIGITS_MAX  10 /* CTL_KEY_GEN_MAX */
#define KEY_MAX         (CTL_USER_MAX + 1 + 5 + 1 + CTL_SIG_HEX + 1 + GEN_DIGITS_MAX)

static char *dup_line(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static void free_secret(char *s)
{
	if (s)
		OPENSSL_clear_free(s, strlen(s) + 1);
}

/* Split a secret file into at most two non-empty lines. */
static int split_lines(const char *buf, size_t len, char **first, char **second)
{
	const char *nl = memchr(buf, '\n', len);
	size_t n1 = nl ? (size_t)(nl - buf) : len;
	const char *rest = nl ? nl + 1 : buf + len;
	size_t n2 = (size_t)(buf + len - rest);

	if (n2 && rest[n2 - 1] == '\n')
		n2--;
	if (n1 == 0 || memchr(rest, '\n', n2) || memchr(buf, '\0', len))
		return PV_EINVAL;
	*first = dup_line(buf, n1);
	*second = n2 ? dup_line(rest, n2) : NULL;
	if (!*first || (n2 && !*second)) {
		free_secret(*first);
		free_secret(*second);
		*first = *second = NULL;
		return PV_ENOMEM;
	}
	return 0;
}

static int read_secret_file(char **buf, size_t *len, const char *path, const char *what, char *err,
                            size_t errlen)
{
	int r = pv_file_read(buf, len, path, SECRETS_MAX, 1);

	if (r == PV_EINVAL)
		ctl_errf(err, errlen,
		         "%s %s: must be a regular file of mode 0600 (or stricter), under %d bytes",
		         what, path, SECRETS_MAX);
	else if (r < 0)
		ctl_errf(err, errlen, "%s %s: cannot read: %s", what, path, pv_strerror(r));
	return r;
}

int ctl_secrets_load(struct ctl_secrets *s, const char *path, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len;
	int r;

	s->current = s->previous = NULL;
	if ((r = read_secret_file(&buf, &len, path, "secrets_file", err, errlen)) < 0)
		return r;
	r = split_lines(buf, len, &s->current, &s->previous);
	if (r == PV_EINVAL)
		ctl_errf(
		        err, errlen,
		        "secrets_file %s: expected the current secret on line 1 and optionally the previous on line 2",
		        path);
	OPENSSL_clear_free(buf, len + 1);
	return r;
}

void ctl_secrets_clear(struct ctl_secrets *s)
{
	free_secret(s->current);
	free_secret(s->previous);
	s->current = s->previous = NULL;
}

int ctl_admin_token_load(char **out, const char *path, char *err, size_t errlen)
{
	char *buf = NULL, *token = NULL, *extra = NULL;
	size_t len;
	int r;

	*out = NULL;
	if ((r = read_secret_file(&buf, &len, path, "admin_token_file", err, errlen)) < 0)
		return r;
	r = split_lines(buf, len, &token, &extra);
	if (r == 0 && (extra || strlen(token) < ADMIN_TOKEN_MIN))
		r = PV_EINVAL;
	if (r == PV_EINVAL)
		ctl_errf(err, errlen,
		         "admin_token_file %s: expected one line of at least %d characters", path,
		         ADMIN_TOKEN_MIN);
	OPENSSL_clear_free(buf, len + 1);
	free_secret(extra);
	if (r < 0) {
		free_secret(token);
		return r;
	}
	*out = token;
	return 0;
}

int ctl_key_sign(char sig[CTL_SIG_HEX + 1], const char *secret, const char *user, const char *tier,
                 unsigned gen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char msg[CTL_USER_MAX + 1 + 16 + 1 + GEN_DIGITS_MAX];
	int n, i;

	if (gen > CTL_KEY_GEN_MAX)
		return PV_EINVAL;
	/* Generation 0 signs exactly what the seed's snippet signs. */
	if (gen == 0)
		n = snprintf(msg, sizeof(msg), "%s:%s", user, tier);
	else
		n = snprintf(msg, sizeof(msg), "%s:%s:%u", user, tier, gen);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return PV_EINVAL;
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, (size_t)n,
	          mac, &maclen))
		return PV_ECRYPTO;
	for (i = 0; i < CTL_SIG_HEX / 2; i++) {
		sig[(size_t)i * 2] = hex[mac[i] >> 4];
		sig[(size_t)i * 2 + 1] = hex[mac[i] & 15];
	}
	sig[CTL_SIG_HEX] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

int ctl_key_make(char *out, size_t outlen, const char *secret, const char *user, enum pv_tier tier,
                 unsigned gen)
{
	char sig[CTL_SIG_HEX + 1];
	const char *t = pv_tier_name(tier);
	int r, n;

	if (!pv_user_id_is_valid(user) || tier == PV_TIER_NONE)
		return PV_EINVAL;
	if ((r = ctl_key_sign(sig, secret, user, t, gen)) < 0)
		return r;
	if (gen == 0)
		n = snprintf(out, outlen, "%s_%s_%s", user, t, sig);
	else
		n = snprintf(out, outlen, "%s_%s_%s-%u", user, t, sig, gen);
	OPENSSL_cleanse(sig, sizeof(sig));
	return n < 0 || (size_t)n >= outlen ? PV_EINVAL : 0;
}

/*
 * The third part of a key: 16 hex digits, optionally "-GEN" with GEN a
 * decimal in 1..CTL_KEY_GEN_MAX without leading zeros (one spelling per key).
 */
static int sig_part_parse(const char *part, unsigned *gen)
{
	const char *g;
	unsigned long v;
	char *end;

	*gen = 0;
	if (strspn(part, "0123456789abcdef") != CTL_SIG_HEX)
		return PV_EAUTH;
	if (part[CTL_SIG_HEX] == '\0')
		return 0;
	g = part + CTL_SIG_HEX + 1;
	if (part[CTL_SIG_HEX] != '-' || *g < '1' || *g > '9' ||
	    strspn(g, "0123456789") != strlen(g) || strlen(g) > GEN_DIGITS_MAX)
		return PV_EAUTH;
	v = strtoul(g, &end, 10);
	if (*end || v > CTL_KEY_GEN_MAX)
		return PV_EAUTH;
	*gen = (unsigned)v;
	return 0;
}

/* 1 if sig matches the signature under secret (constant time); secret may be NULL. */
static int sig_matches(const char *secret, const char *user, const char *tier, unsigned gen,
                       const char *sig)
{
	char want[CTL_SIG_HEX + 1];
	int ok;

	if (!secret || ctl_key_sign(want, secret, user, tier, gen) < 0)
		return 0;
	ok = CRYPTO_memcmp(want, sig, CTL_SIG_HEX) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

int ctl_key_verify(const struct ctl_secrets *s, const char *key, char *user, enum pv_tier *tier,
                   unsigned *gen)
{
	char buf[KEY_MAX + 1];
	char *u, *t, *sig;
	enum pv_tier parsed;
	unsigned g;
	size_t len;
	int ok;

	if (!key || (len = strnlen(key, KEY_MAX + 1)) > KEY_MAX)
		return PV_EAUTH;
	memcpy(buf, key, len + 1);
	/* Exactly three parts: the seed splits on '_' and unpacks three. */
	u = buf;
	t = strchr(u, '_');
	if (!t)
		return PV_EAUTH;
	*t++ = '\0';
	sig = strchr(t, '_');
	if (!sig)
		return PV_EAUTH;
	*sig++ = '\0';
	if (strchr(sig, '_') || sig_part_parse(sig, &g) < 0 || !pv_user_id_is_valid(u))
		return PV_EAUTH;
	parsed = pv_tier_parse(t);
	if (parsed == PV_TIER_NONE)
		return PV_EAUTH;
	/* Evaluate both secrets every time so timing does not tell which matched. */
	ok = sig_matches(s->current, u, t, g, sig);
	ok |= sig_matches(s->previous, u, t, g, sig);
	if (ok)
		memcpy(user, u, strlen(u) + 1);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (!ok)
		return PV_EAUTH;
	*tier = parsed;
	*gen = g;
	return 0;
}

int ctl_admin_verify(const char *token, const char *header)
{
	unsigned char want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];
	static const char prefix[] = "Bearer ";
	int ok;

	if (!token || !header || strncmp(header, prefix, sizeof(prefix) - 1) != 0)
		return PV_EAUTH;
	header += sizeof(prefix) - 1;
	/* Compare digests so neither the length nor the content leaks through timing. */
	SHA256((const unsigned char *)token, strlen(token), want);
	SHA256((const unsigned char *)header, strlen(header), got);
	ok = CRYPTO_memcmp(want, got, sizeof(want)) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	OPENSSL_cleanse(want, sizeof(want));
	return ok ? 0 : PV_EAUTH;
}
