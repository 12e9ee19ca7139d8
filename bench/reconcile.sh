#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One reconcile pass over a full fleet (default 15 servers x 253 peers;
# PV_FLEET_N=N), with no drift and with full drift (every peer gone from
# wg0.conf and the live interface), against the dump round trip of the
# slowest single server, measured in the same run:
# - baseline, cold: `agentless-cli dump --server ID` per server (a new
#   process: SSH connect, auth, dump), the slowest of the fleet;
# - baseline, warm: bench_agentless_dump (pooled sessions, as the
#   controller's): each server's median dump, the slowest, and every server
#   at once;
# - a pass: POST /api/admin/servers/ID/reconcile to every server at once (one
#   curl each), wall time until the last answer; no drift 3 times (median),
#   full drift twice (each after wiping every server).
# Prints figures; asserts nothing about timing (it does check that each
# full-drift pass restored every peer, or its figure would mean nothing).
# Run as root:  PV_BUILD=build bench/reconcile.sh
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib.sh
. "$(dirname "$0")/../tests/e2e/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/ctl-lib.sh
. "$(dirname "$0")/../tests/e2e/ctl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/converge-lib.sh
. "$(dirname "$0")/../tests/e2e/converge-lib.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib-agentless.sh
. "$(dirname "$0")/../tests/e2e/lib-agentless.sh"
E2E_NAME=reconcile_bench
require curl openssl python3 sqlite3 jq
fleet_up "${PV_FLEET_N:-15}"
read -r -a ids <<<"$SERVER_IDS"
n=${#ids[@]}
ctl_start '"health_interval_s": 86400, "push_timeout_ms": 120000, "connect_timeout_ms": 10000'
ms_now() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "== filling: $((253 * n)) provisions, 253 per server"
key=$(admin_key bench pro)
ctl env PV_API_KEY="$key" "$PV_BUILD/bench/bench_ctl_provision" \
	"https://$FLEET_CTL_ADDR:$CTL_PORT/api/provision" "$CTL_T/ca.pem" - $((253 * n)) 32 "${ids[@]}"
for id in "${ids[@]}"; do
	[[ $(db_sql "SELECT count(*) FROM peers WHERE server_id = '$id' AND state = 1") == 253 ]] ||
		fail "$id does not hold 253 ACTIVE peers"
done

echo "== baseline, cold: agentless-cli dump per server (new process: connect + auth + dump)"
for id in "${ids[@]}"; do
	t0=$(ms_now)
	al dump --server "$id" >/dev/null || fail "agentless-cli dump $id failed"
	echo "$(($(ms_now) - t0)) $id"
done | sort -n >"$CTL_T/cold"
read -r cold cold_id < <(tail -n 1 "$CTL_T/cold")
echo "slowest: $cold ms ($cold_id); median $(cut -d' ' -f1 "$CTL_T/cold" | median) ms"

echo "== baseline, warm: bench_agentless_dump (pooled sessions)"
ctl "$PV_BUILD/bench/bench_agentless_dump" --fleet "$FLEET_SERVERS_JSON" --identity "$FLEET_SSH_KEY" \
	--known-hosts "$FLEET_KNOWN_HOSTS" --rounds 5 | tee "$CTL_T/warm"
warm=$(awk '/^slowest single server/ { print $(NF - 2) }' "$CTL_T/warm")

# One pass: every server's admin reconcile at once; prints the wall ms.
pass_all() {
	local t0 id pids=()
	t0=$(ms_now)
	for id in "${ids[@]}"; do
		ctl curl -sS --max-time 600 --cacert "$CTL_T/ca.pem" -o "$CTL_T/rec-$id.json" -w '%{http_code}' \
			-H "Authorization: Bearer $CTL_ADMIN" -H 'Content-Type: application/json' --data-binary '{}' \
			"https://$FLEET_CTL_ADDR:$CTL_PORT/api/admin/servers/$id/reconcile" >"$CTL_T/rec-$id.st" &
		pids+=($!)
	done
	wait "${pids[@]}" || fail "a reconcile call failed"
	echo $(($(ms_now) - t0))
	for id in "${ids[@]}"; do
		[[ $(cat "$CTL_T/rec-$id.st") == 200 ]] || fail "reconcile $id: $(cat "$CTL_T/rec-$id.json")"
	done
}
restored_all() { # every server's last answer restored 253 peers
	local id
	for id in "${ids[@]}"; do
		[[ $(jq .restored "$CTL_T/rec-$id.json") == 253 ]] || fail "$id: $(cat "$CTL_T/rec-$id.json")"
	done
}

echo "== reconcile pass, $n servers x 253 peers, no drift (3 passes)"
for i in 1 2 3; do pass_all; done >"$CTL_T/nodrift"
nodrift=$(median <"$CTL_T/nodrift")
echo "passes: $(paste -sd' ' "$CTL_T/nodrift") ms; median $nodrift ms"

echo "== reconcile pass, $n servers x 253 peers, full drift (2 passes, each after wiping every server)"
for i in 1 2; do
	for id in "${ids[@]}"; do wipe_peers "$id" & done
	wait
	pass_all
	restored_all
done >"$CTL_T/drift"
echo "passes: $(paste -sd' ' "$CTL_T/drift") ms"
for id in "${ids[@]}"; do assert_converged "$id"; done

echo "== summary"
echo "slowest single server dump: cold $cold ms ($cold_id), warm $warm ms"
echo "no drift:   $nodrift ms = $(ratio "$nodrift" "$warm") x warm, $(ratio "$nodrift" "$cold") x cold"
while read -r d; do
	echo "full drift: $d ms = $(ratio "$d" "$warm") x warm, $(ratio "$d" "$cold") x cold"
done <"$CTL_T/drift"
ctl_stop
pass
