/* SPDX-License-Identifier: MIT */
/*
 * WireGuard key material with OpenSSL: canonical base64, X25519 pairs, PSKs.
 * Strict on input because keys end up in a remote wg0.conf: anything that is
 * not exactly what `wg` itself would print is refused.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "pv.h"

static int is_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int pv_key_from_base64(uint8_t key[PV_KEY_LEN], const char *b64)
{
	unsigned char raw[PV_KEY_LEN + 3];
	char again[PV_KEY_B64_LEN + 1];
	int r = PV_EINVAL;
	size_t i;

	if (!b64 || strnlen(b64, PV_KEY_B64_LEN + 1) != PV_KEY_B64_LEN)
		return PV_EINVAL;
	/* 32 bytes encode to 43 symbols and one '='. */
	for (i = 0; i < PV_KEY_B64_LEN - 1; i++)
		if (!is_b64_char(b64[i]))
			return PV_EINVAL;
	if (b64[PV_KEY_B64_LEN - 1] != '=')
		return PV_EINVAL;
	/* EVP_DecodeBlock counts the padding: 33 bytes for a 32-byte key. */
	if (EVP_DecodeBlock(raw, (const unsigned char *)b64, PV_KEY_B64_LEN) != PV_KEY_LEN + 1)
		goto out;
	/* Non-canonical trailing bits decode fine but `wg` refuses them: re-encode. */
	EVP_EncodeBlock((unsigned char *)again, raw, PV_KEY_LEN);
	if (CRYPTO_memcmp(again, b64, PV_KEY_B64_LEN) != 0)
		goto out;
	memcpy(key, raw, PV_KEY_LEN);
	r = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(again, sizeof(again));
	return r;
}

void pv_key_to_base64(char out[PV_KEY_B64_LEN + 1], const uint8_t key[PV_KEY_LEN])
{
	EVP_EncodeBlock((unsigned char *)out, key, PV_KEY_LEN);
}

int pv_key_is_valid_base64(const char *s)
{
	uint8_t k[PV_KEY_LEN];
	int ok = pv_key_from_base64(k, s) == 0;

	OPENSSL_cleanse(k, sizeof(k));
	return ok;
}

int pv_pubkey_from_private(uint8_t pub[PV_KEY_LEN], const uint8_t priv[PV_KEY_LEN])
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, PV_KEY_LEN);
	size_t len = PV_KEY_LEN;
	int r = PV_ECRYPTO;

	if (!pkey)
		return PV_ECRYPTO;
	if (EVP_PKEY_get_raw_public_key(pkey, pub, &len) == 1 && len == PV_KEY_LEN)
		r = 0;
	EVP_PKEY_free(pkey);
	return r;
}

int pv_keypair_generate(uint8_t priv[PV_KEY_LEN], uint8_t pub[PV_KEY_LEN])
{
	int r;

	/* What `wg genkey | wg pubkey` does: a random scalar, clamped, and its point. */
	if (RAND_priv_bytes(priv, PV_KEY_LEN) != 1)
		return PV_ECRYPTO;
	priv[0] &= 248;
	priv[31] = (priv[31] & 127) | 64;
	if ((r = pv_pubkey_from_private(pub, priv)) < 0)
		OPENSSL_cleanse(priv, PV_KEY_LEN);
	return r;
}

int pv_psk_generate(uint8_t psk[PV_KEY_LEN])
{
	return RAND_priv_bytes(psk, PV_KEY_LEN) == 1 ? 0 : PV_ECRYPTO;
}
