/* SPDX-License-Identifier: MIT */
/*
 * The command-line runner both client tools share (vpnctl, vpnadm): a tool
 * is a table of commands, each with the options it accepts and a one-line
 * summary; options, --help at every level, --version and the exit code of
 * a usage error all come from here, so the two tools behave alike (after
 * wireguard-tools' src/wg.c and curl's src/tool_getparam.c).  A command
 * name may have two words ("user show"): `TOOL user --help` lists the group.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "vpnctl.h"

const char *cli_program = "vpnctl";

static const struct {
	unsigned id;
	const char *name;
	const char *arg; /* NULL: a flag */
	const char *help;
} options[] = {
        {OPT_JSON, "json", NULL, "machine-readable output on stdout"},
        {OPT_VERBOSE, "verbose", NULL, "more detail (also -v)"},
        {OPT_ALL, "all", NULL, "every server where you have peers"},
        {OPT_DEVICE, "device", "NAME", "device name (default: from login, else the host name)"},
        {OPT_API, "api", "URL", "controller URL, https://host[:port]"},
        {OPT_CACERT, "cacert", "FILE", "CA certificate(s) to verify the controller with"},
        {OPT_TIMEOUT, "timeout", "MS", "per-server latency probe timeout (default 1500)"},
        {OPT_WAIT, "wait", "S", "seconds to wait for the first handshake (default 15)"},
        {OPT_LIMIT, "limit", "N", "one page of at most N entries (1..1000) instead of all"},
        {OPT_CURSOR, "cursor", "ID", "start the page after ID (the previous page's last)"},
        {OPT_EXCLUDE, "exclude", "CIDR",
         "keep CIDR (or an address) outside the tunnel; repeatable"},
        {OPT_INCLUDE, "include", "CIDR", "send only CIDR through the tunnel; repeatable"},
        {OPT_ALLOW_LAN, "allow-lan", NULL, "keep private, link-local and multicast ranges local"},
        {OPT_KILL_SWITCH, "kill-switch", NULL,
         "drop all traffic outside the tunnel until disconnect"},
        {OPT_KEEP_LOCKED, "keep-locked", NULL, "leave the kill switch on"},
        {OPT_WATCH, "watch", NULL, "stay in the foreground and fail over to another server"},
        {OPT_VIA, "via", "ENTRY", "multi-hop: enter the fleet at ENTRY, leave at SERVER"},
        {OPT_QR, "qr", NULL, "show the config as a QR code (the default without a FILE)"},
        {OPT_QR_PNG, "qr-png", "FILE", "write the QR code as a PNG to FILE (new, 0600)"},
        {OPT_OUTPUT, "output", "FILE", "write the config to FILE (new, 0600)"},
        {OPT_FORCE, "force", NULL, "revoke the server's peers first"},
        {OPT_FROM, "from", "DAY", "first day, YYYY-MM-DD (UTC)"},
        {OPT_TO, "to", "DAY", "last day, YYYY-MM-DD (UTC)"},
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void print_cmd_usage(FILE *f, const struct vpnctl_cmd *cmd)
{
	size_t i;

	fprintf(f, "Usage: %s %s [OPTIONS] %s\n  %s\n", cli_program, cmd->name, cmd->pos_doc,
	        cmd->summary);
	if (!cmd->opts)
		return;
	fprintf(f, "Options:\n");
	for (i = 0; i < ARRAY_LEN(options); i++) {
		char left[32];

		if (!(cmd->opts & options[i].id))
			continue;
		snprintf(left, sizeof(left), "--%s%s%s", options[i].name, options[i].arg ? " " : "",
		         options[i].arg ? options[i].arg : "");
		fprintf(f, "  %-16s %s\n", left, options[i].help);
	}
}

/* 1 if cmd's name starts with the word w (a group like "user"). */
static int in_group(const struct vpnctl_cmd *cmd, const char *w)
{
	size_t n = strlen(w);

	return strncmp(cmd->name, w, n) == 0 && (cmd->name[n] == ' ' || cmd->name[n] == '\0');
}

/* The tool's commands (only group's when non-NULL) and the footer. */
static void print_usage(FILE *f, const struct cli_tool *t, const char *group)
{
	size_t i;

	fprintf(f, "Usage: %s %s%sCOMMAND [OPTIONS]\n\nCommands:\n", t->name, group ? group : "",
	        group ? " " : "");
	for (i = 0; i < t->ncmds; i++)
		if (!group || in_group(&t->cmds[i], group))
			fprintf(f, "  %-17s %s\n", t->cmds[i].name, t->cmds[i].summary);
	fprintf(f,
	        "\n`%s COMMAND --help` shows a command's options. Exit codes: 0 ok, 1 usage, "
	        "2 auth, 3 refused\n(not in tier, full), 4 controller or servers unreachable, 5 "
	        "local (root, files). See %s.\n",
	        t->name, t->doc);
}

/* `TOOL --man`: the TOOL(1) page in roff, from the same tables as --help. */
static void print_man(FILE *f, const struct cli_tool *t)
{
	size_t i, j;
	char synopsis[128], see[128];

	pv_man_begin(f, t->name, t->summary);
	pv_man_section(f, "SYNOPSIS");
	snprintf(synopsis, sizeof(synopsis),
	         "%s COMMAND [OPTIONS] [ARGS]\n%s --help | --version | --man | --completion bash",
	         t->name, t->name);
	pv_man_verbatim(f, synopsis);
	pv_man_section(f, "COMMANDS");
	for (i = 0; i < t->ncmds; i++) {
		char text[400];
		int n = snprintf(text, sizeof(text), "%s.%s", t->cmds[i].summary,
		                 t->cmds[i].opts ? " Options:" : "");

		for (j = 0; j < ARRAY_LEN(options) && n > 0 && (size_t)n < sizeof(text); j++)
			if (t->cmds[i].opts & options[j].id)
				n += snprintf(text + n, sizeof(text) - (size_t)n, " --%s",
				              options[j].name);
		pv_man_item(f, t->cmds[i].name, t->cmds[i].pos_doc[0] ? t->cmds[i].pos_doc : NULL,
		            text);
	}
	pv_man_section(f, "OPTIONS");
	for (j = 0; j < ARRAY_LEN(options); j++) {
		char tag[32];

		snprintf(tag, sizeof(tag), "--%s", options[j].name);
		pv_man_item(f, tag, options[j].arg, options[j].help);
	}
	pv_man_section(f, "EXIT STATUS");
	pv_man_text(f, "0 ok, 1 usage, 2 auth, 3 not in tier or full, 4 controller or servers "
	               "unreachable, 5 local (root, wg-quick, files).");
	pv_man_section(f, "SEE ALSO");
	snprintf(see, sizeof(see), "vpn-controller(1), wg-quick(8); %s in the source.", t->doc);
	pv_man_text(f, see);
}

/* The words of a command's name after `skip` words ("user show" -> "show"). */
static const char *word_after(const char *name, int skip)
{
	while (skip-- > 0 && name)
		name = strchr(name, ' ') ? strchr(name, ' ') + 1 : NULL;
	return name;
}

void cli_print_completion(FILE *f, const struct cli_tool *t)
{
	size_t i, j;

	fprintf(f,
	        "# bash completion for %s, generated by `%s --completion bash` from its tables\n"
	        "_%s() {\n"
	        "\tlocal cur=${COMP_WORDS[COMP_CWORD]} words=\"\"\n"
	        "\tif ((COMP_CWORD == 1)); then\n\t\twords=\"--help --version --man",
	        t->name, t->name, t->name);
	for (i = 0; i < t->ncmds; i++) /* first words, each once */
		if (i == 0 || strncmp(t->cmds[i].name, t->cmds[i - 1].name,
		                      strcspn(t->cmds[i].name, " ") + 1) != 0)
			fprintf(f, " %.*s", (int)strcspn(t->cmds[i].name, " "), t->cmds[i].name);
	fputs("\"\n\telse\n\t\tcase \"${COMP_WORDS[1]} ${COMP_WORDS[2]}\" in\n", f);
	for (i = 0; i < t->ncmds; i++) {
		const char *second = word_after(t->cmds[i].name, 1);

		/* "user show" matches `user show …`; a one-word command matches any second word. */
		fprintf(f, "\t\t\"%s\"%s) words=\"--help", t->cmds[i].name, second ? "*" : "\\ *");
		for (j = 0; j < ARRAY_LEN(options); j++)
			if (t->cmds[i].opts & options[j].id)
				fprintf(f, " --%s", options[j].name);
		fputs("\" ;;\n", f);
	}
	fputs("\t\tesac\n", f);
	for (i = 0; i < t->ncmds; i++) /* a group's second words, after its first word */
		if (word_after(t->cmds[i].name, 1))
			fprintf(f,
			        "\t\t((COMP_CWORD == 2)) && [[ ${COMP_WORDS[1]} == %.*s ]] && "
			        "words=\"$words %s\"\n",
			        (int)strcspn(t->cmds[i].name, " "), t->cmds[i].name,
			        word_after(t->cmds[i].name, 1));
	fprintf(f,
	        "\tfi\n"
	        "\tmapfile -t COMPREPLY < <(compgen -W \"$words\" -- \"$cur\")\n"
	        "}\n"
	        "complete -F _%s %s\n",
	        t->name, t->name);
}

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return PV_EINVAL;
	v = strtol(s, &end, 10);
	if (*end || v < min || v > max)
		return PV_EINVAL;
	*out = v;
	return 0;
}

