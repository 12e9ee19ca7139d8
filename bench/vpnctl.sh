#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vpnctl benchmarks on a real fleet (root; brings up its own fleet and
# controller, tears them down on exit).  Prints figures, asserts nothing:
#   1. probe wall time for N servers vs the slowest single probe of the same run;
#   2. the same with three servers silent vs the probe timeout;
#   3. `vpnctl connect` start to first handshake, by phase, vs `wg-quick up` alone.
# Usage: PV_BUILD=build bench/vpnctl.sh [N servers, default 15] [runs, default 5]
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib.sh
. "$(dirname "$0")/../tests/e2e/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/ctl-lib.sh
. "$(dirname "$0")/../tests/e2e/ctl-lib.sh"

n=${1:-15}
runs=${2:-5}
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/vpnctl-lib.sh
. "$(dirname "$0")/../tests/e2e/vpnctl-lib.sh"

vpnctl_setup "$n"
tmp=$(e2e_tmp)
vpnctl_client bench pro

echo "== probe: $n servers in parallel (timeout 1500 ms) =="
printf '%-4s %14s %20s %10s\n' run "wall (ms)" "slowest probe (ms)" reachable
for ((i = 1; i <= runs; i++)); do
	vc bench servers --json >"$tmp/s.json" 2>/dev/null || fail "servers failed"
	jq -r --arg i "$i" '[$i, .probe_wall_ms, ([.servers[] | .latency_ms // 0] | max),
		([.servers[] | select(.reachable)] | length)] | @tsv' "$tmp/s.json" |
		awk -F'\t' '{ printf "%-4s %14.2f %20.3f %10s\n", $1, $2, $3, $4 }'
done

stopped=$(jq -r '.servers[0:3][] .id' "$tmp/s.json")
for id in $stopped; do srv_stop "$id"; done
echo "== probe: $n servers, 3 silent ($(echo "$stopped" | tr '\n' ' ')), timeout 1000 ms =="
for ((i = 1; i <= runs; i++)); do
	vc bench servers --json --timeout 1000 >"$tmp/s.json" 2>/dev/null || fail "servers failed"
	jq -r '"wall \(.probe_wall_ms) ms vs timeout 1000 ms (sequential would be >= 3000); unreachable \([.servers[] | select(.reachable | not)] | length)"' "$tmp/s.json"
done
for id in $stopped; do srv_start "$id"; done

echo "== connect: start to first handshake =="
printf '%-4s %-16s %12s %16s %14s %12s\n' run server "total (ms)" "probe+provision" "wg-quick up" "handshake"
for ((i = 1; i <= runs; i++)); do
	vc bench connect --json >"$tmp/c.json" 2>/dev/null || fail "connect failed"
	jq -r --arg i "$i" '[$i, .server_id, .connect_ms, .until_provisioned_ms, .wg_quick_up_ms,
		.handshake_after_up_ms] | @tsv' "$tmp/c.json" |
		awk -F'\t' '{ printf "%-4s %-16s %12.1f %16.1f %14.1f %12.1f\n", $1, $2, $3, $4, $5, $6 }'
	vc bench disconnect >/dev/null || fail "disconnect failed"
done

# Baseline: wg-quick up + down of the same kind of file, without vpnctl.
cli bench cp /etc/wireguard/pvpn0.conf /etc/wireguard/pvbase.conf
t0=$(date +%s%N)
cli bench wg-quick up pvbase 2>/dev/null || fail "baseline wg-quick up failed"
t1=$(date +%s%N)
cli bench wg-quick down pvbase 2>/dev/null
cli bench rm -f /etc/wireguard/pvbase.conf
echo "baseline: wg-quick up alone $(((t1 - t0) / 1000000)) ms (includes starting wireguard-go)"
vc bench revoke --all >/dev/null || fail "revoke failed"
pass
