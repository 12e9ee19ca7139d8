/* SPDX-License-Identifier: MIT */
/*
 * vpnctl's command line: the subcommand and option tables, argument parsing,
 * and everything printed from those tables, so it never disagrees with them:
 * --help (after wireguard-tools' src/wg.c), the man page (`vpnctl --man`)
 * and the bash completion (`vpnctl --completion bash`).
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "vpnctl.h"

static const struct vpnctl_cmd commands[] = {
        {"login", cmd_login, OPT_API | OPT_CACERT | OPT_DEVICE | OPT_JSON, 1, "[KEY | -]",
         "Check an API key with the controller and store it (key from KEY, stdin with -, or "
         "VPNCTL_API_KEY)",
         NULL},
        {"servers", cmd_servers, OPT_JSON | OPT_TIMEOUT, 0, "",
         "List your tier's servers with health, load and measured latency", NULL},
        {"connect", cmd_connect,
         OPT_DEVICE | OPT_TIMEOUT | OPT_WAIT | OPT_JSON | OPT_EXCLUDE | OPT_INCLUDE |
                 OPT_ALLOW_LAN | OPT_KILL_SWITCH | OPT_WATCH | OPT_VIA,
         1, "[SERVER]", "Connect to SERVER, or to the fastest healthy server of your tier", NULL},
        {"disconnect", cmd_disconnect, OPT_JSON | OPT_KEEP_LOCKED, 0, "",
         "Take the tunnel down (wg-quick down) and lift the kill switch", NULL},
        {"status", cmd_status, OPT_JSON | OPT_VERBOSE, 0, "",
         "Show whether the tunnel is up, the server, address, handshake and transfer", NULL},
        {"revoke", cmd_revoke, OPT_ALL | OPT_JSON, 0, "",
         "Remove this device's peer (or all your peers with --all) and the local config", NULL},
        {"rotate", cmd_rotate, OPT_JSON | OPT_WAIT, 0, "",
         "Replace this device's key pair and peer on the same server, make-before-break", NULL},
        {"set", cmd_set, OPT_ALLOW_LAN | OPT_JSON, 2, "kill-switch on|off | rotate-after DAYS",
         "Change a persistent setting (root)", "kill-switch rotate-after on off"},
};

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
        {OPT_EXCLUDE, "exclude", "CIDR",
         "keep CIDR (or an address) outside the tunnel; repeatable"},
        {OPT_INCLUDE, "include", "CIDR", "send only CIDR through the tunnel; repeatable"},
        {OPT_ALLOW_LAN, "allow-lan", NULL, "keep private, link-local and multicast ranges local"},
        {OPT_KILL_SWITCH, "kill-switch", NULL,
         "drop all traffic outside the tunnel until disconnect"},
        {OPT_KEEP_LOCKED, "keep-locked", NULL, "leave the kill switch on"},
        {OPT_WATCH, "watch", NULL, "stay in the foreground and fail over to another server"},
        {OPT_VIA, "via", "ENTRY", "multi-hop: enter the fleet at ENTRY, leave at SERVER"},
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void print_cmd_usage(FILE *f, const struct vpnctl_cmd *cmd)
{
	size_t i;

	fprintf(f, "Usage: vpnctl %s [OPTIONS] %s\n  %s\n", cmd->name, cmd->pos_doc, cmd->summary);
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

void vpnctl_print_usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: vpnctl COMMAND [OPTIONS]\n\nCommands:\n");
	for (i = 0; i < ARRAY_LEN(commands); i++)
		fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
	        "\n`vpnctl COMMAND --help` shows a command's options. Exit codes: 0 ok, 1 usage, "
	        "2 auth, 3 not in tier or full,\n4 controller or servers unreachable, 5 local "
	        "(root, wg-quick, files). See docs/vpnctl.md.\n");
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
		if (!vpnctl_device_is_valid(value)) {
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
		if (!vpnctl_server_id_is_valid(value)) {
			vpnctl_err("--via: '%s' is not a server name (see `vpnctl servers`)",
			           value);
			return VX_USAGE;
		}
		a->via = value;
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
			return -1;
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

const struct vpnctl_cmd *vpnctl_find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(commands); i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

/* roff text: backslashes and hyphens escaped, no line starting with a control character. */
static void roff(FILE *f, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", f);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-')
			fputs("\\-", f);
		else
			fputc(*s, f);
	}
}

