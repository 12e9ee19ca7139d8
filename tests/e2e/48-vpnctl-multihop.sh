#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Multi-hop: `vpnctl connect --via ENTRY EXIT` brings up pvpn1 to ENTRY
# (carrying only EXIT's endpoint) and pvpn0 to EXIT inside it.  On EXIT, the
# client's peer has ENTRY's address as its endpoint and the client's own
# address appears nowhere; on ENTRY, the hop's peer comes from the client;
# the client pings 10.7.0.1 through EXIT (EXIT's peer counts the bytes).
# `disconnect` takes both down; a plain connect afterwards revokes the entry
# peer; `revoke --all` leaves nothing.
#
#   hub (br0) ── ctl 203.0.113.2 (vpn-controller, HTTPS)
#             ── us-east-1 .11 (ENTRY), us-west-1 .12 (EXIT)
#             ── client hop .101 (Pro key)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=vpnctl-lib.sh
. "$(dirname "$0")/vpnctl-lib.sh"

vpnctl_setup 2
tmp=$(e2e_tmp)
vpnctl_client hop pro
client_addr=$(cat "$FLEET_DIR/clients/hop/addr")
entry=us-east-1
exit_id=us-west-1
entry_addr=$(srv_addr "$entry")

trace "connect --via $entry $exit_id"
vc hop connect --via "$entry" "$exit_id" --json >"$tmp/connect.json" || fail "multi-hop connect failed"
jq -e --arg e "$entry" --arg x "$exit_id" '.server_id == $x and .via == $e' "$tmp/connect.json" \
	>/dev/null || fail "connect --json: $(cat "$tmp/connect.json")"
exit_pub=$(cli hop wg show pvpn0 public-key)
hop_pub=$(cli hop wg show pvpn1 public-key)
[[ $(cli hop wg show pvpn1 allowed-ips | cut -f2) == "$(srv_addr "$exit_id")/32" ]] ||
	fail "the hop carries more than the exit's endpoint: $(cli hop wg show pvpn1 allowed-ips)"

mtu() { cli hop cat "/sys/class/net/$1/mtu"; }
(($(mtu pvpn0) == $(mtu pvpn1) - 80)) || fail "MTU: pvpn0 $(mtu pvpn0), pvpn1 $(mtu pvpn1)"

trace "the exit sees the entry's address, never the client's"
cli hop ping -c 3 -W 3 10.7.0.1 >/dev/null || fail "no ping through the exit"
exit_ep=$(srv "$exit_id" wg show wg0 endpoints | awk -v k="$exit_pub" '$1 == k { print $2 }')
[[ $exit_ep == "$entry_addr":* ]] || fail "the exit sees endpoint '$exit_ep', not $entry_addr"
! grep -qF "$client_addr" <<<"$(srv "$exit_id" wg show wg0 dump)" || fail "the exit knows the client's address"
entry_ep=$(srv "$entry" wg show wg0 endpoints | awk -v k="$hop_pub" '$1 == k { print $2 }')
[[ $entry_ep == "$client_addr":* ]] || fail "the entry sees endpoint '$entry_ep', not the client"
rx=$(srv "$exit_id" wg show wg0 transfer | awk -v k="$exit_pub" '$1 == k { print $2 }')
((rx > 0)) || fail "the exit's peer received nothing"
vc hop status --json | jq -e --arg e "$entry" '.connected and .via == $e' >/dev/null ||
	fail "status: $(vc hop status --json)"

trace "disconnect takes both tunnels down"
vc hop disconnect >/dev/null || fail "disconnect failed"
! cli hop ip link show pvpn0 >/dev/null 2>&1 || fail "pvpn0 survived disconnect"
! cli hop ip link show pvpn1 >/dev/null 2>&1 || fail "pvpn1 survived disconnect"

trace "a plain connect afterwards drops the hop and its peer on the entry"
vc hop connect --via "$entry" "$exit_id" >/dev/null || fail "second multi-hop connect failed"
vc hop connect "$exit_id" --json >"$tmp/plain.json" || fail "plain connect failed"
! cli hop ip link show pvpn1 >/dev/null 2>&1 || fail "pvpn1 survived a plain connect"
[[ -z $(srv "$entry" wg show wg0 peers) ]] || fail "the entry peer survived: $(srv "$entry" wg show wg0 peers)"
cli hop ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "no ping after the plain connect"

vc hop revoke --all >/dev/null || fail "revoke --all failed"
[[ -z $(srv "$exit_id" wg show wg0 peers) && -z $(srv "$entry" wg show wg0 peers) ]] ||
	fail "peers left after revoke --all"
pass
