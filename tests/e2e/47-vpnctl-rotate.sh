#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Key rotation, make-before-break, no packet lost: while a ping runs every
# 2 ms through the tunnel, `vpnctl rotate` provisions a temporary and a final
# peer, carries the traffic through a second interface (pvpn0r, the
# temporary key) while pvpn0 takes the final key and address, and brings the
# routes back.  Four rotations, not one ping lost in any (before the detour,
# switching pvpn0 in place lost one ping in four rotations out of six at this
# rate: a packet routed with the old address between the key and the address
# change reached the server under the new key and was dropped).  After each,
# the server holds only the new key, which is `wg pubkey` of the tunnel
# file's private key, and the detour is gone; rotations alternate the device
# between NAME.r and NAME; with the kill switch on, the detour's traffic
# passes as pvpn0's does; IPv6 takes the detour as IPv4 does.  When the detour gets no handshake (the client's
# firewall drops it), rotate fails and everything is as before, again
# without a lost ping.  A rotate killed midway leaves the traffic on pvpn0r;
# `disconnect` removes it and `connect` works again.  `set rotate-after` makes `status` say when one is
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

# Lost pings: echo requests unanswered among those before the last answered
# (the ones still on their way when ping stops are not lost).
lost_pings() {
	awk -F'icmp_seq=' '/bytes from/ { split($2, a, " "); got[a[1]] = 1; if (a[1] > max) max = a[1] }
		END { n = 0; for (i = 1; i <= max; i++) if (!(i in got)) n++; print n " of " max }' "$1"
}
last_seq() { sed -n 's/.*icmp_seq=\([0-9]*\) .*/\1/p' "$1" | tail -1; }
answered_after() { (($(last_seq "$1") > $2)); }

rotations=0
rotate_under_ping() {
	local old_pub new_pub want_device=$1 dest=${2:-10.7.0.1} bg ping_pid seq lost
	local out=$tmp/ping-$((++rotations)).txt pidfile=$tmp/ping-$rotations.pid
	old_pub=$(cli ria wg show pvpn0 public-key)
	[[ $(peers) == "$old_pub" ]] || fail "before rotate: server peers $(peers), want $old_pub"
	# ping's own pid (a background `cli` is a subshell), to stop it with SIGINT.
	# shellcheck disable=SC2016 # expanded by sh
	cli ria sh -c 'echo $$ >"$1"; exec ping -n -i 0.002 -W 2 "$2"' sh "$pidfile" "$dest" \
		>"$out" 2>&1 &
	bg=$!
	WAIT_S=10 wait_for grep -q 'bytes from' "$out"
	ping_pid=$(cat "$pidfile")
	vc ria rotate --json >"$tmp/rotate.json" || fail "rotate failed"
	# Pings sent after the switch are answered too, then ping stops.
	seq=$(last_seq "$out")
	wait_for answered_after "$out" $((seq + 200))
	kill -INT "$ping_pid"
	wait "$bg" || true
	lost=$(lost_pings "$out")
	trace "pings to $dest lost during rotation $rotations: $lost"
	[[ $lost == "0 of "* ]] || fail "$lost pings lost during rotation $rotations"
	new_pub=$(cli ria wg show pvpn0 public-key)
	[[ $new_pub != "$old_pub" ]] || fail "the key did not change"
	jq -e --arg o "$old_pub" --arg n "$new_pub" --arg d "$want_device" \
		'.old_public_key == $o and .public_key == $n and .device == $d' "$tmp/rotate.json" >/dev/null ||
		fail "rotate --json: $(cat "$tmp/rotate.json")"
	[[ $(peers) == "$new_pub" ]] || fail "after rotate: server peers $(peers), want only $new_pub"
	[[ $(file_pub) == "$new_pub" ]] || fail "the tunnel file does not hold the new key"
	! cli ria ip link show pvpn0r >/dev/null 2>&1 || fail "the detour interface pvpn0r is still up"
	! cli ria test -e /etc/wireguard/pvpn0r.conf || fail "the detour's file is left behind"
	vc ria status --json | jq -e --arg d "$want_device" '.connected and .device == $d' >/dev/null ||
		fail "status after rotate: $(vc ria status --json)"
}

# The routes, IPv4 and IPv6, but the interfaces' own (local, broadcast,
# multicast, link-local) and the address a route was made for: a rotation
# gives back each route it moved, to the same interface and table.
routes() {
	{ cli ria ip -4 route show table all; cli ria ip -6 route show table all; } |
		grep -v '^local \|^broadcast \|^multicast \|^fe80' |
		sed 's/ proto kernel//; s/ src [^ ]*//' | sort
}
routes_before=$(routes)
trace "rotations under a ping every 2 ms: none lost, only the new peer left"
rotate_under_ping laptop.r
rotate_under_ping laptop
rotate_under_ping laptop.r
rotate_under_ping laptop
trace "with the kill switch on, the detour's traffic passes too"
vc ria set kill-switch on >/dev/null || fail "set kill-switch on failed"
rotate_under_ping laptop.r
vc ria set kill-switch off >/dev/null || fail "set kill-switch off failed"
trace "IPv6 through the tunnel during a rotation: none lost either"
rotate_under_ping laptop fddd:2c4:2c4:2c4::1
[[ $(routes) == "$routes_before" ]] || fail "the routes changed: $(diff <(echo "$routes_before") <(routes))"
cli ria ping -n -c 1 -W 2 10.7.0.1 >/dev/null || fail "no ping through the tunnel after the rotations"
[[ $(db_sql "SELECT count(*) FROM peers WHERE device LIKE 'laptop%'") == 1 ]] ||
	fail "the DB keeps $(db_sql "SELECT count(*) FROM peers WHERE device LIKE 'laptop%'") peers for the device"

