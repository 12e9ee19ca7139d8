/* SPDX-License-Identifier: MIT */
/*
 * Man pages in roff, for the tools' `--man` mode: each tool prints its page
 * from the same tables its --help reads, so the two cannot drift.  This file
 * only knows roff (escaping and the few macros the pages use).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "pv.h"

/* n bytes of text, escaped: backslash and hyphen (an option's dash is \-). */
static void put_escaped(FILE *f, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\\')
			fputs("\\e", f);
		else if (s[i] == '-')
			fputs("\\-", f);
		else
			fputc(s[i], f);
	}
}

/* Every line of s (split at '\n'), escaped. */
static void put_lines(FILE *f, const char *s)
{
	while (*s) {
		size_t n = strcspn(s, "\n");

		/* A line starting with . or ' would be a request: \& makes it text. */
		if (s[0] == '.' || s[0] == '\'')
			fputs("\\&", f);
		put_escaped(f, s, n);
		fputc('\n', f);
		s += n;
		if (*s == '\n')
			s++;
	}
}

void pv_man_begin(FILE *f, const char *name, const char *summary)
{
	size_t i;

	fputs(".TH ", f);
	for (i = 0; name[i]; i++)
		if (name[i] == '-')
			fputs("\\-", f);
		else
			fputc(toupper((unsigned char)name[i]), f);
	fprintf(f, " 1 \"\" \"privatevpn %s\" \"privatevpn manual\"\n.SH NAME\n", PV_VERSION);
	put_escaped(f, name, strlen(name));
	fputs(" \\- ", f);
	put_lines(f, summary);
}

void pv_man_section(FILE *f, const char *title)
{
	fprintf(f, ".SH %s\n", title);
}

void pv_man_text(FILE *f, const char *text)
{
	fputs(".PP\n", f);
	put_lines(f, text);
}

void pv_man_verbatim(FILE *f, const char *text)
{
	fputs(".PP\n.nf\n", f);
	put_lines(f, text);
	fputs(".fi\n", f);
}

void pv_man_item(FILE *f, const char *tag, const char *arg, const char *text)
{
	fputs(".TP\n\\fB", f);
	put_escaped(f, tag, strlen(tag));
	fputs("\\fR", f);
	if (arg) {
		fputs(" \\fI", f);
		put_escaped(f, arg, strlen(arg));
		fputs("\\fR", f);
	}
	fputc('\n', f);
	put_lines(f, text);
}
