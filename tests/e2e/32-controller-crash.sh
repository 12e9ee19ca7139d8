#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kill -9 of the controller in the middle of 300 concurrent provisions over 3
# servers, then a restart:
# - every provision that was answered 200 is ACTIVE in the DB and its peer is
#   on its server (nothing acknowledged is lost);
# - the startup health pass removes what the crash left half-done: no PENDING
#   or REMOVING row remains, and each server's live peers are exactly the DB's
#   ACTIVE rows (pushed-but-unacknowledged peers are gone from the servers);
# - no address is handed out twice, before or after new provisions.
#
#   hub ns (br0) ── ctl 203.0.113.2 (vpn-controller :8443 TLS)
#               └── s1..s3 203.0.113.11..13 (sshd + wg0)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
require curl openssl python3 sqlite3 jq xargs

fleet_up 3
read -r -a ids <<<"$SERVER_IDS"
ctl_start
key=$(admin_key crashtest pro)
out=$CTL_T/out
mkdir -p "$out"
active() { db_sql "SELECT count(*) FROM peers WHERE state = 1"; }
unsettled() { db_sql "SELECT count(*) FROM peers WHERE state != 1"; }
active_at_least() { (($(active) >= $1)); }
settled() { (($(unsettled) == 0)); }

for i in $(seq 0 299); do echo "${ids[i % 3]} dev$i"; done | provision_many 32 >"$CTL_T/codes" 2>/dev/null &
load=$!
WAIT_S=120 wait_for active_at_least 40
kill -KILL "$CTL_PID"
wait "$CTL_PID" || true
CTL_PID=""
wait "$load" || true
acked=$(grep -c '^200$' "$CTL_T/codes" || true)
trace "killed -9 after $acked acknowledged provisions ($(grep -c '^unanswered$' "$CTL_T/codes" || true) unanswered, $(unsettled) rows unsettled in the DB)"
((acked > 0 && acked < 300)) || fail "the kill should land mid-run ($acked of 300 acknowledged)"

ctl_start
WAIT_S=60 wait_for settled
for f in "$out"/*.json; do
	[[ $(jq -r '.peer_name // empty' "$f" 2>/dev/null) ]] || continue
	name=$(jq -r .peer_name "$f")
	sid=$(jq -r .server_id "$f")
	[[ $(db_sql "SELECT state FROM peers WHERE name = '$name' AND server_id = '$sid'") == 1 ]] ||
		fail "acknowledged $name on $sid is not ACTIVE after the restart"
	echo "$sid $name"
done >"$CTL_T/acked"
[[ $(wc -l <"$CTL_T/acked") == "$acked" ]] || fail "expected $acked acknowledged replies on disk"
for id in "${ids[@]}"; do
	conf=$(srv "$id" cat /etc/wireguard/wg0.conf)
	while read -r sid name; do
		[[ $sid != "$id" ]] || grep -qx "# BEGIN_PEER $name" <<<"$conf" || fail "$name lost from $id's wg0.conf"
	done <"$CTL_T/acked"
	same_peers "$id" || fail "$id: live peers differ from the DB's ACTIVE rows after the repair"
	[[ -z $(live_addrs "$id" | sort | uniq -d) ]] || fail "$id has a duplicate live address"
done
[[ -z $(db_dups) ]] || fail "duplicate address in the DB: $(db_dups)"
trace "all $acked acknowledged peers kept; leftovers of the crash removed from DB and servers"

# New leases after the repair still never collide.
for i in $(seq 300 359); do echo "${ids[i % 3]} dev$i"; done | provision_many 16 >"$CTL_T/codes2"
[[ $(sort "$CTL_T/codes2" | uniq -c | awk '{ print $1, $2 }') == "60 200" ]] || fail "provisions after the restart: $(sort "$CTL_T/codes2" | uniq -c)"
[[ -z $(db_dups) ]] || fail "duplicate address after the restart: $(db_dups)"
for id in "${ids[@]}"; do
	same_peers "$id" || fail "$id: live peers differ from the DB after new provisions"
done
ctl_stop # a clean exit on SIGTERM
pass
