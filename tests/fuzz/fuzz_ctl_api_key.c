/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the API-key parser (controller/auth.c): any header
 * value must be refused or accepted without a crash, and an accepted key
 * must name a valid user id and a real tier.  Built and run by
 * tests/fuzz/run.sh.
 */
#include <stdlib.h>
#include <string.h>

#include "controller.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct ctl_secrets s = {"fuzz-current", "fuzz-previous"};
	char user[CTL_USER_MAX + 1];
	enum pv_tier tier;
	unsigned gen;
	char *key = malloc(size + 1);

	if (!key)
		return 0;
	memcpy(key, data, size);
	key[size] = '\0';
	if (ctl_key_verify(&s, key, user, &tier, &gen) == 0 &&
	    (!pv_user_id_is_valid(user) || tier == PV_TIER_NONE || gen > CTL_KEY_GEN_MAX))
		abort();
	ctl_admin_verify("fuzz-admin-token-0123", key);
	free(key);
	return 0;
}
