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
#   curl process, --parallel), wall time until the last answer; no drift 3
#   times (median),
#   full drift twice (each after wiping every server);
# - harness floor: the same fan-out to GET /api/health (no server work);
# - raw push: `agentless-cli batch --server all` of 253 adds per server after
#   a wipe, the server-side work of a full-drift pass without the controller.
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

# fanout GET|POST PATH…: one request per path, all at once over HTTPS from
# one curl process (--parallel: no process start per request); a POST sends
# {} with the admin token.  Prints the wall ms until the last answer; answer
# i (from 1) is in $CTL_T/fan-i.json.
fanout() {
	local t0 i args=(--parallel --parallel-immediate --parallel-max 64 -sS --no-progress-meter --max-time 600
		--cacert "$CTL_T/ca.pem" -w '%{http_code}\n')
	[[ $1 == GET ]] || args+=(-H "Authorization: Bearer $CTL_ADMIN" -H 'Content-Type: application/json'
		--data-binary '{}')
	shift
	for ((i = 1; i <= $#; i++)); do
		args+=(-o "$CTL_T/fan-$i.json" "https://$FLEET_CTL_ADDR:$CTL_PORT${!i}")
	done
	t0=$(ms_now)
	ctl curl "${args[@]}" >"$CTL_T/fan.st" || fail "a request of the fan-out failed"
	echo $(($(ms_now) - t0))
	[[ $(sort -u "$CTL_T/fan.st") == 200 && $(wc -l <"$CTL_T/fan.st") == "$#" ]] ||
		fail "fan-out answers: $(sort "$CTL_T/fan.st" | uniq -c) $(cat "$CTL_T"/fan-*.json | head -c 600)"
}
paths=()
for id in "${ids[@]}"; do paths+=("/api/admin/servers/$id/reconcile"); done
pass_all() { fanout POST "${paths[@]}"; }
restored_all() { # every server's last answer restored 253 peers
	local i
	for ((i = 1; i <= n; i++)); do
		[[ $(jq .restored "$CTL_T/fan-$i.json") == 253 ]] || fail "pass: $(cat "$CTL_T/fan-$i.json")"
	done
}

echo "== harness floor: $n GET /api/health at once (curl processes + TLS, no server work)"
health=()
for id in "${ids[@]}"; do health+=(/api/health); done
for i in 1 2 3; do fanout GET "${health[@]}"; done >"$CTL_T/floor"
floor=$(median <"$CTL_T/floor")
echo "fan-outs: $(paste -sd' ' "$CTL_T/floor") ms; median $floor ms"

echo "== reconcile pass, $n servers x 253 peers, no drift (3 passes)"
for i in 1 2 3; do pass_all; done >"$CTL_T/nodrift"
nodrift=$(median <"$CTL_T/nodrift")
echo "passes: $(paste -sd' ' "$CTL_T/nodrift") ms; median $nodrift ms"

wipe_all() {
	local id wipers=()
	for id in "${ids[@]}"; do
		wipe_peers "$id" &
		wipers+=($!)
	done
	wait "${wipers[@]}" || fail "a wipe failed"
}

echo "== baseline, raw push: agentless-cli batch of 253 adds to every server at once (after a wipe)"
gen_batch 253 raw 2 >"$CTL_T/raw.batch"
wipe_all
t0=$(ms_now)
al batch --server all <"$CTL_T/raw.batch" >"$CTL_T/raw.out" || fail "raw batch failed: $(grep -v ' ok ' "$CTL_T/raw.out" | head -3)"
raw=$(($(ms_now) - t0))
[[ $(grep -c ' ok ' "$CTL_T/raw.out") == $((253 * n)) ]] || fail "raw batch: $(grep -vc ' ok ' "$CTL_T/raw.out") edits failed"
echo "$((253 * n)) adds in $raw ms (new process: connects to every server, then one batch each)"
wipe_all

echo "== reconcile pass, $n servers x 253 peers, full drift (2 passes, each after wiping every server)"
for i in 1 2; do
	((i == 1)) || wipe_all
	pass_all
	restored_all
done >"$CTL_T/drift"
echo "passes: $(paste -sd' ' "$CTL_T/drift") ms"
for id in "${ids[@]}"; do assert_converged "$id"; done

echo "== summary"
echo "slowest single server dump: cold $cold ms ($cold_id), warm $warm ms; harness floor $floor ms"
echo "raw push of 253 adds to every server at once (agentless-cli batch): $raw ms"
echo "no drift:   $nodrift ms = $(ratio "$nodrift" "$warm") x warm, $(ratio "$nodrift" "$cold") x cold"
while read -r d; do
	echo "full drift: $d ms = $(ratio "$d" "$warm") x warm, $(ratio "$d" "$cold") x cold, $(ratio "$d" "$raw") x raw push"
done <"$CTL_T/drift"
ctl_stop
pass