static void man_option(FILE *f, size_t i)
{
	fputs(".TP\n.B ", f);
	roff(f, "--");
	roff(f, options[i].name);
	if (options[i].arg) {
		fputs(" \\fI", f);
		roff(f, options[i].arg);
		fputs("\\fR", f);
	}
	fputc('\n', f);
	roff(f, options[i].help);
	fputc('\n', f);
}

void vpnctl_print_man(FILE *f)
{
	size_t i, j;

	fprintf(f, ".TH VPNCTL 1 \"\" \"privatevpn %s\" \"User Commands\"\n.nh\n.ad l\n",
	        PV_VERSION);
	fputs(".SH NAME\nvpnctl \\- the privatevpn client: log in, pick a server, connect\n"
	      ".SH SYNOPSIS\n.B vpnctl\n.I COMMAND\n[\\fIOPTIONS\\fR]\n.SH COMMANDS\n",
	      f);
	for (i = 0; i < ARRAY_LEN(commands); i++) {
		fputs(".TP\n.B ", f);
		roff(f, commands[i].name);
		fputc(' ', f);
		roff(f, commands[i].pos_doc);
		fputc('\n', f);
		roff(f, commands[i].summary);
		fputs(".\nOptions:", f);
		for (j = 0; j < ARRAY_LEN(options); j++)
			if (commands[i].opts & options[j].id) {
				fputs(" \\fB", f);
				roff(f, "--");
				roff(f, options[j].name);
				fputs("\\fR", f);
			}
		fputs(commands[i].opts ? "\n" : " none\n", f);
	}
	fputs(".SH OPTIONS\n", f);
	for (i = 0; i < ARRAY_LEN(options); i++)
		man_option(f, i);
	fputs(".SH EXIT STATUS\n0 ok, 1 usage, 2 authentication, 3 not in the tier or server full, "
	      "4 controller or servers unreachable, 5 local (root, wg\\-quick, files).\n"
	      ".SH FILES\n$XDG_CONFIG_HOME/vpnctl/config.json (login), "
	      "/etc/wireguard/pvpn0.conf (tunnel), /etc/wireguard/vpnctl.json (settings)\n"
	      ".SH SEE ALSO\n.BR wg (8),\n.BR wg\\-quick (8),\n.BR nft (8)\n",
	      f);
}

void vpnctl_print_completion(FILE *f)
{
	size_t i, j;

	fputs("# bash completion for vpnctl, generated by `vpnctl --completion bash`\n"
	      "_vpnctl() {\n"
	      "\tlocal cur=${COMP_WORDS[COMP_CWORD]} words\n"
	      "\tif ((COMP_CWORD == 1)); then\n"
	      "\t\twords=\"--help --version",
	      f);
	for (i = 0; i < ARRAY_LEN(commands); i++)
		fprintf(f, " %s", commands[i].name);
	fputs("\"\n\telse\n\t\tcase ${COMP_WORDS[1]} in\n", f);
	for (i = 0; i < ARRAY_LEN(commands); i++) {
		fprintf(f, "\t\t%s) words=\"--help", commands[i].name);
		for (j = 0; j < ARRAY_LEN(options); j++)
			if (commands[i].opts & options[j].id)
				fprintf(f, " --%s", options[j].name);
		fprintf(f, "%s%s\" ;;\n", commands[i].words ? " " : "",
		        commands[i].words ? commands[i].words : "");
	}
	fputs("\t\t*) words=\"\" ;;\n\t\tesac\n\tfi\n"
	      "\tmapfile -t COMPREPLY < <(compgen -W \"$words\" -- \"$cur\")\n"
	      "}\n"
	      "complete -F _vpnctl vpnctl\n",
	      f);
}
