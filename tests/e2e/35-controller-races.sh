#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Races the controller must win, on a real server whose edits are held back
# by taking its own edit lock (the lock remote.sh waits on), so requests
# overlap for as long as the test wants:
# - 6 concurrent provisions of one (user, device, server): exactly one is
#   200, the others 409 conflict, and one peer is ACTIVE and on the server;
# - a user disabled while their provision is out: the provision answers 401
#   and no peer of theirs stays, in the DB or on the server;
# - a Pro user moved to Basic while provisioning a Pro server: 403, and the
#   peer does not stay;
# - the per-tier device quota: a Basic account's third device (quota 2) gets
#   429 quota_exceeded as JSON, provisioning a device it has still works,
#   and revoking a device makes room.
#
#   hub ns (br0) ── ctl 203.0.113.2 (vpn-controller :8443 TLS)
#               ├── s1 Basic 203.0.113.11 (sshd + wg0)
#               └── s2..s4 (s4 Pro) 203.0.113.12..14
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
require curl openssl sqlite3 jq flock

fleet_up 4
read -r -a ids <<<"$SERVER_IDS"
basic=${ids[0]} pro=${ids[3]}
CTL_QUOTA='"max_devices_basic": 2, "max_devices_pro": 10,'
ctl_start '"push_timeout_ms": 20000, "health_interval_s": 3600'

# hold_lock ID SECONDS: the server's edit lock, taken the way remote.sh takes it.
hold_lock() {
	srv "$1" flock /etc/wireguard/.wg0.privatevpn.lock sleep "$2" &
	LOCK_PID=$!
	WAIT_S=10 wait_for srv "$1" sh -c 'flock -n /etc/wireguard/.wg0.privatevpn.lock true; [ $? = 1 ]'
}
# provision_bg OUT KEY SERVER DEVICE: a provision in the background; status in OUT.status.
provision_bg() {
	ctl curl -sS -o "$1" -w '%{http_code}' --cacert "$CTL_T/ca.pem" --max-time 60 \
		-H "X-API-Key: $2" -H 'Content-Type: application/json' \
		--data-binary "{\"server_id\":\"$3\",\"device\":\"$4\"}" \
		"https://$FLEET_CTL_ADDR:$CTL_PORT/api/provision" >"$1.status" &
}
user_peers_on() { srv "$1" wg show wg0 peers | grep -cxF -f <(db_sql "SELECT pubkey FROM peers WHERE user_id = '$2'") || true; }
pending_of() { [[ $(db_sql "SELECT count(*) FROM peers WHERE user_id = '$1' AND state = 0") -ge 1 ]]; }
admin=(-H "Authorization: Bearer $CTL_ADMIN")

# ---- one device, six provisions at once -----------------------------------------------------
key=$(admin_key racer basic)
hold_lock "$basic" 3
for i in 1 2 3 4 5 6; do provision_bg "$CTL_T/race$i" "$key" "$basic" phone; done
wait_for pending_of racer
wait "$LOCK_PID" || true
for i in 1 2 3 4 5 6; do WAIT_S=60 wait_for test -s "$CTL_T/race$i.status"; done
codes=$(for i in 1 2 3 4 5 6; do cat "$CTL_T/race$i.status"; echo; done | sort | uniq -c | xargs)
[[ $codes == "1 200 5 409" ]] || fail "6 concurrent provisions of one device: $codes"
for i in 1 2 3 4 5 6; do
	[[ $(cat "$CTL_T/race$i.status") == 200 || $(jq -r .code "$CTL_T/race$i") == conflict ]] ||
		fail "race $i: $(cat "$CTL_T/race$i")"
done
[[ $(db_sql "SELECT count(*) FROM peers WHERE user_id = 'racer' AND state = 1") == 1 ]] ||
	fail "not exactly one ACTIVE peer for the device"
