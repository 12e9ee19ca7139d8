#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The kill switch in a client namespace of the real fleet.  A table of the
# test's own (`inet pvtest`, output hook at priority 100, after vpnctl's at
# priority 0) counts what vpnctl's table let out on the underlay: to the
# WireGuard endpoint, and anything else but IPv6 neighbour discovery ("leaked").  With `connect
# --kill-switch` and the server's WireGuard stopped (`fleet stop`: it drops
# everything), a ping to another host fails, the tunnel's packets still go
# to the endpoint, nothing leaks, and vpnctl's drop counter counted the ping.
# `disconnect --keep-locked` keeps the lock; `disconnect` lifts it and
# traffic flows; the test's own table survives all of it.  `set kill-switch
# on --allow-lan` locks without a tunnel but lets a private-range neighbour
# through, and vpnctl's own API calls and probes still work (they carry the
# mark); `set kill-switch off` lifts it.
#
#   hub (br0) ── ctl 203.0.113.2 (vpn-controller, HTTPS)
#             ── us-east-1 .11 (the tunnel), us-west-1 .12 (+ 192.168.77.12/24, "the LAN")
#             ── client kim .101 (Pro key, + 192.168.77.101/24)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=vpnctl-lib.sh
. "$(dirname "$0")/vpnctl-lib.sh"

vpnctl_setup 2
tmp=$(e2e_tmp)
vpnctl_client kim pro
entry=us-east-1
entry_addr=$(srv_addr "$entry")
other_addr=$(srv_addr us-west-1)
srv us-west-1 ip addr add 192.168.77.12/24 dev eth0
cli kim ip addr add 192.168.77.101/24 dev eth0

cli kim nft -f - <<EOF || fail "the test's counting table"
table inet pvtest {
	counter to_endpoint {}
	counter leaked {}
	chain output {
		type filter hook output priority 100; policy accept;
		oifname { "lo", "pvpn0" } accept
		ip daddr $entry_addr udp dport 51820 counter name to_endpoint accept
		icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept
		counter name leaked
	}
}
EOF
count() { cli kim nft -j list counter inet "$1" "$2" | jq '.nftables[1].counter.packets'; }
reset() { cli kim nft reset counters table inet pvtest >/dev/null; }
locked() { cli kim nft list table inet vpnctl >/dev/null 2>&1; }

trace "connect --kill-switch: the table is in, the tunnel works"
vc kim connect "$entry" --kill-switch --json >"$tmp/connect.json" || fail "connect --kill-switch failed"
locked || fail "no inet vpnctl table after connect --kill-switch"
vc kim status --json | jq -e '.connected and .kill_switch' >/dev/null || fail "status does not say locked"
cli kim ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "no ping through the tunnel with the kill switch on"
! cli kim ping -c 1 -W 1 "$other_addr" >/dev/null 2>&1 || fail "$other_addr reached outside the tunnel"

trace "the server's WireGuard stops: nothing leaves except to the endpoint"
srv_stop "$entry"
reset
dropped_before=$(count vpnctl dropped_out)
! cli kim ping -c 2 -W 1 "$other_addr" >/dev/null 2>&1 || fail "$other_addr reached with the tunnel down"
! cli kim ping -c 2 -W 1 10.7.0.1 >/dev/null 2>&1 || fail "10.7.0.1 answered with the server stopped"
! cli kim curl -s --max-time 2 --cacert "$CTL_CA" -o /dev/null "$CTL_URL/api/health" || fail "an unmarked connection got out"
[[ $(count pvtest leaked) == 0 ]] || fail "$(count pvtest leaked) packets leaked past the kill switch"
[[ $(count pvtest to_endpoint) -gt 0 ]] || fail "the tunnel's packets did not reach the endpoint rule"
(($(count vpnctl dropped_out) >= dropped_before + 2)) || fail "vpnctl's table did not count the drops"
locked || fail "the kill switch went away"
srv_start "$entry"

trace "disconnect --keep-locked keeps it, disconnect lifts it, and traffic flows"
vc kim disconnect --keep-locked >/dev/null || fail "disconnect --keep-locked failed"
locked || fail "--keep-locked lifted the kill switch"
! cli kim ping -c 1 -W 1 "$other_addr" >/dev/null 2>&1 || fail "$other_addr reached while kept locked"
vc kim disconnect --json >"$tmp/disconnect.json" || fail "disconnect failed"
jq -e '.kill_switch_lifted == true' "$tmp/disconnect.json" >/dev/null || fail "disconnect: $(cat "$tmp/disconnect.json")"
! locked || fail "disconnect left the kill switch"
cli kim ping -c 1 -W 3 "$other_addr" >/dev/null || fail "no traffic after disconnect"
cli kim nft list table inet pvtest >/dev/null || fail "vpnctl touched the test's own table"

trace "set kill-switch on --allow-lan: locked without a tunnel, the LAN and vpnctl itself pass"
vc kim set kill-switch on --allow-lan --json >"$tmp/set.json" || fail "set kill-switch on failed"
jq -e '.kill_switch and .kill_switch_allow_lan' "$tmp/set.json" >/dev/null || fail "set: $(cat "$tmp/set.json")"
locked || fail "set kill-switch on installed no table"
! cli kim ping -c 1 -W 1 "$other_addr" >/dev/null 2>&1 || fail "$other_addr reached while locked"
cli kim ping -c 1 -W 3 192.168.77.12 >/dev/null || fail "the LAN neighbour is blocked with --allow-lan"
vc kim servers --json >"$tmp/servers.json" || fail "vpnctl servers (marked) failed while locked"
jq -e '(.servers | length) == 2 and all(.servers[]; .reachable)' "$tmp/servers.json" >/dev/null ||
	fail "probes while locked: $(cat "$tmp/servers.json")"
[[ $(cli kim cat /etc/wireguard/vpnctl.json | jq .kill_switch) == true ]] || fail "setting not stored"

trace "a connect under the persistent setting keeps the lock; set kill-switch off lifts it"
vc kim connect "$entry" >/dev/null || fail "connect under the setting failed"
cli kim ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "no ping through the tunnel under the setting"
vc kim set kill-switch off >/dev/null || fail "set kill-switch off failed"
! locked || fail "set kill-switch off left the table"
cli kim ping -c 1 -W 3 "$other_addr" >/dev/null || fail "no traffic after set kill-switch off"
vc kim disconnect >/dev/null || fail "disconnect failed"
cli kim nft list table inet pvtest >/dev/null || fail "vpnctl touched the test's own table"

pass
