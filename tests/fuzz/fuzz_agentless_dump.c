/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the remote dump (agentless/dump.c: the one `wg show
 * dump` parser of common/ plus the wg0.conf listing): any
 * bytes must parse or be refused, never crash, leak or read out of bounds.
 * Built and run by tests/fuzz/run.sh; seeds in corpus/fuzz_agentless_dump/.
 */
#include <stddef.h>
#include <stdint.h>

#include "agentless_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agentless_dump *d = NULL;
	char err[256];

	if (al_dump_parse(&d, (const char *)data, size, err, sizeof(err)) == 0)
		agentless_dump_free(d);
	return 0;
}
