#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two controllers behind HAProxy on one PostgreSQL 15 (docs/ha.md), a real
# 4-server fleet:
# - 600 provisions through HAProxy, 200 at a time: all 200, both controllers
#   served some, no address twice in the DB or on a server, each server's
#   live peers exactly the DB's ACTIVE rows;
# - kill -9 of the leader in the middle of 300 more: HAProxy sends the rest
#   to the other; every acknowledged provision (200 and curl exit 0) is
#   ACTIVE in the DB and on its server; the survivor takes the lead (log
#   line, audit row leader.acquired) and runs the next health pass; once the
#   dead controller's half-done rows age out (docs/ha.md) the fleet equals
#   the DB;
# - the password in db_url appears in neither log.
#
#   hub ns (br0) ── ctl ns 203.0.113.2: HAProxy :9443 (TCP, checks /api/health
#               │     over TLS) -> controller A :8443, controller B :8444;
#               │     PostgreSQL on a unix socket (temp dir)
#               └── s1..s4 203.0.113.11..14 (sshd + wg0)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
require curl openssl jq xargs haproxy psql runuser
export PV_DB=pg

fleet_up 4
read -r -a ids <<<"$SERVER_IDS"
ctl_files
# A password in the URL (trust authentication ignores it): it must never be logged.
pw=pw-$(openssl rand -hex 8)
CTL_DB_FIELD="\"db_url\": \"postgresql://postgres:$pw@/pv?host=$PGHOST\""
conf='"push_timeout_ms": 4000, "connect_timeout_ms": 2000, "health_interval_s": 2,
  "max_connections_per_addr": 100000, "max_connections": 4096'

# Controller A, then B, on ports of their own.
ha_ctl_start a 8443 8080 "$conf"
ha_ctl_start b 8444 8081 "$conf"
pid_a=${HA_PID[a]} pid_b=${HA_PID[b]}
grep -q 'is now the leader' "$CTL_T/a.log" || fail "A (started first) should lead: $(cat "$CTL_T/a.log")"
! grep -q 'is now the leader' "$CTL_T/b.log" || fail "B leads too: $(cat "$CTL_T/b.log")"
st=$(CTL_PORT=8444 api GET /api/health)
[[ $st == 200 ]] || fail "B's health: $st $(cat "$RESP")"
jq -e '.leader == false' "$RESP" >/dev/null || fail "B's health says it leads: $(cat "$RESP")"

ha_lb_start a:8443 b:8444
CTL_PORT=$HA_LB_PORT
trace "HAProxy :$HA_LB_PORT -> A :8443 (leader), B :8444, both UP"

key=$(admin_key hauser pro)
out=$CTL_T/out
mkdir -p "$out"
for i in $(seq 0 599); do echo "${ids[i % 4]} dev$i"; done | provision_many 200 >"$CTL_T/codes1" 2>/dev/null
[[ $(sort "$CTL_T/codes1" | uniq -c | awk '{ print $1, $2 }') == "600 200" ]] ||
	fail "600 provisions through HAProxy: $(sort "$CTL_T/codes1" | uniq -c)"
((${lb_a:=$(ha_lb_stat a 8)} > 0 && ${lb_b:=$(ha_lb_stat b 8)} > 0)) || fail "one controller served nothing (A $lb_a, B $lb_b)"
[[ -z $(db_dups) ]] || fail "duplicate address in the DB: $(db_dups)"
for id in "${ids[@]}"; do
	[[ -z $(live_addrs "$id" | sort | uniq -d) ]] || fail "$id has a duplicate live address"
	same_peers "$id" || fail "$id: live peers differ from the DB's ACTIVE rows"
done
trace "600 provisions, all 200 (A served $lb_a connections, B $lb_b); no address twice in the DB or on a server"

