#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Controller benchmark on a real fleet (default 15 servers; PV_FLEET_N=N):
# 1. provisions/s and p50/p99 with 64 concurrent HTTPS clients across every
#    server (bench_ctl_provision, curl multi), against a 1-client baseline;
# 2. GET /api/servers with wrk -t2 -c64 over keep-alive, plain HTTP and HTTPS,
#    against GET /api/health (no auth, no per-server lookups) and against
#    bench_ctl_bare_evhttp (a bare libevent evhttp server answering a body of the
#    same size, same TLS setup) started in the controller namespace;
# 3. the same GET with 100 servers in the fleet: the real ones plus
#    placeholders at unused 203.0.113.150+ addresses on the fleet's own bridge
#    (nothing answers there, so they show as down), controller restarted on a
#    fresh DB that imports that fleet file.
# Prints figures; asserts nothing about timing.  Run as root:
#   PV_BUILD=build bench/ctl_bench.sh
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib.sh
. "$(dirname "$0")/../tests/e2e/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/ctl-lib.sh
. "$(dirname "$0")/../tests/e2e/ctl-lib.sh"
require wrk curl openssl python3 sqlite3 jq
E2E_NAME=ctl_bench

fleet_up "${PV_FLEET_N:-15}"
read -r -a ids <<<"$SERVER_IDS"
ctl_start '"max_connections_per_addr": 1024' # every client is this one address
key=$(admin_key bench pro)
url=https://$FLEET_CTL_ADDR:$CTL_PORT/api/provision
provisions() { # TOTAL CONCURRENCY
	echo "== $1 provisions, $2 concurrent client(s), ${#ids[@]} servers"
	ctl env PV_API_KEY="$key" "$PV_BUILD/bench/bench_ctl_provision" "$url" "$CTL_T/ca.pem" - \
		"$1" "$2" "${ids[@]}"
	local t0=$SECONDS
	[[ $(api POST /api/revoke '{"all":true}' -H "X-API-Key: $key") == 200 ]] ||
		fail "revoke all: $(cat "$RESP")"
	echo "revoke all: $(jq .revoked "$RESP") peers in $((SECONDS - t0)) s"
}
provisions 100 1
provisions 1000 64

