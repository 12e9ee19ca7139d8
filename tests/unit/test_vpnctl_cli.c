/* SPDX-License-Identifier: MIT */
/*
 * The man page and the bash completion say what --help says: for every
 * command, the options listed by `vpnctl COMMAND --help` (the built binary)
 * are exactly those of its completion line and of its man page entry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "vpnctl.h"

static const char *const commands[] = {"login",  "servers", "connect", "disconnect",
                                       "status", "revoke",  "rotate",  "set"};

/* Output of `vpnctl ARGS` (a new string), or a test failure. */
static char *run(const char *args)
{
	const char *build = getenv("PV_BUILD");
	char cmd[512], *out = NULL;
	size_t cap = 0, len;
	FILE *p, *m;
	int c;

	snprintf(cmd, sizeof(cmd), "%s/client-cli/vpnctl %s", build ? build : "build", args);
	p = popen(cmd, "r");
	m = open_memstream(&out, &cap);
	if (!p || !m)
		TEST_FAIL("cannot run %s", cmd);
	while ((c = fgetc(p)) != EOF)
		fputc(c, m);
	if (pclose(p) != 0)
		TEST_FAIL("%s failed", cmd);
	fclose(m);
	len = strlen(out);
	if (len == 0)
		TEST_FAIL("%s printed nothing", cmd);
	return out;
}

/* The "--name" words of text from start up to the end of its line, sorted, space-joined. */
static void option_words(char *dst, size_t len, const char *start, const char *dash)
{
	char words[64][32];
	size_t n = 0, i, j;
	const char *p = start, *eol = strchr(start, '\n');

	if (!eol)
		eol = start + strlen(start);
	while ((p = strstr(p, dash)) && p < eol && n < 64) {
		size_t k = 0;

		p += strlen(dash);
		while ((p[k] >= 'a' && p[k] <= 'z') || p[k] == '-' ||
		       (p[k] == '\\' && p[k + 1] == '-'))
			k += p[k] == '\\' ? 2 : 1;
		for (j = 0, i = 0; i < k && j + 1 < sizeof(words[n]); i++)
			if (p[i] != '\\') /* roff's "\-" is a plain hyphen */
				words[n][j++] = p[i];
		words[n][j] = '\0';
		n++;
		p += k;
	}
	for (i = 0; i < n; i++) /* insertion sort: a few words */
		for (j = i; j > 0 && strcmp(words[j - 1], words[j]) > 0; j--) {
			char t[32];

			memcpy(t, words[j], sizeof(t));
			memcpy(words[j], words[j - 1], sizeof(t));
			memcpy(words[j - 1], t, sizeof(t));
		}
	dst[0] = '\0';
	for (i = 0; i < n; i++)
		if (strcmp(words[i], "help") != 0 && (!i || strcmp(words[i], words[i - 1]) != 0))
			snprintf(dst + strlen(dst), len - strlen(dst), "%s ", words[i]);
}

/* --help lists one option per line after "Options:": collect them onto one line. */
static void help_words(char *dst, size_t len, const char *help)
{
	char joined[2048] = "";
	const char *p = strstr(help, "Options:");

	while (p && (p = strstr(p, "\n  --"))) {
		snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), " --%.*s",
		         (int)strcspn(p + 5, " \n"), p + 5);
		p += 5;
	}
	option_words(dst, len, joined, "--");
}

static void test_docs_match_help(void)
{
	char *man = run("--man"), *comp = run("--completion bash");
	size_t i;

	TEST_START(
	        "each command's options are the same in --help, the man page and the completion");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char arg[64], key[64], want[512], got_comp[512], got_man[512], *help;
		const char *c, *m;

		snprintf(arg, sizeof(arg), "%s --help", commands[i]);
		help = run(arg);
		help_words(want, sizeof(want), help);
		snprintf(key, sizeof(key), "\t\t\"%s\"\\ *) words=", commands[i]);
		c = strstr(comp, key);
		snprintf(key, sizeof(key), "\\fB%s\\fR", commands[i]);
		m = strstr(man, key);
		if (!c || !m)
			TEST_FAIL("%s missing from the completion or the man page", commands[i]);
		option_words(got_comp, sizeof(got_comp), c, "--");
		m = strstr(m, "Options:");
		ASSERT_TRUE(m != NULL);
		option_words(got_man, sizeof(got_man), m, "\\-\\-");
		if (strcmp(want, got_comp) != 0 || strcmp(want, got_man) != 0)
			TEST_FAIL("%s: --help [%s], completion [%s], man [%s]", commands[i], want,
			          got_comp, got_man);
		free(help);
	}
	ASSERT_STR_CONTAINS(man, ".TH");
	ASSERT_STR_CONTAINS(comp, "complete -F _vpnctl vpnctl");
	free(man);
	free(comp);
	TEST_DONE();
}

int main(void)
{
	test_docs_match_help();
	TEST_SUMMARY();
}
