/* SPDX-License-Identifier: MIT */
/* Fuzz the fleet-file parser: any input must be refused cleanly or give a self-consistent fleet. */
#include <stdint.h>
#include <string.h>

#include "pv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pv_fleet *fleet = NULL;
	char err[256];
	size_t i;

	if (pv_fleet_parse(&fleet, (const char *)data, size, "fuzz", err, sizeof(err)) != 0) {
		if (fleet || !err[0])
			__builtin_trap();
		return 0;
	}
	for (i = 0; i < fleet->n; i++)
		if (pv_fleet_find(fleet, fleet->servers[i].id) != &fleet->servers[i] ||
		    fleet->servers[i].tier == PV_TIER_NONE || fleet->servers[i].ifaces[0].port == 0)
			__builtin_trap();
	pv_fleet_free(fleet);
	return 0;
}
