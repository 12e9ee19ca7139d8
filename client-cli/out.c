/* SPDX-License-Identifier: MIT */
/* vpnctl's stderr: errors ("vpnctl: ...") and progress lines while it works. */
#include <stdarg.h>
#include <stdio.h>

#include "vpnctl.h"

void vpnctl_err(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	/* The analyzer loses va_start's state when run over many files at once. */
	vsnprintf(msg, sizeof(msg), fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized) */
	va_end(ap);
	fprintf(stderr, "vpnctl: %s\n", msg);
}

void vpnctl_progress(const struct vpnctl_args *args, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	/* Progress goes to stderr so stdout stays parseable; --json keeps stderr for errors. */
	if (args->json)
		return;
	va_start(ap, fmt);
	/* The analyzer loses va_start's state when run over many files at once. */
	vsnprintf(msg, sizeof(msg), fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized) */
	va_end(ap);
	fprintf(stderr, "%s\n", msg);
}

int vpnctl_print_json(json_t *j)
{
	int r = j && json_dumpf(j, stdout, JSON_INDENT(2)) == 0 ? VX_OK : VX_LOCAL;

	/* Flushed at once: `connect --watch` prints one result per switch and lives on. */
	if (r == VX_OK && (putchar('\n') == EOF || fflush(stdout) != 0))
		r = VX_LOCAL;
	else if (r != VX_OK)
		vpnctl_err("cannot format the JSON output (out of memory)");
	json_decref(j);
	return r;
}
