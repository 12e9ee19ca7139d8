/* SPDX-License-Identifier: MIT */
/* vpnadm's entry point: its command table; cli.c parses, helps and dispatches. */
#include "vpnctl.h"

static const struct vpnctl_cmd commands[] = {
        {"login", adm_login, OPT_CACERT, 1, "URL",
         "Check the admin token with the controller and store it (token from VPNADM_TOKEN, "
         "else one line of stdin)"},
        {"servers", adm_servers, OPT_JSON, 0, "",
         "The fleet: state (in colour on a terminal), load, live peers, last health check"},
        {"users", adm_users, OPT_JSON | OPT_LIMIT | OPT_CURSOR, 0, "",
         "Every user (or one page) with tier, state, key generation, peers and devices"},
        {"user show", adm_user_show, OPT_JSON, 1, "USER",
         "One user: tier, state, key generation, devices, each peer's server, addresses, state"},
        {"user issue-key", adm_user_issue_key, OPT_JSON, 2, "USER TIER",
         "Create or re-enable USER with TIER and print the user's current API key"},
        {"user rotate-key", adm_user_rotate_key, OPT_JSON, 1, "USER",
         "Give USER a new API key; the old one is refused at once"},
        {"user disable", adm_user_disable, OPT_JSON, 1, "USER",
         "Disable USER: the key stops working and every peer is revoked"},
        {"user tier", adm_user_tier, OPT_JSON, 2, "USER TIER",
         "Move USER to TIER: a new key, peers outside the tier revoked"},
};

int main(int argc, char **argv)
{
	static const struct cli_tool tool = {
	        "vpnadm", commands, sizeof(commands) / sizeof(commands[0]), "docs/vpnadm.md",
	        "privatevpn's operator tool: the fleet, users and keys through the admin API"};

	return cli_main(&tool, argc, argv);
}
