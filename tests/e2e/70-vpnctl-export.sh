#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vpnctl export / vpnadm user config end to end: configs for the official
# WireGuard apps, made with a key pair the controller generates and never
# stores, on a real fleet against the real controller over HTTPS.
# - export without a server picks one by latency; --qr-png and --output are
#   created O_CREAT|O_EXCL 0600 (strace); zbarimg decodes the PNG to exactly
#   the config file, byte for byte; the config holds only wg-quick basics;
# - that config brings up a tunnel with wg-quick in a second client namespace
#   (the "phone") and pings 10.7.0.1 through it; the server's peer is `wg
#   pubkey` of the config's private key;
# - the private key is nowhere on disk but the config file (client config dirs,
#   both clients' /etc/wireguard, the controller's files and DB, the server's
#   wg0.conf) and not in the controller's log;
# - an existing file is never overwritten and then no peer is provisioned;
#   this machine's own device is refused;
# - the terminal QR (no file) decodes too, read back from its half blocks;
# - revoke --device removes the exported device's peer and leaves the
#   laptop's own tunnel up;
# - vpnadm user config provisions for a user through the admin route, with an
#   audit row that holds no secret.
#
#   hub (br0) ── ctl 203.0.113.2 (vpn-controller, HTTPS :8443; vpnadm)
#             ── us-east-1 .11, us-west-1 .12 (Basic servers)
#             ── client alice .101 (laptop: vpnctl, Pro key), client phone .102 (wg-quick only)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=vpnctl-lib.sh
. "$(dirname "$0")/vpnctl-lib.sh"

require strace sqlite3 zbarimg python3 wg-quick
vpnctl_setup 2
tmp=$(e2e_tmp)
vpnctl_client alice pro
client_add phone >/dev/null
in_alice() { cli alice "$@"; }
in_phone() { cli phone "$@"; }
# peer_of DEVICE: the public key of alice's peer for DEVICE in the DB ("" if none).
peer_of() { db_sql "SELECT pubkey FROM peers WHERE user_id = 'alice' AND device = '$1'"; }

# A terminal QR (UTF-8 half blocks, light modules drawn, ANSI colours ignored)
# as a PGM image, 4 pixels a module, for zbarimg.
term_to_pgm() {
	python3 -c '
import re, sys
cells = {" ": (0, 0), "\u2580": (1, 0), "\u2584": (0, 1), "\u2588": (1, 1)}
rows = []
for line in sys.stdin.read().splitlines():
    line = re.sub("\x1b\\[[0-9;]*m", "", line)
    if not line:
        continue
    pairs = [cells[c] for c in line]
    rows += [[p[0] for p in pairs], [p[1] for p in pairs]]
s = 4
out = sys.stdout.buffer
out.write(b"P5 %d %d 255\n" % (len(rows[0]) * s, len(rows) * s))
for r in rows:
    line = bytes(255 if v else 0 for v in r for _ in range(s))
    out.write(line * s)
'
}

trace "laptop: connect, so that exports happen next to a running tunnel"
vc alice connect >/dev/null || fail "alice's connect failed"
laptop=$(jq -r .device "$CTL_T/xdg-alice/vpnctl/config.json")
laptop_pub=$(in_alice wg show pvpn0 public-key)

trace "export of this machine's own device is refused, and provisions nothing"
rc=0
vc alice export --device "$laptop" --output "$tmp/own.conf" 2>"$tmp/own.err" || rc=$?
[[ $rc == 1 ]] || fail "export of the laptop's own device should exit 1, got $rc"
grep -q "this machine's device" "$tmp/own.err" || fail "own device: $(cat "$tmp/own.err")"
[[ ! -e $tmp/own.conf ]] || fail "a refused export left $tmp/own.conf"
[[ $(peer_of "$laptop") == "$laptop_pub" ]] || fail "the refused export touched the laptop's peer"

trace "export --device phone with no server: latency pick, PNG and config file 0600 O_EXCL"
in_alice strace -qq -e trace=openat,chmod,fchmod,fchmodat -o "$tmp/strace.log" \
	env XDG_CONFIG_HOME="$CTL_T/xdg-alice" "$VPNCTL" export --device phone \
	--qr-png "$tmp/phone.png" --output "$tmp/phone.conf" 2>"$tmp/export.err" ||
	fail "export failed: $(cat "$tmp/export.err")"
