/* SPDX-License-Identifier: MIT */
/*
 * Sealed PSKs: every peer's preshared key is kept encrypted with AES-256-GCM
 * under the controller's state key, with the row's identity (server, peer
 * name, public key) as associated data, so a sealed PSK copied onto another
 * row does not open.  Keeping the PSK is what lets the reconcile put a lost
 * peer back byte-identical; sealing it keeps a stolen database file from
 * handing out working tunnels.  Layout: 12-byte random nonce, 32-byte
 * ciphertext, 16-byte tag.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "pv.h"

#define NONCE_LEN 12
#define TAG_LEN   16

int pv_state_key_load(uint8_t key[PV_KEY_LEN], const char *path, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int r = pv_file_read(&text, &len, path, 256, 1);

	if (r < 0) {
		snprintf(err, errlen, "state key %s: %s%s", path, pv_strerror(r),
		         r == PV_EINVAL ? " (it must be 0600 or stricter, like `wg genpsk >FILE`)"
		                        : "");
		return r;
	}
	if (len && text[len - 1] == '\n')
		text[--len] = '\0';
	if ((r = pv_key_from_base64(key, text)) < 0)
		snprintf(err, errlen,
		         "state key %s: want 32 bytes in base64 (44 characters, as "
		         "`wg genpsk` prints)",
		         path);
	OPENSSL_clear_free(text, len + 1);
	return r;
}

int pv_seal(uint8_t out[PV_SEALED_LEN], const uint8_t key[PV_KEY_LEN],
            const uint8_t psk[PV_KEY_LEN], const void *aad, size_t aadlen)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, r = PV_ECRYPTO;

	if (!c || RAND_bytes(out, NONCE_LEN) != 1 ||
	    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, out) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &n, aad, (int)aadlen) != 1 ||
	    EVP_EncryptUpdate(c, out + NONCE_LEN, &n, psk, PV_KEY_LEN) != 1 || n != PV_KEY_LEN ||
	    EVP_EncryptFinal_ex(c, out + NONCE_LEN + n, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + NONCE_LEN + PV_KEY_LEN) !=
	            1)
		goto out;
	r = 0;
out:
	EVP_CIPHER_CTX_free(c);
	return r;
}

int pv_unseal(uint8_t psk[PV_KEY_LEN], const uint8_t key[PV_KEY_LEN],
              const uint8_t in[PV_SEALED_LEN], const void *aad, size_t aadlen)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t tag[TAG_LEN], tail[TAG_LEN]; /* GCM's final block writes nothing */
	int n = 0, r = PV_ECRYPTO;

	memcpy(tag, in + NONCE_LEN + PV_KEY_LEN, TAG_LEN);
	if (!c || EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, in) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &n, aad, (int)aadlen) != 1 ||
	    EVP_DecryptUpdate(c, psk, &n, in + NONCE_LEN, PV_KEY_LEN) != 1 || n != PV_KEY_LEN ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
		goto out;
	/* A wrong key, a tampered blob or another row's blob all fail here. */
	if (EVP_DecryptFinal_ex(c, tail, &n) != 1)
		goto out;
	r = 0;
out:
	if (r < 0)
		OPENSSL_cleanse(psk, PV_KEY_LEN);
	EVP_CIPHER_CTX_free(c);
	return r;
}
