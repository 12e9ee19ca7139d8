/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for a remote edit's answer (agentless/remote.c,
 * al_batch_parse: the per-op result lines, live-apply lines and the final
 * counters of removed peers): any bytes must parse or be refused, never
 * crash, leak or read out of bounds.  The first byte picks the batch's op
 * count (0..15).  Built and run by tests/fuzz/run.sh; seeds in
 * corpus/fuzz_agentless_batch/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentless_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct al_op_result res[16];
	size_t n;
	char *out;

	if (size < 1)
		return 0;
	n = data[0] % 16;
	/* The pool hands the parser a NUL-terminated answer. */
	if (!(out = malloc(size)))
		return 0;
	memcpy(out, data + 1, size - 1);
	out[size - 1] = '\0';
	memset(res, 0, sizeof(res));
	al_batch_parse(out, "stderr", n, res);
	free(out);
	return 0;
}