grep -q '^Picked ' "$tmp/export.err" || fail "no pick reported: $(cat "$tmp/export.err")"
for f in phone.png phone.conf; do
	line=$(grep -F "\"$tmp/$f\"" "$tmp/strace.log" || true)
	[[ $(wc -l <<<"$line") == 1 && $line == *O_CREAT* && $line == *O_EXCL* && $line == *', 0600)'* ]] ||
		fail "$f not created O_CREAT|O_EXCL 0600: $line"
	[[ $(stat -c %a "$tmp/$f") == 600 ]] || fail "$f is $(stat -c %a "$tmp/$f"), not 600"
done
! grep -q chmod "$tmp/strace.log" || fail "export changed a mode after creating a file"

trace "zbarimg decodes the PNG to exactly the config (zbarimg adds one newline)"
zbarimg -q --raw "$tmp/phone.png" 2>"$tmp/zbar.err" | head -c -1 | cmp -s - "$tmp/phone.conf" ||
	fail "the PNG's QR code does not decode to phone.conf"
keys=$(grep -v '^\[\|^$' "$tmp/phone.conf" | sed 's/ = .*//' | sort | tr '\n' ' ')
[[ $keys == "Address AllowedIPs Endpoint PersistentKeepalive PresharedKey PrivateKey PublicKey " ]] ||
	fail "the config has other keys than the wg-quick basics: $keys"
priv=$(sed -n 's/^PrivateKey = //p' "$tmp/phone.conf")
pub=$(wg pubkey <<<"$priv")
[[ $(peer_of phone) == "$pub" ]] || fail "the DB's phone peer is not wg pubkey of the config's key"
server=$(db_sql "SELECT server_id FROM peers WHERE user_id = 'alice' AND device = 'phone'")
srv "$server" wg show wg0 peers | grep -xF "$pub" >/dev/null || fail "$server lacks the phone's peer"

trace "the phone brings the config up with wg-quick and pings through it"
in_phone wg-quick up "$tmp/phone.conf" 2>"$tmp/wgquick.err" || fail "wg-quick up: $(cat "$tmp/wgquick.err")"
in_phone ping -c 3 -W 3 10.7.0.1 >/dev/null || fail "the phone cannot ping 10.7.0.1 through the tunnel"
[[ $(in_phone wg show phone latest-handshakes | cut -f2) != 0 ]] || fail "the phone has no handshake"
in_alice ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "the laptop's tunnel broke"

trace "the private key is only in phone.conf: not in config dirs, /etc/wireguard, DB or log"
grep -aqF "$pub" "$CTL_DB" "$CTL_DB-wal" 2>/dev/null ||
	fail "the public key is not in the DB files (the search below would prove nothing)"
found=$(grep -rlaF -- "$priv" "$CTL_T" "$FLEET_DIR" 2>/dev/null || true)
[[ $found == "$tmp/phone.conf" ]] || fail "the private key is in other files: $found"
echo "$priv" >>"$CTL_SEEN" # for check_log_clean, after the search of every file
! in_alice grep -rqaF -- "$priv" /etc/wireguard || fail "the private key is in the laptop's /etc/wireguard"
! in_phone grep -rqaF -- "$priv" /etc/wireguard || fail "the private key is in the phone's /etc/wireguard"
! srv "$server" grep -qaF -- "$priv" /etc/wireguard/wg0.conf || fail "the private key reached the server"
check_log_clean

trace "an existing file is never overwritten, and then nothing is provisioned"
sum=$(sha256sum <"$tmp/phone.conf")
rc=0
vc alice export "$server" --device phone2 --output "$tmp/phone.conf" 2>"$tmp/exists.err" || rc=$?
[[ $rc == 5 ]] || fail "export over an existing file should exit 5, got $rc"
grep -q 'never overwritten' "$tmp/exists.err" || fail "existing file: $(cat "$tmp/exists.err")"
[[ $(sha256sum <"$tmp/phone.conf") == "$sum" ]] || fail "phone.conf was changed"
[[ -z $(peer_of phone2) ]] || fail "a refused export provisioned phone2"