BARE_PORT=18080
BARE_TLS_PORT=18443
BARE_PID=""
# Requests/s of the last wrk_run, for the ratios.
RPS=0
RUN_NO=0
# CPU time (user + system, clock ticks) the process PID has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# wrk -t2 -c64 for 10 s; prints its figures and the CPU the server process
# PID used per request.  With PV_BENCH_PERF=DIR, perf records PID meanwhile
# (DIR/N.data, N counting the runs) for `perf report -i`.
wrk_run() { # LABEL URL PID
	local out t0 t1 perf_pid=""
	RUN_NO=$((RUN_NO + 1))
	if [[ -n ${PV_BENCH_PERF:-} ]]; then
		perf record -q -g -o "$PV_BENCH_PERF/$RUN_NO.data" -p "$3" -- sleep 10 2>/dev/null &
		perf_pid=$!
	fi
	t0=$(cpu_ticks "$3")
	out=$(ctl env PV_API_KEY="$key" wrk -t2 -c64 -d10s --latency -s "$(dirname "$0")/ctl_key.lua" "$2")
	t1=$(cpu_ticks "$3")
	[[ -z $perf_pid ]] || wait "$perf_pid" || true
	RPS=$(awk '/^Requests\/sec:/ { printf "%d", $2 }' <<<"$out")
	echo "== wrk $1${perf_pid:+ (perf: $PV_BENCH_PERF/$RUN_NO.data)}"
	grep -E 'Requests/sec|Latency|50%|99%|Non-2xx' <<<"$out"
	awk -v t="$((t1 - t0))" -v n="$(awk '/requests in/ { print $1 }' <<<"$out")" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { if (n > 0) printf "server CPU: %.1f us per request, %.0f%% of one core\n", 1e6 * t / hz / n, 100 * t / hz / 10 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", b ? 100 * a / b : 0 }'; }

# Starts the bare server answering FILE, over HTTP on loopback and HTTPS on the
# controller's address with the controller's certificate.
bare_start() { # BODY_FILE
	ip netns exec "$FLEET_NS_CTL" "$PV_BUILD/bench/bench_ctl_bare_evhttp" "$1" \
		"127.0.0.1:$BARE_PORT" "$FLEET_CTL_ADDR:$BARE_TLS_PORT" "$CTL_T/tls.pem" "$CTL_T/tls.key" \
		>"$CTL_T/bare.log" 2>&1 &
	BARE_PID=$!
	WAIT_S=10 wait_for grep -q '^ready$' "$CTL_T/bare.log"
}
bare_stop() {
	[[ -n $BARE_PID ]] || return 0
	kill -TERM "$BARE_PID" 2>/dev/null || true
	wait "$BARE_PID" || fail "bare server exited with $? on SIGTERM"
	BARE_PID=""
}
on_exit '[[ -z $BARE_PID ]] || kill -TERM "$BARE_PID" 2>/dev/null; wait'

# GET /api/servers over HTTP and HTTPS next to the bare server answering a
# body of the same size (the real reply, saved); leaves the HTTP figure in SRV_RPS.
SRV_RPS=0
servers_vs_bare() { # LABEL
	local body=$CTL_T/servers.body http https
	ctl curl -sS --fail -H "X-API-Key: $key" -o "$body" \
		"http://127.0.0.1:$CTL_HTTP_PORT/api/servers" || fail "GET /api/servers failed"
	echo "== $1: GET /api/servers answers $(jq '.servers | length' "$body") servers, $(stat -c %s "$body") bytes"
	wrk_run "GET /api/servers, HTTP, $1" "http://127.0.0.1:$CTL_HTTP_PORT/api/servers" "$CTL_PID"
	http=$RPS
	SRV_RPS=$RPS
	wrk_run "GET /api/servers, HTTPS, $1" "https://$FLEET_CTL_ADDR:$CTL_PORT/api/servers" "$CTL_PID"
	https=$RPS
	bare_start "$body"
	wrk_run "bare evhttp, same body, HTTP" "http://127.0.0.1:$BARE_PORT/api/servers" "$BARE_PID"
	echo "-> GET /api/servers over HTTP: $http req/s = $(ratio "$http" "$RPS") of bare evhttp ($RPS req/s; goal >= 50%)"
	wrk_run "bare evhttp, same body, HTTPS" "https://$FLEET_CTL_ADDR:$BARE_TLS_PORT/api/servers" "$BARE_PID"
	echo "-> GET /api/servers over HTTPS: $https req/s = $(ratio "$https" "$RPS") of bare evhttp ($RPS req/s; goal >= 35%)"
	bare_stop
}

wrk_run "GET /api/health (baseline), HTTP" "http://127.0.0.1:$CTL_HTTP_PORT/api/health" "$CTL_PID"
wrk_run "GET /api/health (baseline), HTTPS" "https://$FLEET_CTL_ADDR:$CTL_PORT/api/health" "$CTL_PID"
servers_vs_bare "${#ids[@]} servers"
rps_real=$SRV_RPS

# 100 servers: the real ones plus placeholders on the fleet's own /24 at
# addresses no namespace holds (the fleet uses .2, .11-.25 and .101+ for
# clients), so every connection to them stays on the test's bridge and fails.
n_fake=$((100 - ${#ids[@]}))
jq --argjson n "$n_fake" '.servers += [range($n) as $i | .servers[0]
	| .id = "placeholder-\($i)" | .location = "placeholder \($i)"
	| .wireguard.host = "203.0.113.\(150 + $i)" | .ssh.host = "203.0.113.\(150 + $i)"]' \
	"$FLEET_SERVERS_JSON" >"$CTL_T/servers-100.json"
# The DB is the fleet's source of truth once it holds one (docs/fleet.md), so
# the 100-server controller starts on a fresh DB that imports this file.
FLEET_SERVERS_JSON=$CTL_T/servers-100.json
CTL_DB=$CTL_T/state-100.db
# One connect try to a placeholder must not hold the startup health pass for 5 s.
ctl_restart '"max_connections_per_addr": 1024, "connect_timeout_ms": 1000'
key=$(admin_key bench pro)
servers_vs_bare "100 servers (${#ids[@]} real, $n_fake placeholders, down)"
echo "-> GET /api/servers, HTTP: 100 servers $SRV_RPS req/s = $(ratio "$SRV_RPS" "$rps_real") of ${#ids[@]} servers ($rps_real req/s; goal: the same)"
ctl_stop # a clean exit on SIGTERM
pass
