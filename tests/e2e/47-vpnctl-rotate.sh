#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Key rotation, make-before-break: while a ping runs every 0.2 s through the
# tunnel, `vpnctl rotate` provisions a new peer (device NAME.r), switches the
# running interface to the new key and address, waits for its handshake, and
# only then revokes the old peer.  At most one ping is lost per rotation: the
# key and the address change in two steps (wg, then ip), and a ping sent in
# the few milliseconds between them carries the old address over the new
# key, which the server refuses (docs/vpnctl.md says so; issue 13 wants none
# lost, so that stays open).  The server ends with only
# the new key, which is `wg pubkey` of the tunnel file's private key; a second
# rotate goes back to NAME; `set rotate-after` makes `status` say when one is
# due.
#
#   hub (br0) ── ctl 203.0.113.2 (vpn-controller, HTTPS)
#             ── us-east-1 .11
#             ── client ria .101 (Pro key, device laptop)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=vpnctl-lib.sh
. "$(dirname "$0")/vpnctl-lib.sh"

vpnctl_setup 1
tmp=$(e2e_tmp)
vpnctl_client ria pro
server=us-east-1
vc ria connect "$server" --device laptop --json >"$tmp/connect.json" || fail "connect failed"
peers() { srv "$server" wg show wg0 peers | sort; }
file_pub() { wg pubkey < <(cli ria sed -n 's/^PrivateKey = //p' /etc/wireguard/pvpn0.conf); }

rotate_under_ping() {
	local old_pub new_pub want_device=$1
	old_pub=$(cli ria wg show pvpn0 public-key)
	[[ $(peers) == "$old_pub" ]] || fail "before rotate: server peers $(peers), want $old_pub"
	cli ria ping -n -i 0.2 -c 40 -W 2 10.7.0.1 >"$tmp/ping.txt" 2>&1 &
	local ping_pid=$!
	WAIT_S=10 wait_for grep -q 'bytes from' "$tmp/ping.txt"
	vc ria rotate --json >"$tmp/rotate.json" || fail "rotate failed"
	wait "$ping_pid" || true
	grep -Eq '40 packets transmitted, (39|40) received' "$tmp/ping.txt" ||
		fail "more than one ping lost during the rotation: $(tail -2 "$tmp/ping.txt")"
	new_pub=$(cli ria wg show pvpn0 public-key)
	[[ $new_pub != "$old_pub" ]] || fail "the key did not change"
	jq -e --arg o "$old_pub" --arg n "$new_pub" --arg d "$want_device" \
		'.old_public_key == $o and .public_key == $n and .device == $d' "$tmp/rotate.json" >/dev/null ||
		fail "rotate --json: $(cat "$tmp/rotate.json")"
	[[ $(peers) == "$new_pub" ]] || fail "after rotate: server peers $(peers), want only $new_pub"
	[[ $(file_pub) == "$new_pub" ]] || fail "the tunnel file does not hold the new key"
	vc ria status --json | jq -e --arg d "$want_device" '.connected and .device == $d' >/dev/null ||
		fail "status after rotate: $(vc ria status --json)"
}

trace "rotate under a ping every 0.2 s: at most one ping lost, only the new peer left"
rotate_under_ping laptop.r
trace "a second rotate goes back to the device's own name"
rotate_under_ping laptop
[[ $(db_sql "SELECT count(*) FROM peers WHERE device LIKE 'laptop%'") == 1 ]] ||
	fail "the DB keeps $(db_sql "SELECT count(*) FROM peers WHERE device LIKE 'laptop%'") peers for the device"

trace "set rotate-after: status says when a rotation is due"
vc ria set rotate-after 30 >/dev/null || fail "set rotate-after failed"
vc ria status --json | jq -e '.rotate_after_days == 30 and .rotation_due == false and .key_age_days == 0' \
	>/dev/null || fail "status with rotate-after: $(vc ria status --json)"
cli ria touch -d '31 days ago' /etc/wireguard/pvpn0.conf
vc ria status --json | jq -e '.rotation_due == true and .key_age_days == 31' >/dev/null ||
	fail "status of a 31-day-old key: $(vc ria status --json)"
grep -q 'vpnctl rotate' <<<"$(vc ria status)" || fail "status does not name the next step"

vc ria revoke --all >/dev/null || fail "revoke --all failed"
[[ -z $(peers) ]] || fail "peers left after revoke --all: $(peers)"
pass
