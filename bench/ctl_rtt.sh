#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Provisioning across distance: the controller's SSH sessions go through
# bench_delay_proxy (a TCP proxy on loopback in the controller namespace that
# delays each direction by D ms, so RTT = 2·D; this kernel has no netem).
# For each RTT (default 0 100 200 ms; PV_RTTS="…"), in the same run:
#   fresh ssh   `ssh host true` through the proxy, p50 of 5 (the baseline a
#               script-per-edit tool pays before doing anything)
#   one         provisions one at a time (p50), goal <= 1 RTT + 15 ms
#   64 clients  provisions/s and p50 with 64 concurrent HTTPS clients over
#               every server, as PV_USERS users (default 64: one per client,
#               request i as user i % PV_USERS), goal: at 200 ms within 20%
#               of 0 ms
#   CPU         controller CPU per provision, and server-side CPU per
#               provision (every process in the servers' namespaces: sshd,
#               the remote script and its children, wireguard-go)
# At the first RTT it also fills every server (N x 253 peers) and prints the
# controller's RSS next to its RSS at start, and the time of the revoke of
# them all (PV_FILL=0 skips it).
# With PV_BENCH_PERF=DIR, perf records the controller during each 64-client
# run (DIR/rtt-MS.data, for `perf report -i`).
# Prints figures; asserts nothing about timing.  Run as root:
#   PV_BUILD=build bench/ctl_rtt.sh            (PV_FLEET_N=N servers, default 15;
#   PV_TOTAL=N provisions per 64-client run, default 640)
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib.sh
. "$(dirname "$0")/../tests/e2e/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/ctl-lib.sh
. "$(dirname "$0")/../tests/e2e/ctl-lib.sh"
require curl openssl python3 sqlite3 jq awk ssh
E2E_NAME=ctl_rtt
read -r -a rtts <<<"${PV_RTTS:-0 100 200}"
total=${PV_TOTAL:-640}
base_port=22100
proxy=$PV_BUILD/bench/bench_delay_proxy
[[ -x $proxy ]] || fail "build $proxy first"

fleet_up "${PV_FLEET_N:-15}"
read -r -a ids <<<"$SERVER_IDS"
T=$(e2e_tmp)
# The fleet file and known_hosts as the controller sees them through the proxy.
jq --argjson p "$base_port" '.servers |= [to_entries[] | .value.ssh.host = "127.0.0.1" |
	.value.ssh.port = ($p + .key) | .value]' "$FLEET_SERVERS_JSON" >"$T/servers-proxied.json"
maps=()
: >"$T/known_hosts-proxied"
for i in "${!ids[@]}"; do
	addr=$(srv_addr "${ids[i]}")
	maps+=("$((base_port + i)):$addr:22")
	awk -v a="$addr" -v p="[127.0.0.1]:$((base_port + i))" '$1 == a { $1 = p; print }' \
		"$FLEET_KNOWN_HOSTS" >>"$T/known_hosts-proxied"
done
FLEET_SERVERS_JSON=$T/servers-proxied.json
FLEET_KNOWN_HOSTS=$T/known_hosts-proxied
PROXY_PID=""
on_exit '[[ -z $PROXY_PID ]] || kill "$PROXY_PID" 2>/dev/null'

