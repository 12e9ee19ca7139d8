#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# peer_max_idle_days: lost laptops do not hold addresses forever.
# - two peers on one server, neither ever handshakes; one is made to look 40
#   days old (created_at moved back in the DB, as time would);
# - with peer_max_idle_days = 30 the next reconcile removes that one from the
#   server (file and live) and the DB (audit peer.idle_removed), and its
#   address is free again; the young one stays.
#
#   hub ns (br0) ── ctl 203.0.113.2 (vpn-controller :8443 TLS)
#               └── s1 203.0.113.11 (sshd + wg0)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
require curl openssl sqlite3 jq

fleet_up 1
read -r -a ids <<<"$SERVER_IDS"
id=${ids[0]}
ctl_start '"health_interval_s": 3600, "peer_max_idle_days": 30'
key=$(admin_key wanderer basic)
admin=(-H "Authorization: Bearer $CTL_ADMIN")
for dev in lost kept; do
	st=$(api POST /api/provision "{\"server_id\":\"$id\",\"device\":\"$dev\"}" -H "X-API-Key: $key")
	[[ $st == 200 ]] || fail "provision $dev: $st $(cat "$RESP")"
	remember_secrets
done
lost=$(db_sql "SELECT name FROM peers WHERE device = 'lost'")
lost_key=$(db_sql "SELECT pubkey FROM peers WHERE device = 'lost'")
lost_host=$(db_sql "SELECT host FROM peers WHERE device = 'lost'")
db_sql "UPDATE peers SET created_at = created_at - 40 * 86400 WHERE device = 'lost'"

st=$(api POST "/api/admin/servers/$id/reconcile" "" "${admin[@]}")
[[ $st == 200 && $(jq -r .idle_removed "$RESP") == 1 ]] || fail "reconcile: $st $(cat "$RESP")"
[[ $(db_sql "SELECT group_concat(device) FROM peers") == kept ]] || fail "rows left: $(db_sql "SELECT device FROM peers")"
[[ $(db_sql "SELECT count(*) FROM audit WHERE action = 'peer.idle_removed' AND subject = '$id/$lost'") == 1 ]] ||
	fail "no audit row for the idle removal"
! srv "$id" wg show wg0 peers | grep -xF "$lost_key" >/dev/null || fail "the idle peer is still live"
! srv "$id" grep -x "# BEGIN_PEER $lost" /etc/wireguard/wg0.conf >/dev/null || fail "the idle peer is still in wg0.conf"
[[ $(srv "$id" wg show wg0 peers | wc -l) == 1 ]] || fail "the young peer was removed too"
st=$(api POST /api/provision "{\"server_id\":\"$id\",\"device\":\"next\"}" -H "X-API-Key: $key")
[[ $st == 200 && $(jq -r .client_ipv4 "$RESP") == "10.7.0.$lost_host" ]] ||
	fail "the idle peer's address is not free again: $st $(jq -r .client_ipv4 "$RESP")"
remember_secrets
trace "a peer idle for 40 days (limit 30) is removed from the server and the DB; its address is reused"
check_log_clean
pass
