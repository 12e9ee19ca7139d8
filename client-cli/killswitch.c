/* SPDX-License-Identifier: MIT */
/*
 * The kill switch: an nftables table of vpnctl's own (`inet vpnctl`) that
 * drops every packet not going through the tunnel.  What passes: loopback,
 * the tunnel interface and the one `rotate` carries the traffic on meanwhile, packets carrying
 * VPNCTL_FWMARK (WireGuard's own UDP to its endpoint, because the tunnel file sets FwMark, and
 * vpnctl's API calls and probes, which mark their sockets), replies to those (no other established
 * connection survives), IPv6 neighbour discovery, and with allow_lan the private ranges.  The table
 * is kernel state: it stays while the tunnel is down or switching and when vpnctl is gone, until
 * `disconnect` or `set kill-switch off` deletes it. It is replaced atomically (one `nft -f`
 * transaction) and no other table is ever touched.  Settings live in VPNCTL_WG_DIR/vpnctl.json
 * (root's state, like the tunnel).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vpnctl.h"

#define SETTINGS_FILE "vpnctl.json"

static const char ruleset_head[] =
        /* Creating then deleting makes the load work whether or not the table exists. */
        "table inet " VPNCTL_NFT_TABLE "\n"
        "delete table inet " VPNCTL_NFT_TABLE "\n"
        "table inet " VPNCTL_NFT_TABLE " {\n"
        "\tcounter dropped_out {}\n"
        "\tcounter dropped_in {}\n";

static const char lan4[] = "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16, "
                           "224.0.0.0/4, 255.255.255.255";
static const char lan6[] = "fc00::/7, fe80::/10, ff00::/8";

int vpnctl_killswitch_render(char *buf, size_t len, int allow_lan)
{
	char lan_out[256] = "", lan_in[256] = "";
	int n;

	if (allow_lan) {
		snprintf(lan_out, sizeof(lan_out),
		         "\t\tip daddr { %s } accept\n\t\tip6 daddr { %s } accept\n", lan4, lan6);
		snprintf(lan_in, sizeof(lan_in),
		         "\t\tip saddr { %s } accept\n\t\tip6 saddr { %s } accept\n", lan4, lan6);
	}
	n = snprintf(buf, len,
	             "%s"
	             "\tchain output {\n"
	             "\t\ttype filter hook output priority filter; policy accept;\n"
	             "\t\toifname \"lo\" accept\n"
	             "\t\toifname { \"%s\", \"%s\" } accept\n"
	             "\t\tmeta mark %u accept\n"
	             "%s"
	             "\t\ticmpv6 type { nd-router-solicit, nd-neighbor-solicit, "
	             "nd-neighbor-advert } accept\n"
	             "\t\tcounter name dropped_out drop\n"
	             "\t}\n"
	             "\tchain input {\n"
	             "\t\ttype filter hook input priority filter; policy accept;\n"
	             "\t\tiifname \"lo\" accept\n"
	             "\t\tiifname { \"%s\", \"%s\" } accept\n"
	             "\t\tct state established,related accept\n"
	             "%s"
	             "\t\ticmpv6 type { nd-router-advert, nd-neighbor-solicit, "
	             "nd-neighbor-advert } accept\n"
	             "\t\tcounter name dropped_in drop\n"
	             "\t}\n"
	             "}\n",
	             ruleset_head, VPNCTL_IFACE, VPNCTL_ROTATE_IFACE, VPNCTL_FWMARK, lan_out,
	             VPNCTL_IFACE, VPNCTL_ROTATE_IFACE, lan_in);
	return n >= 0 && (size_t)n < len ? 0 : PV_EINVAL;
}

/* `nft -f` of text through an unnamed memory file: no file on disk, no shell. */
static int nft_load(const char *text, char *err, size_t errlen)
{
	char path[64];
	const char *argv[] = {"nft", "-f", path, NULL};
	int fd = vpnctl_memfd("vpnctl-nft", text, path, sizeof(path)), r;

	if (fd < 0) {
		snprintf(err, errlen, "cannot hand the ruleset to nft: %s", strerror(errno));
		return PV_EIO;
	}
	r = vpnctl_run(argv, NULL, err, errlen);
	close(fd);
	if (r == PV_ENOTFOUND)
		snprintf(err, errlen, "nft is missing: install nftables");
	return r == 0 ? 0 : r < 0 ? r : PV_EREMOTE;
}

int vpnctl_killswitch_on(int allow_lan, char *err, size_t errlen)
{
	char text[2048];

	if (vpnctl_killswitch_render(text, sizeof(text), allow_lan) < 0) {
		snprintf(err, errlen, "kill-switch ruleset too long");
		return PV_EINVAL;
	}
	return nft_load(text, err, errlen);
}

int vpnctl_killswitch_off(char *err, size_t errlen)
{
	return nft_load("table inet " VPNCTL_NFT_TABLE "\ndelete table inet " VPNCTL_NFT_TABLE "\n",
	                err, errlen);
}

int vpnctl_killswitch_active(void)
{
	const char *argv[] = {"nft", "list", "table", "inet", VPNCTL_NFT_TABLE, NULL};
	char err[128];

	return vpnctl_run(argv, NULL, err, sizeof(err)) == 0;
}

/* ---- settings (VPNCTL_WG_DIR/vpnctl.json) ----------------------------------- */

int vpnctl_settings_load(struct vpnctl_settings *s, const char *dir)
{
	char path[PATH_MAX], *text = NULL;
	json_int_t days = 0;
	int ks = 0, lan = 0, r;
	json_error_t je;
	json_t *j = NULL;
	size_t len;

	memset(s, 0, sizeof(*s));
	if (snprintf(path, sizeof(path), "%s/%s", dir, SETTINGS_FILE) >= (int)sizeof(path))
		return PV_EINVAL;
	r = pv_file_read(&text, &len, path, (size_t)4096, 1);
	if (r == PV_ENOTFOUND)
		return 0;
	if (r < 0)
		return r;
	r = PV_EINVAL;
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (j &&
	    json_unpack_ex(j, &je, 0, "{s?:b, s?:b, s?:I !}", "kill_switch", &ks,
	                   "kill_switch_allow_lan", &lan, "rotate_after_days", &days) == 0 &&
	    days >= 0 && days <= 3650) {
		s->kill_switch = ks;
		s->kill_switch_allow_lan = lan;
		s->rotate_after_days = (long)days;
		r = 0;
	}
	json_decref(j);
	free(text);
	return r;
}

int vpnctl_settings_save(const struct vpnctl_settings *s, const char *dir)
{
	json_t *j = json_pack("{s:b, s:b, s:I}", "kill_switch", s->kill_switch,
	                      "kill_switch_allow_lan", s->kill_switch_allow_lan,
	                      "rotate_after_days", (json_int_t)s->rotate_after_days);
	char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	int r = text ? vpnctl_write_secret_file(dir, SETTINGS_FILE, text, strlen(text)) : PV_ENOMEM;

	free(text);
	json_decref(j);
	return r;
}

uint32_t vpnctl_bypass_mark(void)
{
	uint32_t mark = vpnctl_tunnel_fwmark();

	return mark ? mark : geteuid() == 0 ? VPNCTL_FWMARK : 0;
}