# ---- kill -9 of the leader mid-storm ----------------------------------------------------------
active() { db_sql "SELECT count(*) FROM peers WHERE state = 1"; }
active_at_least() { (($(active) >= $1)); }
for i in $(seq 600 899); do echo "${ids[i % 4]} dev$i"; done | provision_many 64 >"$CTL_T/codes2" 2>/dev/null &
load=$!
WAIT_S=120 wait_for active_at_least 640
killed_at=$(date +%s)
kill -KILL "$pid_a"
wait "$pid_a" || true
unset 'HA_PID[a]'
wait "$load" || true
acked=$(grep -c '^200$' "$CTL_T/codes2" || true)
trace "killed A (-9) with $acked of 300 acknowledged ($(grep -c '^unanswered$' "$CTL_T/codes2" || true) unanswered)"
((acked >= 200)) || fail "HAProxy should have sent the rest to B: only $acked of 300 acknowledged"

b_leads() { grep -q 'is now the leader' "$CTL_T/b.log"; }
WAIT_S=30 wait_for b_leads
[[ $(db_sql "SELECT count(*) FROM audit WHERE actor = 'controller' AND action = 'leader.acquired' AND subject LIKE '% pid $pid_b'") == 1 ]] ||
	fail "no leader.acquired audit row for B: $(db_sql "SELECT * FROM audit WHERE actor = 'controller'")"
checked_after_kill() { (($(db_sql "SELECT min(checked_at) FROM servers WHERE retired = 0") > killed_at)); }
WAIT_S=30 wait_for checked_after_kill
trace "B took the lead (log line + audit row) and ran the next health pass"

# Acknowledged: a whole 200 reply (a cut one is no JSON); one jq per file, one query in all.
for f in "$out"/*.json; do
	jq -r 'select(.peer_name) | "\(.server_id) \(.peer_name)"' "$f" 2>/dev/null || true
done | sort >"$CTL_T/acked"
[[ $(wc -l <"$CTL_T/acked") == $((600 + acked)) ]] || fail "expected $((600 + acked)) acknowledged replies on disk"
db_sql "SELECT server_id || ' ' || name FROM peers WHERE state = 1" | sort >"$CTL_T/active"
[[ -z $(comm -23 "$CTL_T/acked" "$CTL_T/active") ]] ||
	fail "acknowledged but not ACTIVE: $(comm -23 "$CTL_T/acked" "$CTL_T/active" | head)"
# The dead controller's PENDING rows are leftovers once older than 2 x (2 s + 4 s) + 1 s.
settled() { (($(db_sql "SELECT count(*) FROM peers WHERE state <> 1") == 0)); }
WAIT_S=60 wait_for settled
fleet_is_db() { for id in "${ids[@]}"; do same_peers "$id" || return 1; done; }
WAIT_S=30 wait_for fleet_is_db
for id in "${ids[@]}"; do
	srv "$id" sed -n "s/^# BEGIN_PEER /$id /p" /etc/wireguard/wg0.conf | sort >"$CTL_T/conf"
	[[ -z $(grep "^$id " "$CTL_T/acked" | comm -23 - "$CTL_T/conf") ]] ||
		fail "acknowledged peers lost from $id's wg0.conf: $(grep "^$id " "$CTL_T/acked" | comm -23 - "$CTL_T/conf" | head)"
	[[ -z $(live_addrs "$id" | sort | uniq -d) ]] || fail "$id has a duplicate live address"
done
[[ -z $(db_dups) ]] || fail "duplicate address in the DB: $(db_dups)"
trace "every acknowledged provision is ACTIVE and on its server; the fleet equals the DB"

! grep -q -- "$pw" "$CTL_T/a.log" "$CTL_T/b.log" || fail "the db_url password appears in a log"
for f in "$out"/*.json; do jq -r '.config // empty' "$f" 2>/dev/null || true; done |
	awk '/^(PrivateKey|PresharedKey) = / { print $3 }' >>"$CTL_SEEN"
for CTL_LOG in "$CTL_T/a.log" "$CTL_T/b.log"; do check_log_clean; done
kill -TERM "$pid_b"
wait "$pid_b" || fail "B did not exit cleanly on SIGTERM"
unset 'HA_PID[b]'
pass
