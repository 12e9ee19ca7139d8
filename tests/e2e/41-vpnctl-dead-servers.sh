#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# With three servers silently dropping everything (`fleet stop`), `vpnctl
# servers` still lists all six, the three as unreachable, and the parallel
# probe costs about one timeout, not three (sequential probing would take at
# least 3 x timeout); `vpnctl connect` still picks a live server and 10.7.0.1
# answers through the tunnel.  Failures change nothing: connecting by name to
# a stopped server exits 4 and the tunnel stays; a new server that never
# answers the handshake (UDP blocked on the client) exits 4, leaves no peer
# there, and the previous tunnel is back up.
#
#   hub (br0) ── ctl 203.0.113.2 (vpn-controller, HTTPS)
#             ── 6 servers .11-.16; stopped: us-east-1, eu-central-1, ap-southeast-1
#             ── client carol .101 (Pro key)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"

# shellcheck source-path=SCRIPTDIR source=vpnctl-lib.sh
. "$(dirname "$0")/vpnctl-lib.sh"

vpnctl_setup 6
tmp=$(e2e_tmp)
vpnctl_client carol pro

stopped="us-east-1 eu-central-1 ap-southeast-1"
for id in $stopped; do srv_stop "$id"; done
timeout_ms=1000

trace "servers: the stopped three are unreachable, the probe waits about one timeout"
vc carol servers --json --timeout "$timeout_ms" >"$tmp/servers.json" || fail "servers --json failed"
jq -e --arg stopped "$stopped" '($stopped | split(" ")) as $s |
	(.servers | length) == 6 and
	all(.servers[]; if (.id | IN($s[])) then (.reachable | not) and .latency_ms == null
	                 else .reachable and .latency_ms >= 0 end)' "$tmp/servers.json" >/dev/null ||
	fail "servers: $(cat "$tmp/servers.json")"
wall=$(jq .probe_wall_ms "$tmp/servers.json")
trace "probe wall time ${wall} ms for 6 servers, 3 of them dead, timeout ${timeout_ms} ms"
# Not a timing test: probing one after another would need >= 3 timeouts (the three
# dead servers); in parallel it is one timeout (curl may fire it a hair early).
jq -e --argjson t "$timeout_ms" '.probe_wall_ms >= 0.9 * $t and .probe_wall_ms < 3 * $t' \
	"$tmp/servers.json" >/dev/null || fail "probe wall time $wall ms is not about one timeout"
vc carol servers --timeout "$timeout_ms" >"$tmp/servers.txt" || fail "servers (table) failed"
[[ $(grep -c 'unreachable$' "$tmp/servers.txt") == 3 ]] || fail "table: $(cat "$tmp/servers.txt")"

trace "connect picks a live server"
vc carol connect --json --timeout "$timeout_ms" >"$tmp/connect.json" || fail "connect failed"
server=$(jq -r .server_id "$tmp/connect.json")
[[ " $stopped " != *" $server "* ]] || fail "connect picked stopped server $server"
cli carol ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "no ping through the tunnel to $server"

# still_on S: the tunnel is up to S, answers, and /etc/wireguard holds only its file.
still_on() {
	vc carol status --json | jq -e --arg s "$1" '.connected and .server_id == $s' >/dev/null ||
		fail "not connected to $1 any more: $(vc carol status)"
	cli carol ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "no ping through the tunnel to $1"
	[[ $(cli carol ls -A /etc/wireguard) == pvpn0.conf ]] || fail "stray files: $(cli carol ls -A /etc/wireguard)"
}

trace "connect to a stopped server by name: the controller cannot push (exit 4), nothing changes"
rc=0
vc carol connect eu-central-1 2>"$tmp/stopped.err" || rc=$?
[[ $rc == 4 ]] || fail "connect to a stopped server should exit 4, got $rc: $(cat "$tmp/stopped.err")"
still_on "$server"

trace "no handshake with the new server (UDP blocked here): rolled back to the old tunnel"
target=""
for id in us-west-1 eu-west-1 ap-northeast-1; do [[ $id == "$server" ]] || target=$id; done
addr=$(srv_addr "$target")
printf 'table inet e2e_block {\n chain out {\n  type filter hook output priority 0; policy accept;\n  ip daddr %s udp dport 51820 drop\n }\n}\n' \
	"$addr" >"$tmp/block.nft"
cli carol nft -f "$tmp/block.nft" || fail "nft in the client namespace"
rc=0
vc carol connect "$target" --wait 2 2>"$tmp/blocked.err" || rc=$?
[[ $rc == 4 ]] || fail "connect without a handshake should exit 4, got $rc: $(cat "$tmp/blocked.err")"
grep -q "no handshake" "$tmp/blocked.err" || fail "no clear message: $(cat "$tmp/blocked.err")"
[[ -z $(srv "$target" wg show wg0 peers) ]] || fail "the failed connect left a peer on $target"
cli carol nft delete table inet e2e_block
still_on "$server"
vc carol disconnect >/dev/null || fail "disconnect failed"

pass