[[ $(db_sql "SELECT count(*) FROM peers WHERE user_id = 'racer'") == 1 ]] || fail "rows left behind"
[[ $(user_peers_on "$basic" racer) == 1 ]] || fail "the server does not hold exactly one peer of racer"
trace "6 concurrent provisions of one device: one 200, five 409, one peer"

# ---- disabled while provisioning --------------------------------------------------------------
key=$(admin_key leaver basic)
hold_lock "$basic" 3
provision_bg "$CTL_T/leaver" "$key" "$basic" laptop
wait_for pending_of leaver
st=$(api POST /api/admin/users/disable '{"user_id":"leaver"}' "${admin[@]}")
[[ $st == 200 ]] || fail "disable: $st $(cat "$RESP")"
wait "$LOCK_PID" || true
WAIT_S=60 wait_for test -s "$CTL_T/leaver.status"
[[ $(cat "$CTL_T/leaver.status") == 401 && $(jq -r .code "$CTL_T/leaver") == unauthorized ]] ||
	fail "a provision that outlived its user's disable answered $(cat "$CTL_T/leaver.status") $(cat "$CTL_T/leaver")"
no_rows() { [[ $(db_sql "SELECT count(*) FROM peers WHERE user_id = '$1'") == 0 ]]; }
WAIT_S=30 wait_for no_rows leaver
[[ -z $(srv "$basic" wg show wg0 allowed-ips | grep -F "$(jq -r '.client_ipv4 // "none"' "$CTL_T/leaver")/32" || true) ]] ||
	fail "the disabled user's peer is on the server"
[[ $(srv "$basic" wg show wg0 peers | wc -l) == 1 ]] || fail "the server holds more than racer's peer"
trace "a user disabled mid-provision gets 401 and keeps no peer"

# ---- moved to Basic while provisioning a Pro server --------------------------------------------
key=$(admin_key climber pro)
hold_lock "$pro" 3
provision_bg "$CTL_T/climber" "$key" "$pro" laptop
wait_for pending_of climber
st=$(api POST /api/admin/users/tier '{"user_id":"climber","tier":"basic"}' "${admin[@]}")
[[ $st == 200 ]] || fail "tier change: $st $(cat "$RESP")"
wait "$LOCK_PID" || true
WAIT_S=60 wait_for test -s "$CTL_T/climber.status"
[[ $(cat "$CTL_T/climber.status") =~ ^(401|403)$ ]] ||
	fail "a provision that outlived its tier answered $(cat "$CTL_T/climber.status") $(cat "$CTL_T/climber")"
WAIT_S=30 wait_for no_rows climber
[[ $(srv "$pro" wg show wg0 peers | wc -l) == 0 ]] || fail "the downgraded user's peer is on $pro"
trace "a user moved to Basic mid-provision of a Pro server keeps no peer there"

# ---- the device quota -----------------------------------------------------------------------------
key=$(admin_key hoarder basic)
prov() { api POST /api/provision "{\"server_id\":\"$1\",\"device\":\"$2\"}" -H "X-API-Key: $key"; }
[[ $(prov "$basic" one) == 200 && $(prov "${ids[1]}" two) == 200 ]] || fail "two devices: $(cat "$RESP")"
st=$(prov "${ids[2]}" three)
[[ $st == 429 && $(jq -r .code "$RESP") == quota_exceeded ]] || fail "third device: $st $(cat "$RESP")"
[[ $(db_sql "SELECT count(*) FROM peers WHERE user_id = 'hoarder' AND device = 'three'") == 0 ]] ||
	fail "the refused device left a row"
[[ $(prov "${ids[2]}" two) == 200 ]] || fail "a device the account has, on another server: $(cat "$RESP")"
st=$(api POST /api/revoke '{"device":"one"}' -H "X-API-Key: $key")
[[ $st == 200 ]] || fail "revoke: $st $(cat "$RESP")"
[[ $(prov "${ids[2]}" three) == 200 ]] || fail "after a revoke the third device fits: $(cat "$RESP")"
trace "device quota: the third Basic device gets 429 quota_exceeded; a revoke makes room"
pass
