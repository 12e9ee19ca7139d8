/* SPDX-License-Identifier: MIT */
/* vpnctl's entry point: global flags, then the command from the table in cli.c. */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "vpnctl.h"

int main(int argc, char **argv)
{
	const struct vpnctl_cmd *cmd;
	struct vpnctl_args args;
	int r;

	if (argc < 2) {
		vpnctl_print_usage(stderr);
		return VX_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		vpnctl_print_usage(stdout);
		return VX_OK;
	}
	if (strcmp(argv[1], "--man") == 0) {
		vpnctl_print_man(stdout);
		return VX_OK;
	}
	if (strcmp(argv[1], "--completion") == 0 && argc == 3 && strcmp(argv[2], "bash") == 0) {
		vpnctl_print_completion(stdout);
		return VX_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("vpnctl %s (%s)\n", PV_VERSION, curl_version());
		return VX_OK;
	}
	cmd = vpnctl_find_cmd(argv[1]);
	if (!cmd) {
		vpnctl_err("unknown command '%s'", argv[1]);
		vpnctl_print_usage(stderr);
		return VX_USAGE;
	}
	r = vpnctl_parse_args(cmd, argc - 1, argv + 1, &args);
	if (r)
		return r < 0 ? VX_OK : r;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		vpnctl_err("libcurl failed to initialise");
		return VX_LOCAL;
	}
	r = cmd->run(&args);
	curl_global_cleanup();
	return r;
}
