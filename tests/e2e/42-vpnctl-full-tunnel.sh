#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vpnctl with a full tunnel (AllowedIPs 0.0.0.0/0, ::/0: wg-quick's fwmark and
# policy routing).  When the tunnel's server dies, everything sent normally
# would vanish into the dead tunnel; vpnctl marks its probes and its API calls
# with the tunnel's fwmark, so `servers` still measures the other servers, the
# controller stays reachable, and `connect` moves to a live server.
#
#   hub (br0) ── ctl 203.0.113.2 (vpn-controller, HTTPS, full-tunnel configs)
#             ── 4 servers .11-.14 (the one erin is on gets stopped)
#             ── client erin .101 (Pro key), fleet reached via a default route
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=vpnctl-lib.sh
. "$(dirname "$0")/vpnctl-lib.sh"

vpnctl_setup 4
tmp=$(e2e_tmp)
vpnctl_full_tunnel
vpnctl_client erin pro
# Reach the fleet like the internet, through a default route (on-link on the hub
# bridge, which has no way out), not through the connected /24: wg-quick's
# `suppress_prefixlength 0` rule keeps a connected route out of the tunnel, a
# default one it does not.
cli erin ip route replace default dev eth0
cli erin ip route del 203.0.113.0/24 dev eth0

trace "connect: a full tunnel with wg-quick's fwmark"
vc erin connect --json >"$tmp/connect.json" || fail "connect failed"
server=$(jq -r .server_id "$tmp/connect.json")
[[ $(cli erin wg show pvpn0 allowed-ips | cut -f2) == "0.0.0.0/0 ::/0" ]] ||
	fail "not a full tunnel: $(cli erin wg show pvpn0 allowed-ips)"
[[ $(cli erin wg show pvpn0 fwmark) != off ]] || fail "wg-quick set no fwmark"
cli erin ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "no ping through the tunnel"

trace "the tunnel's server ($server) dies: probes and API calls go around the dead tunnel"
srv_stop "$server"
! cli erin ping -c 1 -W 2 10.7.0.1 >/dev/null 2>&1 || fail "the tunnel still answers"
vc erin servers --json --timeout 1000 >"$tmp/servers.json" || fail "servers failed with a dead tunnel"
jq -e --arg s "$server" 'all(.servers[]; if .id == $s then (.reachable | not) else .reachable end)' \
	"$tmp/servers.json" >/dev/null || fail "servers with a dead tunnel: $(cat "$tmp/servers.json")"

trace "connect moves to a live server"
vc erin connect --timeout 1000 --json >"$tmp/moved.json" 2>"$tmp/moved.err" || fail "connect failed: $(cat "$tmp/moved.err")"
jq -e --arg s "$server" '.server_id != $s and .switched_from == $s' "$tmp/moved.json" >/dev/null ||
	fail "did not move: $(cat "$tmp/moved.json")"
cli erin ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "no ping through the new tunnel"
# The old server was down, so its peer could not be removed yet: said, not hidden.
grep -q "could not revoke the peer on $server" "$tmp/moved.err" ||
	fail "the unrevoked old peer was not reported: $(cat "$tmp/moved.err")"

trace "once the old server is back, revoke --all removes both peers"
srv_start "$server"
vc erin revoke --all --json >"$tmp/revoke.json" || fail "revoke --all failed"
jq -e '.revoked == 2' "$tmp/revoke.json" >/dev/null || fail "revoke --all: $(cat "$tmp/revoke.json")"
! cli erin ip link show pvpn0 >/dev/null 2>&1 || fail "pvpn0 survived revoke --all"

pass