trace "the detour gets no handshake: rotate fails, the tunnel is as before, no ping lost"
# A real fault: the client's firewall drops WireGuard packets from any port
# but pvpn0's, so the detour's handshake never leaves.
endpoint=$(cli ria wg show pvpn0 endpoints | cut -f2)
cli ria nft -f - <<EOF || fail "the test's firewall table"
table inet pvtest47 {
	chain output {
		type filter hook output priority 0; policy accept;
		ip daddr ${endpoint%:*} udp dport ${endpoint##*:} udp sport != $(cli ria wg show pvpn0 listen-port) drop
	}
}
EOF
old_pub=$(cli ria wg show pvpn0 public-key)
# shellcheck disable=SC2016 # expanded by sh
cli ria sh -c 'echo $$ >"$1"; exec ping -n -i 0.002 -W 2 10.7.0.1' sh "$tmp/ping-fail.pid" \
	>"$tmp/ping-fail.txt" 2>&1 &
bg=$!
WAIT_S=10 wait_for grep -q 'bytes from' "$tmp/ping-fail.txt"
rc=0
vc ria rotate --wait 2 >/dev/null 2>"$tmp/rotate-fail.err" || rc=$?
[[ $rc == 4 ]] || fail "rotate without a detour handshake: exit $rc, want 4: $(cat "$tmp/rotate-fail.err")"
grep -q 'no handshake on pvpn0r' "$tmp/rotate-fail.err" || fail "rotate's error: $(cat "$tmp/rotate-fail.err")"
seq=$(last_seq "$tmp/ping-fail.txt")
wait_for answered_after "$tmp/ping-fail.txt" $((seq + 200))
kill -INT "$(cat "$tmp/ping-fail.pid")"
wait "$bg" || true
lost=$(lost_pings "$tmp/ping-fail.txt")
[[ $lost == "0 of "* ]] || fail "$lost pings lost during the failed rotation"
cli ria nft delete table inet pvtest47
[[ $(cli ria wg show pvpn0 public-key) == "$old_pub" ]] || fail "the failed rotate changed the key"
[[ $(peers) == "$old_pub" ]] || fail "after the failed rotate: server peers $(peers), want only $old_pub"
! cli ria ip link show pvpn0r >/dev/null 2>&1 || fail "the failed rotate left pvpn0r up"
! cli ria test -e /etc/wireguard/pvpn0r.conf || fail "the failed rotate left pvpn0r.conf"
[[ $(routes) == "$routes_before" ]] || fail "the failed rotate changed the routes"
[[ $(db_sql "SELECT count(*) FROM peers WHERE device LIKE 'laptop%'") == 1 ]] ||
	fail "the failed rotate left $(db_sql "SELECT count(*) FROM peers WHERE device LIKE 'laptop%'") peers"

trace "a rotate killed while pvpn0 waits for its new handshake: traffic stays up, disconnect and connect recover"
# The client's firewall drops pvpn0's handshake initiations (WireGuard message
# type 1), so the rotate waits with the routes on pvpn0r; then it is killed.
cli ria nft -f - <<EOF || fail "the test's firewall table"
table inet pvtest47 {
	chain output {
		type filter hook output priority 0; policy accept;
		udp sport $(cli ria wg show pvpn0 listen-port) @th,64,8 1 drop
	}
}
EOF
# shellcheck disable=SC2016 # expanded by sh
cli ria sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$tmp/rotate.pid" \
	env XDG_CONFIG_HOME="$CTL_T/xdg-ria" "$VPNCTL" rotate --wait 60 >/dev/null 2>&1 &
bg=$!
detour_routed() { [[ -n $(cli ria ip route show table all dev pvpn0r 2>/dev/null) ]]; }
wait_for detour_routed
kill -KILL "$(cat "$tmp/rotate.pid")"
wait "$bg" || true
cli ria nft delete table inet pvtest47
cli ria ping -n -c 3 -i 0.2 -W 2 10.7.0.1 >/dev/null || fail "no ping through the detour a killed rotate left"
vc ria disconnect >/dev/null || fail "disconnect after a killed rotate failed"
! cli ria ip link show pvpn0r >/dev/null 2>&1 || fail "disconnect left pvpn0r up"
! cli ria test -e /etc/wireguard/pvpn0r.conf || fail "disconnect left pvpn0r.conf"
vc ria connect "$server" --device laptop >/dev/null || fail "connect after a killed rotate failed"
cli ria ping -n -c 1 -W 2 10.7.0.1 >/dev/null || fail "no ping after reconnecting"

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