trace "the terminal QR (no file) decodes to a config of the tablet's peer"
vc alice export us-east-1 --device tablet >"$tmp/tablet.txt" 2>/dev/null || fail "export --qr failed"
grep -q $'\xe2\x96\x88' "$tmp/tablet.txt" || fail "no half blocks on stdout"
term_to_pgm <"$tmp/tablet.txt" >"$tmp/tablet.pgm"
tablet_pub=$(zbarimg -q --raw "$tmp/tablet.pgm" 2>"$tmp/zbar.err" | sed -n 's/^PrivateKey = //p' | wg pubkey) ||
	fail "the terminal QR does not decode to a config with a PrivateKey"
rm -f "$tmp/tablet.pgm" "$tmp/tablet.txt"
[[ $(peer_of tablet) == "$tablet_pub" ]] || fail "the terminal QR's key is not the tablet's peer"

trace "revoke --device phone removes the phone's peer; the laptop's tunnel stays"
vc alice revoke --device phone --json >"$tmp/revoke.json" || fail "revoke --device phone failed"
jq -e --arg s "$server" '.revoked == 1 and .servers == [$s] and .removed == null' "$tmp/revoke.json" \
	>/dev/null || fail "revoke --device: $(cat "$tmp/revoke.json")"
! srv "$server" wg show wg0 peers | grep -xF "$pub" >/dev/null || fail "$server still has the phone's peer"
[[ -z $(peer_of phone) ]] || fail "the phone's peer is still in the DB"
in_alice test -e /etc/wireguard/pvpn0.conf || fail "revoke --device phone removed the laptop's tunnel file"
in_alice ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "revoke --device phone broke the laptop's tunnel"
in_phone wg-quick down "$tmp/phone.conf" 2>/dev/null || fail "wg-quick down on the phone"
vc alice revoke --device tablet >/dev/null || fail "revoke --device tablet failed"

trace "vpnadm user config: the admin route provisions for alice, audited without secrets"
ADM_CONF=$CTL_T/xdg-adm
adm() { ctl env XDG_CONFIG_HOME="$ADM_CONF" "$PV_BUILD/client-cli/vpnadm" "$@"; }
echo "$CTL_ADMIN" | adm login "$CTL_URL" --cacert "$CTL_CA" >/dev/null || fail "vpnadm login failed"
adm user config alice --device watch --qr-png "$tmp/watch.png" --output "$tmp/watch.conf" \
	2>"$tmp/adm.err" || fail "vpnadm user config failed: $(cat "$tmp/adm.err")"
[[ $(stat -c %a "$tmp/watch.conf") == 600 && $(stat -c %a "$tmp/watch.png") == 600 ]] ||
	fail "vpnadm's files are not 0600"
zbarimg -q --raw "$tmp/watch.png" 2>"$tmp/zbar.err" | head -c -1 | cmp -s - "$tmp/watch.conf" ||
	fail "vpnadm's PNG does not decode to its config"
wpriv=$(sed -n 's/^PrivateKey = //p' "$tmp/watch.conf")
[[ $(peer_of watch) == "$(wg pubkey <<<"$wpriv")" ]] || fail "the watch's peer is not alice's"
audit=$(db_sql "SELECT actor || ' ' || action || ' ' || subject FROM audit WHERE action = 'user.config'")
[[ $audit == "admin user.config alice" ]] || fail "audit row: $audit"
found=$(grep -rlaF -- "$wpriv" "$CTL_T" 2>/dev/null || true)
[[ $found == "$tmp/watch.conf" ]] || fail "the watch's private key is in other files: $found"
echo "$wpriv" >>"$CTL_SEEN"
rc=0
adm user config nobody --device watch --output "$tmp/nobody.conf" 2>/dev/null || rc=$?
[[ $rc != 0 && ! -e $tmp/nobody.conf ]] || fail "config for an unknown user: exit $rc"
vc alice revoke --device watch >/dev/null || fail "revoke --device watch failed"
[[ -z $(peer_of watch) ]] || fail "the watch's peer survived its revoke"
check_log_clean

pass