# CPU ticks (user + system, children reaped included) of every process in the
# servers' namespaces: a long-lived remote script reaps awk, wg & co.
# Prints "COMM TICKS" per process.
server_ticks() {
	local id ns p
	for id in "${ids[@]}"; do
		ns=$("$FLEET" ns "$FLEET_DIR" "$id")
		for p in $(ip netns pids "$ns"); do
			awk '{ c = $2; sub(/.*\) /, ""); print c, $12 + $13 + $14 + $15 }' "/proc/$p/stat" 2>/dev/null || true
		done
	done
}
# ticks_delta BEFORE AFTER: "COMM ms-per-provision" per command, then "total".
ticks_delta() {
	awk -v n="$3" -v hz="$hz" 'FNR == NR { b[$1] += $2; next } { a[$1] += $2 }
		END { for (c in a) { d = a[c] - b[c]; t += d; if (d > 0) printf "%s %.2f ", c, d * 1000 / hz / n }
		printf "total %.2f\n", t * 1000 / hz / n }' "$1" "$2"
}
# SSH round trips of the pool so far (/metrics), i.e. the batches it sent: the
# edits of a provisioning run over them is the mean batch size.
round_trips() {
	[[ $(api GET /metrics "" -H "Authorization: Bearer $CTL_ADMIN") == 200 ]] ||
		fail "GET /metrics: $(cat "$RESP")"
	awk '/^pv_ssh_round_trip_seconds_count/ { n += $2 } END { print n + 0 }' "$RESP"
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$CTL_PID/status"; }
ctl_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$CTL_PID/stat"; }
hz=$(getconf CLK_TCK)

fresh_ssh_p50() {
	local i t
	for i in 1 2 3 4 5; do
		t=$( { ctl env TIMEFORMAT=%R bash -c "time ssh -q -i '$FLEET_SSH_KEY' -p $base_port \
			-o UserKnownHostsFile='$FLEET_KNOWN_HOSTS' -o StrictHostKeyChecking=yes \
			-o BatchMode=yes root@127.0.0.1 true" >/dev/null; } 2>&1)
		echo "$t"
	done | sort -n | sed -n 3p | awk '{ printf "%.0f", $1 * 1000 }'
}

# provisions TOTAL CONCURRENCY [KEYS]: bench_ctl_provision's report (KEYS:
# comma-separated API keys used round robin, default the run's user).
provisions() {
	ctl env PV_API_KEY="${3:-$key}" "$PV_BUILD/bench/bench_ctl_provision" \
		"https://$FLEET_CTL_ADDR:$CTL_PORT/api/provision" "$CTL_T/ca.pem" - "$1" "$2" "${ids[@]}"
}
# Revokes every peer of the run's user (or of each of the comma-separated
# KEYS); prints the milliseconds it took.
revoke_all() {
	local t0 t1 k
	t0=$(date +%s%N)
	for k in ${1//,/ }; do
		[[ $(api POST /api/revoke '{"all":true}' -H "X-API-Key: $k") == 200 ]] ||
			fail "revoke all: $(cat "$RESP")"
	done
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}

rows=()
splits=()
for rtt in "${rtts[@]}"; do
	ip netns exec "$FLEET_NS_CTL" "$proxy" "$((rtt / 2))" "${maps[@]}" >"$T/proxy.out" 2>&1 &
	PROXY_PID=$!
	WAIT_S=10 wait_for grep -q ready "$T/proxy.out"
	ctl_start
	rss0=$(rss_kb)
	key=$(admin_key "bench$rtt" pro)
	keys=$key
	for ((u = 1; u < ${PV_USERS:-64}; u++)); do
		keys+=,$(admin_key "bench$rtt-$u" pro)
	done
	fresh=$(fresh_ssh_p50)
	provisions 15 1 >/dev/null # warm: every server's session and remote script
	revoke_all "$key" >/dev/null
	one=$(provisions 45 1 | awk '/^latency/ { print $4 }')
	revoke_all "$key" >/dev/null
	perf_pid=""
	if [[ -n ${PV_BENCH_PERF:-} ]]; then
		perf record -q -g -o "$PV_BENCH_PERF/rtt-$rtt.data" -p "$CTL_PID" 2>/dev/null &
		perf_pid=$!
	fi
	b0=$(round_trips)
	c0=$(ctl_ticks)
	server_ticks >"$T/s0"
	provisions "$total" 64 "$keys" >"$T/many.$rtt"
	c1=$(ctl_ticks)
	server_ticks >"$T/s1"
	b1=$(round_trips)
	[[ -z $perf_pid ]] || { kill -INT "$perf_pid" && wait "$perf_pid" || true; }
	revoke_all "$keys" >/dev/null
	ok=$(awk '/^provisions:/ { print $2 }' "$T/many.$rtt")
	rate=$(awk '/^throughput/ { print $2 }' "$T/many.$rtt")
	p50=$(awk '/^latency/ { print $4 }' "$T/many.$rtt")
	grep -E '^(status|transport)' "$T/many.$rtt" || true
	split=$(ticks_delta "$T/s0" "$T/s1" "${ok:-1}")
	splits+=("RTT $rtt ms, server CPU ms per provision by command: $split")
	splits+=("RTT $rtt ms, 64 clients: $((b1 - b0)) SSH round trips (batches) for ${ok:-0} provisions: $(awk -v n="${ok:-0}" -v b=$((b1 - b0)) 'BEGIN { printf "%.2f", b ? n / b : 0 }') edits per batch")
	rows+=("$(awk -v r="$rtt" -v f="$fresh" -v o="$one" -v t="$rate" -v p="$p50" -v n="$ok" \
		-v c=$((c1 - c0)) -v s="${split##*total }" -v hz="$hz" 'BEGIN {
		printf "%7d %10d %9.1f %10.1f %12.1f %9.1f %11.2f %11.2f", r, f, o, r + 15, t, p,
			n ? c * 1000 / hz / n : 0, s }')")
	if ((${PV_FILL:-1} && rtt == rtts[0])); then
		fill=$((${#ids[@]} * 253))
		ctl env PV_API_KEY="$key" "$PV_BUILD/bench/bench_ctl_provision" \
			"https://$FLEET_CTL_ADDR:$CTL_PORT/api/provision" "$CTL_T/ca.pem" - "$fill" 64 \
			"${ids[@]}" >"$T/fill"
		rss1=$(rss_kb)
		ms=$(revoke_all "$key")
		splits+=("fill at RTT $rtt ms: $(grep -E '^(provisions|throughput)' "$T/fill" | tr '\n' ' ')")
		splits+=("controller RSS: $((rss0 / 1024)) MB at start, $((rss1 / 1024)) MB holding $fill peers, $(($(rss_kb) / 1024)) MB after the revoke of $(jq .revoked "$RESP") peers in $ms ms")
	fi
	ctl_stop
	kill "$PROXY_PID"
	wait "$PROXY_PID" 2>/dev/null || true
	PROXY_PID=""
	rm -f "$CTL_T"/state.db*
done
echo "== ${#ids[@]} servers, SSH through bench_delay_proxy; one = p50 of 45 provisions one at a time;"
echo "== 64 clients = $total provisions, 64 concurrent HTTPS clients as ${PV_USERS:-64} users; CPU in ms per provision"
printf '%7s %10s %9s %10s %12s %9s %11s %11s\n' "RTT ms" "fresh ssh" "one p50" "goal <=" \
	"64c prov/s" "64c p50" "ctl CPU" "server CPU"
printf '%s\n' "${rows[@]}" "${splits[@]}"
pass
