#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Leases under load, on a real fleet (default 15 servers; PV_FLEET_N=N, N >= 3):
# - 253 provisions fill one server (10.7.0.2..254, each once, all in wg show),
#   and the 254th gets 409 server_full, leaving nothing behind;
# - 500 concurrent provisions across the other servers all succeed, with no
#   address handed out twice: not in the DB, not on any server, and each
#   server's live peers are exactly the DB's;
# - the controller log holds none of the PSKs / private keys handed out.
#
#   hub ns (br0) ── ctl 203.0.113.2 (vpn-controller :8443 TLS)
#               └── s1..sN 203.0.113.11.. (sshd + wg0)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
require curl openssl python3 sqlite3 jq xargs

fleet_up "${PV_FLEET_N:-15}"
read -r -a ids <<<"$SERVER_IDS"
((${#ids[@]} >= 3)) || fail "needs at least 3 servers"
# 100 clients at once from one address: above the default per-address cap (64).
ctl_start '"max_connections_per_addr": 256'
key=$(admin_key loadtest pro)
out=$CTL_T/out
mkdir -p "$out"

collect_secrets() {
	jq -r '.config // empty' "$out"/*.json | awk '/^(PrivateKey|PresharedKey) = / { print $3 }' \
		>>"$CTL_SEEN"
}

# ---- fill one server ---------------------------------------------------------------------
full=${ids[0]}
codes=$(for i in $(seq 1 253); do echo "$full fill$i"; done | provision_many 16 | sort | uniq -c)
[[ $(echo $codes) == "253 200" ]] || fail "filling $full: $codes"
[[ $(db_sql "SELECT count(DISTINCT host), min(host), max(host) FROM peers WHERE server_id = '$full'") == "253|2|254" ]] ||
	fail "$full should hold hosts 2..254 once each"
[[ $(live_addrs "$full" | grep -c '^10\.7\.0\.') == 253 ]] || fail "$full should have 253 live IPv4 addresses"
[[ $(live_addrs "$full" | sort | uniq -d) == "" ]] || fail "$full has a duplicate live address"
same_peers "$full" || fail "$full: live peers differ from the DB"
st=$(api POST /api/provision "{\"server_id\":\"$full\",\"device\":\"fill254\"}" -H "X-API-Key: $key")
[[ $st == 409 && $(jq -r .code "$RESP") == server_full ]] || fail "254th: $st $(cat "$RESP")"
[[ $(db_sql "SELECT count(*) FROM peers WHERE server_id = '$full'") == 253 ]] || fail "409 left a row"
trace "253 provisions filled $full; the 254th got 409"

# ---- 500 concurrent across the others ---------------------------------------------------------
others=("${ids[@]:1}")
codes=$(for i in $(seq 0 499); do echo "${others[i % ${#others[@]}]} dev$i"; done |
	provision_many 100 | sort | uniq -c)
[[ $(echo $codes) == "500 200" ]] || fail "500 concurrent provisions: $codes"
[[ -z $(db_dups) ]] || fail "duplicate address in the DB: $(db_dups)"
[[ $(db_sql "SELECT count(*) FROM peers WHERE state = 1") == 753 ]] || fail "expected 753 active peers"
for id in "${others[@]}"; do
	[[ -z $(live_addrs "$id" | sort | uniq -d) ]] || fail "$id has a duplicate live address"
	same_peers "$id" || fail "$id: live peers differ from the DB"
done
# Every answer's address is the one the DB holds for it, and unique per server.
[[ -z $(for f in "$out"/*.dev*.json; do jq -r '"\(.server_id) \(.client_ipv4)"' "$f"; done | sort | uniq -d) ]] ||
	fail "two answers carry the same address"
trace "500 concurrent provisions: no duplicate address in the DB or on any server"

collect_secrets
check_log_clean
ctl_stop # a clean exit on SIGTERM
pass
