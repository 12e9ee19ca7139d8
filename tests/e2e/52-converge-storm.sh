#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A provisioning storm while 3 of 15 servers stop answering, then their return:
# - 600 provisions round robin over 15 servers, 24 in flight (curl); once 60
#   are ACTIVE, 3 servers drop all traffic (`fleet stop`);
# - every provision to the 12 others answers 200; every one to the 3 answers
#   200 (before the stop) or 503 with code unreachable/timeout and an error
#   naming that server; no request is left unanswered;
# - no lease leaks: no PENDING/REMOVING row stays, the leases held by peers
#   are exactly the ACTIVE peers, and the only other lease is the hand-made
#   peer's reservation on s1; every 200 is ACTIVE in the DB;
# - `fleet start` → within one health period the 3 are up again with every
#   ACTIVE peer in place, and then DB ≡ fleet: on every server the live (key,
#   address) pairs are the ACTIVE peers' plus the hand-made one, and wg0.conf
#   holds exactly one pv block per ACTIVE peer (stray blocks of pushes that
#   timed out are removed).
#
#   hub ns (br0) ── ctl 203.0.113.2 (vpn-controller :8443 TLS, health pass every 5 s)
#               ├── s1..s12 203.0.113.11..22 (sshd + wg0; s1 has a hand-made peer at .2)
#               └── s13..s15 203.0.113.23..25 (sshd + wg0; stopped mid-storm, started again)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=converge-lib.sh
. "$(dirname "$0")/converge-lib.sh"
require curl openssl python3 sqlite3 jq xargs

fleet_up 15
read -r -a ids <<<"$SERVER_IDS"
dead=("${ids[@]:12:3}")
read -r hand_octet hand_key < <(wi_add "${ids[0]}" handmade)
ctl_start '"health_interval_s": 5, "push_timeout_ms": 10000, "connect_timeout_ms": 2000'
[[ $(reserved "${ids[0]}") == "$hand_octet" ]] || fail "hand-made .$hand_octet not reserved at startup"
key=$(admin_key storm pro)
out=$CTL_T/out
mkdir -p "$out"
active() { db_sql "SELECT count(*) FROM peers WHERE state = 1"; }
active_at_least() { (($(active) >= $1)); }

for i in $(seq 0 599); do echo "${ids[i % 15]} dev$i"; done | provision_many 24 >"$CTL_T/codes" 2>"$CTL_T/curl.err" &
storm=$!
WAIT_S=120 wait_for active_at_least 60
for d in "${dead[@]}"; do srv_stop "$d"; done
trace "stopped ${dead[*]} with $(active) peers ACTIVE"
wait "$storm" || true
trace "storm answered: $(sort "$CTL_T/codes" | uniq -c | paste -sd' ')"
[[ $(wc -l <"$CTL_T/codes") == 600 ]] || fail "$(wc -l <"$CTL_T/codes") of 600 requests answered"
[[ -z $(grep -vxE '200|503' "$CTL_T/codes") ]] || fail "answers other than 200/503: $(sort "$CTL_T/codes" | uniq -c)"

is_dead() { [[ " ${dead[*]} " == *" $1 "* ]]; }
ok=0 refused=0 live_ok=0
declare -A refused_on
# One line per reply: server, peer name ("-" when refused), code, error
# (never empty: read would merge adjacent tabs).
jq -r '[(input_filename | split("/") | last | split(".") | first), .peer_name // "-", .code // "-",
	.error // "-"] | @tsv' "$out"/*.json >"$CTL_T/replies" || fail "a reply is not JSON"
while IFS=$'\t' read -r sid name code err; do
	if [[ $name != - ]]; then
		ok=$((ok + 1))
		is_dead "$sid" || live_ok=$((live_ok + 1))
		echo "$sid $name" >>"$CTL_T/acked"
		continue
	fi
	is_dead "$sid" || fail "provision to live $sid failed: $code $err"
	[[ ($code == unreachable || $code == timeout) && $err == *"$sid"* ]] ||
		fail "$sid's refusal does not say unreachable/timeout naming it: $code $err"
	refused=$((refused + 1))
	refused_on[$sid]=1
done <"$CTL_T/replies"
lost=$(comm -23 <(sort "$CTL_T/acked") <(db_sql "SELECT server_id || ' ' || name FROM peers WHERE state = 1" | sort))
[[ -z $lost ]] || fail "answered 200 but not ACTIVE: $(head -n 3 <<<"$lost")"
[[ $ok == $(grep -cx 200 "$CTL_T/codes") && $refused == $(grep -cx 503 "$CTL_T/codes") ]] ||
	fail "reply bodies ($ok ok, $refused refused) disagree with the status codes"
[[ $live_ok == 480 ]] || fail "$live_ok of the 480 provisions to the 12 live servers answered 200"
for d in "${dead[@]}"; do [[ -n ${refused_on[$d]:-} ]] || fail "no provision to stopped $d was refused"; done
trace "480 provisions to the 12 answered 200; the 3 stopped ones: $refused refused with 503 naming the server"

settled() { [[ $(db_sql "SELECT count(*) FROM peers WHERE state != 1") == 0 ]]; }
WAIT_S=60 wait_for settled
[[ $(db_sql "SELECT count(*) FROM lease WHERE peer_id IS NOT NULL") == "$(active)" ]] ||
	fail "leases held by peers: $(db_sql "SELECT count(*) FROM lease WHERE peer_id IS NOT NULL"), ACTIVE peers $(active)"
[[ $(db_sql "SELECT server_id || ' ' || ip FROM lease WHERE peer_id IS NULL") == "${ids[0]} $hand_octet" ]] ||
	fail "reservations other than the hand-made peer's: $(db_sql "SELECT * FROM lease WHERE peer_id IS NULL")"
[[ $(active) == "$ok" ]] || fail "ACTIVE peers $(active), 200 answers $ok"
[[ -z $(db_dups) ]] || fail "an address is held twice: $(db_dups)"
for d in "${dead[@]}"; do
	[[ $(db_sql "SELECT up FROM servers WHERE id = '$d'") == 0 ]] || fail "$d is not marked down"
done
trace "no lease leaked: $ok ACTIVE peers, their $ok leases, 1 reservation"

# ---- the 3 come back ---------------------------------------------------------------------------
for d in "${dead[@]}"; do srv_start "$d"; done
pass_mark "${dead[@]}"
back() { # up again, and every ACTIVE peer of the DB is live with its block
	[[ $(db_sql "SELECT up FROM servers WHERE id = '$1'") == 1 ]] || return 1
	[[ -z $(comm -23 <(db_pairs "$1") <(live_pairs "$1")) ]] || return 1
	[[ -z $(comm -23 <(db_pv_blocks "$1") <(conf_pv_blocks "$1")) ]]
}
within_one_pass "back up with every ACTIVE peer" back "${dead[@]}"
for id in "${ids[@]:1}"; do wait_converged "$id"; done
wait_converged "${ids[0]}" "$hand_key"
[[ -z $(db_dups) ]] || fail "an address is held twice: $(db_dups)"
trace "the 3 returned and converged: DB ≡ fleet on all 15 servers"

jq -r '.config // empty' "$out"/*.json | awk '/^(PrivateKey|PresharedKey) = / { print $3 }' >>"$CTL_SEEN"
check_log_clean
ctl_stop
pass
