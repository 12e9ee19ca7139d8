#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A real handshake across the fleet network: client namespace "alice"
# (203.0.113.101, wireguard-go via wg-quick, private /etc/wireguard) is added
# on a bootstrapped server the way the product does it (a # BEGIN_PEER block
# in wg0.conf + `wg addconf`, PSK never in argv), pings 10.7.0.1 and
# fddd:2c4:2c4:2c4::1 through the tunnel, and reaches the controller
# (203.0.113.2) through the server's forwarding + masquerade.  `fleet stop`
# makes the server silent (timeouts), `fleet start` brings it back.
#
#   alice 203.0.113.101 ── hub ── us-east-1 203.0.113.11 (wg0 10.7.0.1) ── ctl 203.0.113.2
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require ping

fleet_up 2
read -r -a ids <<<"$SERVER_IDS"
id=${ids[0]}

client_add alice >/dev/null
tunnel_up alice "$id" 2
alice_pub=$TUNNEL_PUB
[[ $(srv "$id" wg show wg0 allowed-ips) == "$alice_pub	10.7.0.2/32 fddd:2c4:2c4:2c4::2/128" ]] ||
	fail "alice is not on the server's live interface"
[[ $(srv "$id" sed -n '/^# BEGIN_PEER alice$/,/^# END_PEER alice$/p' /etc/wireguard/wg0.conf | wc -l) == 6 ]] ||
	fail "alice's block is not in wg0.conf"
cli alice test -S /run/wireguard/pv0.sock || fail "no wireguard-go socket in alice's /run/wireguard"
[[ ! -e /run/wireguard/pv0.sock ]] || fail "alice's wireguard-go socket leaked into the host's /run/wireguard"

WAIT_S=30 wait_for cli alice ping -c 1 -W 1 10.7.0.1
hs=$(srv "$id" wg show wg0 latest-handshakes | awk -v k="$alice_pub" '$1 == k { print $2 }')
if ! [[ $hs =~ ^[0-9]+$ ]] || ((hs == 0)); then fail "server saw no handshake from alice ($hs)"; fi
trace "handshake at $hs; 10.7.0.1 answers through the tunnel"
WAIT_S=30 wait_for cli alice ping -c 1 -W 1 fddd:2c4:2c4:2c4::1

# Forwarding + masquerade: the controller has no route to 10.7.0.0/24, so its
# reply can only come back if the server rewrote alice's source address.
WAIT_S=30 wait_for cli alice ping -c 1 -W 1 -I pv0 203.0.113.2

# The other server never heard of alice: its firewall drops her silently.
[[ -z $(srv "${ids[1]}" wg show wg0 peers) ]] || fail "${ids[1]} has peers"

# fleet stop: silence (timeouts, not refusals); fleet start: back.
srv_stop "$id"
if cli alice ping -c 1 -W 1 203.0.113.11 >/dev/null; then fail "stopped server answered ping"; fi
out=$(cli alice timeout 3 bash -c 'exec 3<>/dev/tcp/203.0.113.11/51820' 2>&1 || echo "rc=$?")
[[ $out == *"rc=124"* ]] || fail "stopped server should time out on TCP 51820, got: $out"
srv_start "$id"
out=$(cli alice timeout 30 bash -c 'exec 3<>/dev/tcp/203.0.113.11/51820' 2>&1 || echo "rc=$?")
[[ $out == *"Connection refused"* ]] || fail "started server should refuse TCP 51820, got: $out"
WAIT_S=30 wait_for cli alice ping -c 1 -W 1 10.7.0.1

cli alice wg-quick down pv0 2>/dev/null
pass