/* One more --include/--exclude value: a network CIDR or a plain address. */
static int add_cidr(const char *name, const char *value, struct pv_cidr *set, size_t *n)
{
	if (*n == VPNCTL_MAX_SPLIT) {
		vpnctl_err("--%s: at most %d of them", name, VPNCTL_MAX_SPLIT);
		return VX_USAGE;
	}
	if (pv_cidr_parse(&set[*n], value, PV_CIDR_BARE | PV_CIDR_NETWORK) < 0) {
		vpnctl_err("--%s: '%s' is not an IP address or a network CIDR (like 10.0.0.0/8, "
		           "with no bits set after the prefix)",
		           name, value);
		return VX_USAGE;
	}
	(*n)++;
	return 0;
}

/* Apply one --name[=value]; *used tells whether value was consumed. */
static int apply_option(const struct vpnctl_cmd *cmd, const char *name, const char *value,
                        int *used, struct vpnctl_args *a)
{
	size_t i;

	*used = 0;
	for (i = 0; i < ARRAY_LEN(options); i++)
		if ((cmd->opts & options[i].id) && strcmp(options[i].name, name) == 0)
			break;
	if (i == ARRAY_LEN(options)) {
		vpnctl_err("%s: unknown option --%s", cmd->name, name);
		return VX_USAGE;
	}
	if (options[i].arg) {
		if (!value) {
			vpnctl_err("%s: --%s needs %s", cmd->name, name, options[i].arg);
			return VX_USAGE;
		}
		*used = 1;
	}
	switch (options[i].id) {
	case OPT_JSON:
		a->json = 1;
		return 0;
	case OPT_VERBOSE:
		a->verbose = 1;
		return 0;
	case OPT_ALL:
		a->all = 1;
		return 0;
	case OPT_DEVICE:
		a->device = value;
		if (!pv_device_is_valid(value)) {
			vpnctl_err("--device: '%s' is not [A-Za-z0-9._-]{1,64}", value);
			return VX_USAGE;
		}
		return 0;
	case OPT_API:
		a->api = value;
		return 0;
	case OPT_CACERT:
		a->cacert = value;
		return 0;
	case OPT_TIMEOUT:
		if (parse_long(value, 50, 60000, &a->timeout_ms) < 0) {
			vpnctl_err("--timeout: '%s' is not a number of milliseconds in 50..60000",
			           value);
			return VX_USAGE;
		}
		return 0;
	case OPT_WAIT:
		if (parse_long(value, 1, 600, &a->wait_s) < 0) {
			vpnctl_err("--wait: '%s' is not a number of seconds in 1..600", value);
			return VX_USAGE;
		}
		return 0;
	case OPT_LIMIT:
		if (parse_long(value, 1, 1000, &a->limit) < 0) {
			vpnctl_err("--limit: '%s' is not a number in 1..1000", value);
			return VX_USAGE;
		}
		return 0;
	case OPT_CURSOR:
		a->cursor = value;
		return 0;
	case OPT_EXCLUDE:
		return add_cidr(name, value, a->split.exclude, &a->split.n_exclude);
	case OPT_INCLUDE:
		return add_cidr(name, value, a->split.include, &a->split.n_include);
	case OPT_ALLOW_LAN:
		a->split.allow_lan = 1;
		return 0;
	case OPT_KILL_SWITCH:
		a->kill_switch = 1;
		return 0;
	case OPT_KEEP_LOCKED:
		a->keep_locked = 1;
		return 0;
	case OPT_WATCH:
		a->watch = 1;
		return 0;
	case OPT_VIA:
		if (!pv_server_id_is_valid(value)) {
			vpnctl_err("--via: '%s' is not a server name (see `vpnctl servers`)",
			           value);
			return VX_USAGE;
		}
		a->via = value;
		return 0;
	case OPT_QR:
		a->qr = 1;
		return 0;
	case OPT_QR_PNG:
		a->qr_png = value;
		return 0;
	case OPT_OUTPUT:
		a->output = value;
		return 0;
	case OPT_FORCE:
		a->force = 1;
		return 0;
	case OPT_FROM:
	case OPT_TO:
		if (!value || strlen(value) != 10 || strspn(value, "0123456789-") != 10 ||
		    value[4] != '-' || value[7] != '-') {
			vpnctl_err("--%s: '%s' is not a day YYYY-MM-DD", name, value);
			return VX_USAGE;
		}
		*(options[i].id == OPT_FROM ? &a->from : &a->to) = value;
		return 0;
	}
	return VX_USAGE;
}

