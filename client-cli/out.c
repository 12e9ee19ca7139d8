/* SPDX-License-Identifier: MIT */
/* Output of both tools: errors ("vpnctl: ...") and progress on stderr, JSON and tables on stdout.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vpnctl.h"

void vpnctl_err(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	/* The analyzer loses va_start's state when run over many files at once. */
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", cli_program, msg);
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
	vsnprintf(msg, sizeof(msg), fmt, ap);
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

/*
 * One cell padded to width characters: UTF-8 ("São Paulo") counts by
 * character, and a colour escape ("\033[32m") counts for nothing.
 */
static void print_cell(const char *text, int width)
{
	int chars = 0;
	const char *p;

	for (p = text; *p; p++) {
		if (*p == '\033') {
			p += strcspn(p, "m");
			if (!*p)
				break;
			continue;
		}
		chars += ((unsigned char)*p & 0xc0) != 0x80;
	}
	fputs(text, stdout);
	for (; chars <= width; chars++)
		putchar(' ');
}

void cli_table_row(const char *const *cells, const int *widths, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i++)
		print_cell(cells[i], widths[i]);
	printf("%s\n", n ? cells[n - 1] : "");
}

void cli_human_bytes(char *buf, size_t len, uint64_t n)
{
	static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}
