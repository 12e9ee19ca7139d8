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
        {"user config", adm_user_config, OPT_DEVICE | OPT_QR | OPT_QR_PNG | OPT_OUTPUT, 2,
         "USER [SERVER] --device NAME",
         "A tunnel for USER's phone app: QR code or file (server-made key)"},
        {"server show", adm_server_show, OPT_JSON, 1, "SERVER",
         "One server: state and since when, last pass, pinned host key, WireGuard key and port, "
         "peers, transfer, last repairs"},
        {"server add", adm_server_add, OPT_JSON, 1, "FILE",
         "Add a server at runtime from its servers.json entry (FILE, or - for stdin), "
         "ssh.host_key pinned"},
        {"server bootstrap", adm_server_bootstrap, OPT_JSON, 1, "SERVER",
         "Run bootstrap.sh on SERVER over the controller's SSH session; registers its key"},
        {"server drain", adm_server_drain, OPT_JSON, 1, "SERVER",
         "No new peers on SERVER (409 draining; clients' automatic pick skips it)"},
        {"server undrain", adm_server_undrain, OPT_JSON, 1, "SERVER",
         "SERVER takes new peers again"},
        {"server remove", adm_server_remove, OPT_JSON | OPT_FORCE, 1, "SERVER",
         "Remove SERVER from the fleet (refused while it has peers unless --force)"},
        {"server reconcile", adm_server_reconcile, OPT_JSON, 1, "[SERVER]",
         "Bring SERVER (default: every server, with progress) back to the DB now"},
        {"server export", adm_server_export, 0, 0, "",
         "The current fleet as a servers.json on stdout"},
        {"usage", adm_usage, OPT_JSON | OPT_FROM | OPT_TO, 1, "[USER]",
         "Transfer per user and UTC day (default: everyone, every day)"},
};

int main(int argc, char **argv)
{
	static const struct cli_tool tool = {
	        "vpnadm", commands, sizeof(commands) / sizeof(commands[0]), "docs/vpnadm.md",
	        "privatevpn's operator tool: the fleet, users and keys through the admin API"};

	return cli_main(&tool, argc, argv);
}
