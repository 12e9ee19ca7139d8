#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Several controllers on PostgreSQL (docs/ha.md): provisions/s through
# HAProxy with 1 and with 2 controllers on one PostgreSQL 15, against the
# baseline of 1 controller on SQLite behind the same HAProxy, in one run on
# one fleet (default 4 servers; PV_FLEET_N=N).  Each configuration makes
# PV_BENCH_N provisions (default 400) with 64 concurrent HTTPS clients
# (bench_ctl_provision), then revokes them all.  Prints figures; asserts
# nothing about timing.  Run as root:
#   PV_BUILD=build bench/ha.sh
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib.sh
. "$(dirname "$0")/../tests/e2e/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/ctl-lib.sh
. "$(dirname "$0")/../tests/e2e/ctl-lib.sh"
require curl openssl jq haproxy psql runuser
E2E_NAME=ha_bench
total=${PV_BENCH_N:-400}

fleet_up "${PV_FLEET_N:-4}"
read -r -a ids <<<"$SERVER_IDS"
ctl_files
conf='"max_connections_per_addr": 100000, "max_connections": 4096, "health_interval_s": 30'
url=https://$FLEET_CTL_ADDR:$HA_LB_PORT/api/provision

# PROVISIONS LABEL: the load through HAProxy, then revoke them all.
provisions() {
	echo "== $1: $total provisions, 64 concurrent clients, ${#ids[@]} servers, through HAProxy"
	ctl env PV_API_KEY="$key" "$PV_BUILD/bench/bench_ctl_provision" "$url" "$CTL_T/ca.pem" - \
		"$total" 64 "${ids[@]}"
	[[ $(CTL_PORT=$HA_LB_PORT api POST /api/revoke '{"all":true}' -H "X-API-Key: $key") == 200 ]] ||
		fail "revoke all: $(cat "$RESP")"
}
stop_all() {
	local name
	for name in "${!HA_PID[@]}"; do
		kill -TERM "${HA_PID[$name]}"
		wait "${HA_PID[$name]}" || true
		unset "HA_PID[$name]"
	done
}

# Baseline: one controller on its SQLite file.
ha_ctl_start lite 8443 8080 "$conf"
key=$(admin_key bench pro)
ha_lb_start lite:8443
provisions "1 controller, SQLite (baseline)"
stop_all

# PostgreSQL: one controller, then two.
PV_DB=pg
ctl_pg_start
ha_ctl_start a 8443 8080 "$conf"
key=$(admin_key bench pro)
ha_lb_start a:8443
provisions "1 controller, PostgreSQL"
ha_ctl_start b 8444 8081 "$conf"
ha_lb_start a:8443 b:8444
provisions "2 controllers, PostgreSQL"
echo "sessions per controller: A $(ha_lb_stat a 8), B $(ha_lb_stat b 8)"
stop_all
pass