int vpnctl_parse_args(const struct vpnctl_cmd *cmd, int argc, char **argv, struct vpnctl_args *a)
{
	int i, r, used, only_pos = 0;

	memset(a, 0, sizeof(*a));
	a->timeout_ms = VPNCTL_PROBE_MS;
	a->wait_s = VPNCTL_HANDSHAKE_S;
	a->pos = argv + argc; /* positional args are compacted to the end below */
	for (i = 1; i < argc; i++) {
		char *arg = argv[i], name[32];
		const char *eq, *value;

		if (only_pos || arg[0] != '-' || strcmp(arg, "-") == 0) {
			/* Compact positionals into argv[1..] so pos points at them. */
			argv[1 + a->npos++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			print_cmd_usage(stdout, cmd);
			a->help_shown = 1;
			return VX_OK;
		}
		if (strcmp(arg, "-v") == 0 && (cmd->opts & OPT_VERBOSE)) {
			a->verbose = 1;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0) {
			vpnctl_err("%s: unknown option %s", cmd->name, arg);
			goto usage;
		}
		eq = strchr(arg + 2, '=');
		snprintf(name, sizeof(name), "%.*s",
		         eq ? (int)(eq - arg - 2) : (int)strlen(arg + 2), arg + 2);
		value = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
		r = apply_option(cmd, name, value, &used, a);
		if (r)
			goto usage;
		if (used && !eq)
			i++;
		else if (eq && !used) {
			vpnctl_err("%s: --%s takes no value", cmd->name, name);
			goto usage;
		}
	}
	a->pos = argv + 1;
	if (a->npos > cmd->max_pos) {
		vpnctl_err("%s: unexpected argument '%s'", cmd->name, a->pos[cmd->max_pos]);
		goto usage;
	}
	return 0;
usage:
	print_cmd_usage(stderr, cmd);
	return VX_USAGE;
}

/* The command argv[1..] names: one or two words; *words says how many. */
static const struct vpnctl_cmd *cmd_find(const struct cli_tool *t, int argc, char **argv,
                                         int *words)
{
	char name[64];
	size_t i;

	for (i = 0; i < t->ncmds; i++) {
		*words = strchr(t->cmds[i].name, ' ') ? 2 : 1;
		if (*words == 2 && argc < 3)
			continue;
		snprintf(name, sizeof(name), *words == 2 ? "%s %s" : "%s", argv[1],
		         *words == 2 ? argv[2] : "");
		if (strcmp(name, t->cmds[i].name) == 0)
			return &t->cmds[i];
	}
	return NULL;
}

/* 1 if some command's first word is w. */
static int is_group(const struct cli_tool *t, const char *w)
{
	size_t i;

	for (i = 0; i < t->ncmds; i++)
		if (strchr(t->cmds[i].name, ' ') && in_group(&t->cmds[i], w))
			return 1;
	return 0;
}

int cli_main(const struct cli_tool *t, int argc, char **argv)
{
	const struct vpnctl_cmd *cmd;
	struct vpnctl_args args;
	int r, words = 1;

	cli_program = t->name;
	if (argc < 2) {
		print_usage(stderr, t, NULL);
		return VX_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		print_usage(stdout, t, NULL);
		return VX_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("%s %s (%s)\n", t->name, PV_VERSION, curl_version());
		return VX_OK;
	}
	if (strcmp(argv[1], "--man") == 0) {
		print_man(stdout, t);
		return VX_OK;
	}
	if (strcmp(argv[1], "--completion") == 0 && argc == 3 && strcmp(argv[2], "bash") == 0) {
		cli_print_completion(stdout, t);
		return VX_OK;
	}
	cmd = cmd_find(t, argc, argv, &words);
	if (!cmd && is_group(t, argv[1])) {
		/* `TOOL user --help` lists the group; `TOOL user` alone is a usage error. */
		if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
			print_usage(stdout, t, argv[1]);
			return VX_OK;
		}
		vpnctl_err("%s: expected a subcommand%s%s", argv[1], argc > 2 ? ", not " : "",
		           argc > 2 ? argv[2] : "");
		print_usage(stderr, t, argv[1]);
		return VX_USAGE;
	}
	if (!cmd) {
		vpnctl_err("unknown command '%s'", argv[1]);
		print_usage(stderr, t, NULL);
		return VX_USAGE;
	}
	r = vpnctl_parse_args(cmd, argc - words, argv + words, &args);
	if (r || args.help_shown)
		return r;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		vpnctl_err("libcurl failed to initialise");
		return VX_LOCAL;
	}
	r = cmd->run(&args);
	curl_global_cleanup();
	return r;
}
