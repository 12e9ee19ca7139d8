/* SPDX-License-Identifier: MIT */
/*
 * `vpnctl set SETTING VALUE`: root's persistent settings (killswitch.c
 * keeps them in VPNCTL_WG_DIR/vpnctl.json).  `kill-switch on|off
 * [--allow-lan]` also installs or lifts the nftables table at once;
 * `rotate-after DAYS` makes `status` say when a key rotation is due.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vpnctl.h"

static int set_kill_switch(const struct vpnctl_args *args, struct vpnctl_settings *s)
{
	char err[1024];
	int on, r;

	if (strcmp(args->pos[1], "on") != 0 && strcmp(args->pos[1], "off") != 0) {
		vpnctl_err("set: kill-switch takes on or off, not '%s'", args->pos[1]);
		return VX_USAGE;
	}
	on = strcmp(args->pos[1], "on") == 0;
	s->kill_switch = on;
	s->kill_switch_allow_lan = on && args->split.allow_lan;
	r = on ? vpnctl_killswitch_on(s->kill_switch_allow_lan, err, sizeof(err))
	       : vpnctl_killswitch_off(err, sizeof(err));
	if (r < 0) {
		vpnctl_err("set: cannot %s the kill switch: %s", on ? "install" : "lift", err);
		return VX_LOCAL;
	}
	return VX_OK;
}

static int set_rotate_after(const struct vpnctl_args *args, struct vpnctl_settings *s)
{
	char *end;
	long days = strtol(args->pos[1], &end, 10);

	if (!args->pos[1][0] || *end || days < 0 || days > 3650) {
		vpnctl_err("set: rotate-after takes a number of days in 0..3650 (0 = never), not "
		           "'%s'",
		           args->pos[1]);
		return VX_USAGE;
	}
	s->rotate_after_days = days;
	return VX_OK;
}

int cmd_set(const struct vpnctl_args *args)
{
	struct vpnctl_settings s;
	int r;

	if (args->npos != 2) {
		vpnctl_err("set: usage: vpnctl set kill-switch on|off [--allow-lan] | rotate-after "
		           "DAYS");
		return VX_USAGE;
	}
	if (geteuid() != 0) {
		vpnctl_err("set: must run as root (settings live in %s, the kill switch is a "
		           "firewall table); try sudo",
		           VPNCTL_WG_DIR);
		return VX_LOCAL;
	}
	if (vpnctl_settings_load(&s, VPNCTL_WG_DIR) < 0) {
		vpnctl_err(
		        "set: %s/vpnctl.json is malformed or readable by others; fix or delete it",
		        VPNCTL_WG_DIR);
		return VX_LOCAL;
	}
	if (strcmp(args->pos[0], "kill-switch") == 0)
		r = set_kill_switch(args, &s);
	else if (strcmp(args->pos[0], "rotate-after") == 0)
		r = set_rotate_after(args, &s);
	else {
		vpnctl_err("set: unknown setting '%s' (kill-switch, rotate-after)", args->pos[0]);
		return VX_USAGE;
	}
	if (r)
		return r;
	if ((mkdir(VPNCTL_WG_DIR, 0700) < 0 && errno != EEXIST) ||
	    vpnctl_settings_save(&s, VPNCTL_WG_DIR) < 0) {
		vpnctl_err("set: cannot write %s/vpnctl.json", VPNCTL_WG_DIR);
		return VX_LOCAL;
	}
	if (args->json)
		return vpnctl_print_json(json_pack("{s:b, s:b, s:I}", "kill_switch", s.kill_switch,
		                                   "kill_switch_allow_lan", s.kill_switch_allow_lan,
		                                   "rotate_after_days",
		                                   (json_int_t)s.rotate_after_days));
	printf("kill-switch %s%s, rotate-after %ld days%s.\n", s.kill_switch ? "on" : "off",
	       s.kill_switch_allow_lan ? " (LAN allowed)" : "", s.rotate_after_days,
	       s.rotate_after_days ? "" : " (never)");
	return VX_OK;
}
