/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for request bodies (controller/body.c) with the
 * provision route's whitelist: any bytes must give 0 or PV_EINVAL with a
 * message, and accepted arguments must satisfy their rules.  Built and run by
 * tests/fuzz/run.sh.
 */
#include <stdlib.h>
#include <string.h>

#include "controller.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned allowed = CTL_ARG_SERVER | CTL_ARG_DEVICE | CTL_ARG_PUBKEY;
	struct ctl_args a;
	char err[256] = "";
	int r = ctl_args_parse(&a, (const char *)data, size, allowed, CTL_ARG_SERVER, err,
	                       sizeof(err));

	if (r != 0 && (r != PV_EINVAL || !err[0]))
		abort();
	if (r == 0 && (!(a.set & CTL_ARG_SERVER) || (a.set & ~allowed) ||
	               ((a.set & CTL_ARG_PUBKEY) && !pv_key_is_valid_base64(a.public_key))))
		abort();
	return 0;
}
