#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Controller benchmark on a real fleet (default 15 servers; PV_FLEET_N=N):
# 1. provisions/s and p50/p99 with 64 concurrent HTTPS clients across every
#    server (bench_ctl_provision, curl multi), against a 1-client baseline;
# 2. GET /api/servers with wrk over keep-alive, plain HTTP and HTTPS, against
#    GET /api/health (no auth, no per-server lookups) as the baseline.
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

wrk_run() { # LABEL URL
	echo "== wrk $1"
	ctl env PV_API_KEY="$key" wrk -t2 -c32 -d10s --latency -s "$(dirname "$0")/ctl_key.lua" "$2" |
		grep -E 'Requests/sec|Latency|50%|99%|Non-2xx'
}
wrk_run "GET /api/health (baseline), HTTP" "http://127.0.0.1:$CTL_HTTP_PORT/api/health"
wrk_run "GET /api/servers, HTTP" "http://127.0.0.1:$CTL_HTTP_PORT/api/servers"
wrk_run "GET /api/health (baseline), HTTPS" "https://$FLEET_CTL_ADDR:$CTL_PORT/api/health"
wrk_run "GET /api/servers, HTTPS" "https://$FLEET_CTL_ADDR:$CTL_PORT/api/servers"
ctl_stop # a clean exit on SIGTERM
pass
