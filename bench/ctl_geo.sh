#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The controller's figures across the geo fleet, per server location, next to
# the same run on the flat fleet (the baseline, measured in the same run):
# 1. the startup health pass: when each server was first seen up (fresh SSH
#    session + `wg show dump`), counted from the controller's start;
# 2. one provision per server, one at a time (HTTPS client in the
#    controller's namespace, so the client adds no distance);
# 3. one reconcile pass per server, one at a time, on demand
#    (POST /api/admin/servers/ID/reconcile: read the server, repair nothing);
# 4. a storm of 200 provisions, 32 at a time, round robin over every server
#    (bench_ctl_provision).
# The controller sits in PV_CTL_LOC (default Frankfurt).
# Prints figures; asserts nothing about timing.  Run as root:
#   PV_BUILD=build bench/ctl_geo.sh          (PV_FLEET_N=N for fewer servers)
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib.sh
. "$(dirname "$0")/../tests/e2e/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/ctl-lib.sh
. "$(dirname "$0")/../tests/e2e/ctl-lib.sh"
require curl openssl python3 sqlite3 jq awk
E2E_NAME=ctl_geo
n=${PV_FLEET_N:-15}
ctl_loc=${PV_CTL_LOC:-Frankfurt}
out=$(e2e_tmp)/figures
mkdir -p "$out"

# ms between two of the controller log's ISO timestamps (same day).
log_ms() { awk -v t="$1" 'BEGIN { split(t, a, /[T:Z]/); printf "%.0f", (a[2] * 3600 + a[3] * 60 + a[4]) * 1000 }'; }

# timed_post MODE WHAT PATH BODY [curl args…]: prints "status seconds" of one
# HTTPS POST from the controller's namespace; fails on a non-200.
timed_post() {
	local st
	st=$(ctl curl -sS -o /dev/null -w '%{http_code} %{time_total}' --cacert "$CTL_T/ca.pem" \
		-H 'Content-Type: application/json' --data-binary "$4" "${@:5}" \
		"https://$FLEET_CTL_ADDR:$CTL_PORT$3")
	[[ $st == 200\ * ]] || fail "$1: $2: $st"
	awk -v s="${st#* }" 'BEGIN { printf "%.0f", s * 1000 }'
}

# run MODE [fleet up options]: writes $out/MODE.{health,one,reconcile,storm}.
run() {
	local mode=$1 id t0 t key
	shift
	fleet_up "$n" "$@"
	[[ -n ${CTL_T:-} ]] || ctl_files
	rm -f "$CTL_T"/state.db*
	: >"$CTL_LOG"
	ctl_start
	t0=$(log_ms "$(grep -m1 'startup health pass running' "$CTL_LOG" | cut -d' ' -f1)")
	for id in $SERVER_IDS; do
		t=$(grep -m1 "health: $id is up" "$CTL_LOG" | cut -d' ' -f1)
		[[ -n $t ]] || fail "$mode: $id never came up: $(tail "$CTL_LOG")"
		echo "$id $(($(log_ms "$t") - t0))"
	done >"$out/$mode.health"
	key=$(admin_key "bench-$mode" pro)
	for id in $SERVER_IDS; do
		echo "$id $(timed_post "$mode" "provision on $id" /api/provision \
			"{\"server_id\":\"$id\",\"device\":\"one\"}" -H "X-API-Key: $key")"
	done >"$out/$mode.one"
	for id in $SERVER_IDS; do
		echo "$id $(timed_post "$mode" "reconcile of $id" "/api/admin/servers/$id/reconcile" '{}' \
			-H "Authorization: Bearer $CTL_ADMIN")"
	done >"$out/$mode.reconcile"
	if ((FLEET_GEO)); then
		for id in $SERVER_IDS; do
			echo "$id $(jq -r --arg id "$id" '.servers[$id]' "$FLEET_GEO_FILE")" \
				"$(awk -v a="$(geo_delay ctl "$id")" -v b="$(geo_delay "$id" ctl)" 'BEGIN { printf "%.1f", a + b }')"
		done >"$out/rtt"
	fi
	read -r -a ids <<<"$SERVER_IDS"
	ctl env PV_API_KEY="$key" "$PV_BUILD/bench/bench_ctl_provision" \
		"https://$FLEET_CTL_ADDR:$CTL_PORT/api/provision" "$CTL_T/ca.pem" - 200 32 "${ids[@]}" \
		>"$out/$mode.storm"
	ctl_stop
	fleet_down
	rm -rf "$FLEET_DIR"
}

run flat
run geo --geo --ctl-loc "$ctl_loc"

echo "== controller in $ctl_loc, $n servers; ms; flat = kernel bridge (~0.1 ms), geo = pv-netsim"
# val FILE ID: the last field of ID's line.
val() { awk -v id="$2" '$1 == id { print $NF }' "$out/$1"; }
row='%-15s %-12s %7s | %7s %7s | %9s %9s | %9s %9s\n'
# shellcheck disable=SC2059 # the format is ours
printf "$row" "" "" "RTT" "health" "" "provision" "" "reconcile" ""
# shellcheck disable=SC2059
printf "$row" server location model flat geo flat geo flat geo
while read -r id; do
	# shellcheck disable=SC2059
	printf "$row" "$id" "$(awk -v id="$id" '$1 == id { $1 = ""; $NF = ""; print substr($0, 2) }' "$out/rtt")" \
		"$(val rtt "$id")" "$(val flat.health "$id")" "$(val geo.health "$id")" \
		"$(val flat.one "$id")" "$(val geo.one "$id")" \
		"$(val flat.reconcile "$id")" "$(val geo.reconcile "$id")"
done < <(cut -d' ' -f1 "$out/rtt")
for mode in flat geo; do
	echo "== 200 provisions, 32 concurrent, $mode fleet"
	cat "$out/$mode.storm"
done
pass
