/* SPDX-License-Identifier: MIT */
/* vpnctl's entry point: its command table; cli.c parses, helps and dispatches. */
#include "vpnctl.h"

static const struct vpnctl_cmd commands[] = {
        {"login", cmd_login, OPT_API | OPT_CACERT | OPT_DEVICE | OPT_JSON, 1, "[KEY | -]",
         "Check an API key with the controller and store it (key from KEY, stdin with -, or "
         "VPNCTL_API_KEY)"},
        {"servers", cmd_servers, OPT_JSON | OPT_TIMEOUT, 0, "",
         "List your tier's servers with health, load and measured latency"},
        {"connect", cmd_connect,
         OPT_DEVICE | OPT_TIMEOUT | OPT_WAIT | OPT_JSON | OPT_EXCLUDE | OPT_INCLUDE |
                 OPT_ALLOW_LAN | OPT_KILL_SWITCH | OPT_WATCH | OPT_VIA,
         1, "[SERVER]", "Connect to SERVER, or to the fastest healthy server of your tier"},
        {"disconnect", cmd_disconnect, OPT_JSON | OPT_KEEP_LOCKED, 0, "",
         "Take the tunnel down (wg-quick down) and lift the kill switch"},
        {"status", cmd_status, OPT_JSON | OPT_VERBOSE, 0, "",
         "Show whether the tunnel is up, the server, address, handshake and transfer"},
        {"revoke", cmd_revoke, OPT_ALL | OPT_DEVICE | OPT_JSON, 0, "",
         "Remove this device's peer and the local config (--device NAME: that device's; --all: all)"},
        {"rotate", cmd_rotate, OPT_JSON | OPT_WAIT, 0, "",
         "Replace this device's key pair and peer on the same server, make-before-break"},
        {"set", cmd_set, OPT_ALLOW_LAN | OPT_JSON, 2, "kill-switch on|off | rotate-after DAYS",
         "Change a persistent setting (root)"},
        {"export", cmd_export, OPT_DEVICE | OPT_QR | OPT_QR_PNG | OPT_OUTPUT | OPT_TIMEOUT, 1,
         "--device NAME [SERVER]",
         "A tunnel for a phone's WireGuard app: QR code or file (server-made key)"},
};

int main(int argc, char **argv)
{
	static const struct cli_tool tool = {
	        "vpnctl", commands, sizeof(commands) / sizeof(commands[0]), "docs/vpnctl.md",
	        "privatevpn's client: log in, pick a server, connect"};

	return cli_main(&tool, argc, argv);
}
