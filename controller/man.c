/* SPDX-License-Identifier: MIT */
/*
 * `vpn-controller --man`: the vpn-controller(1) page, built at build time
 * (CMake) from the same tables --help prints: config.c's fields and
 * init.c's flags.  Prose that no table holds lives here.
 */
#include <stdio.h>

#include "controller.h"

static void man_description(FILE *f)
{
	pv_man_section(f, "DESCRIPTION");
	pv_man_text(f, "vpn-controller is the control plane of privatevpn: an HTTP(S) API "
	               "(libevent) in front of SQLite state (users, servers, peers, leases, audit) "
	               "that pushes WireGuard peer edits to a fleet of servers over pooled SSH "
	               "sessions. It reads one JSON config file; every field can also be given, or "
	               "overridden, as a flag of the same name.");
	pv_man_text(f, "It logs one line per request and every startup, health and push event "
	               "on standard error (the journal under systemd); never a key, PSK, config, "
	               "API key or token.");
}

static void man_options(FILE *f)
{
	pv_man_section(f, "OPTIONS");
	pv_man_item(f, "-c, --config", "FILE",
	            "read the config file FILE first; flags override it");
	pv_man_item(f, "-h, --help", NULL, "print the flags and exit");
	pv_man_item(f, "--man", NULL, "print this page in roff and exit");
	pv_man_text(f, "Config fields as flags (STR a string, N an integer with its range):");
	ctl_config_man(f);
}

static void man_init(FILE *f)
{
	pv_man_section(f, "FIRST-RUN SETUP");
	pv_man_text(
	        f,
	        "vpn-controller --init DIR writes, into DIR (made 0700 if missing): "
	        "controller.json, which names everything below; secrets (a fresh API "
	        "secret), admin_token and state.key (the key of the sealed PSKs), each 32 "
	        "random bytes in base64; an ed25519 SSH key pair id_ed25519 and id_ed25519.pub (made by "
	        "ssh-keygen); and a self-signed TLS certificate tls.pem with its P-256 key "
	        "tls.key. Every file is mode 0600 from its creation. It refuses to "
	        "overwrite anything: if one of these files exists, nothing is written. The "
	        "fleet (servers.json) and the servers' host keys (known_hosts) are the "
	        "operator's to fill. Run it as the user the service runs as:");
	pv_man_verbatim(f, "runuser -u privatevpn -- vpn-controller --init /etc/privatevpn");
	pv_man_text(f, "Flags of --init:");
	ctl_init_man(f);
}

static void man_rest(FILE *f)
{
	pv_man_section(f, "FILES");
	pv_man_item(f, "/etc/privatevpn/", NULL,
	            "the packaged service's config directory (ConfigurationDirectory=)");
	pv_man_item(f, CTL_STATE_DIR "/state.db", NULL,
	            "the SQLite state of the packaged service (StateDirectory=)");
	pv_man_section(f, "SIGNALS");
	pv_man_text(f, "SIGINT and SIGTERM shut down gracefully: queued pushes fail and their "
	               "leases are rolled back. SIGPIPE is ignored.");
	pv_man_section(f, "EXIT STATUS");
	pv_man_text(f, "0 after a clean shutdown or a successful --init; 1 when the config, a "
	               "file it names, or --init fails (the message names the file and field).");
	pv_man_section(f, "SEE ALSO");
	pv_man_text(f, "vpnctl(1), agentless-cli(1), systemctl(1); docs/controller.md and "
	               "docs/packaging.md in the source.");
}

int ctl_man_main(void)
{
	pv_man_begin(stdout, "vpn-controller", "privatevpn's WireGuard control plane daemon");
	pv_man_section(stdout, "SYNOPSIS");
	pv_man_verbatim(stdout, CTL_SYNOPSIS "\n" CTL_SYNOPSIS_INIT "\nvpn-controller --man");
	man_description(stdout);
	man_options(stdout);
	man_init(stdout);
	man_rest(stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}
