#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Rows from before sealed PSKs (schema 1 kept no PSK) are migrated by the
# reconcile, and then they too survive a server that loses its peers:
# - a peer whose row has no PSK (as an upgraded DB has) gets it sealed from
#   its own block on the server (audit reconcile.adopt_psk), and the PSK
#   never appears in the controller's log;
# - the server then loses the peer (file and live): the on-demand reconcile
#   puts it back with the same PSK, byte-identical block, same address;
# - the JSON answer of the admin reconcile counts what it did, and an unknown
#   server is 404, a missing token 401.
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
# No timer pass during the test: every reconcile here is the admin route's.
ctl_start '"health_interval_s": 3600'
key=$(admin_key olduser basic)
admin=(-H "Authorization: Bearer $CTL_ADMIN")

st=$(api POST /api/provision "{\"server_id\":\"$id\",\"device\":\"old\"}" -H "X-API-Key: $key")
[[ $st == 200 ]] || fail "provision: $st $(cat "$RESP")"
remember_secrets
name=$(jq -r .peer_name "$RESP")
psk=$(jq -r .config "$RESP" | awk '/^PresharedKey = / { print $3 }')
pub=$(db_sql "SELECT pubkey FROM peers WHERE name = '$name'")
block() { srv "$id" awk -v n="$name" '$0 == "# BEGIN_PEER " n, $0 == "# END_PEER " n' /etc/wireguard/wg0.conf; }
before=$(block)
[[ -n $before ]] || fail "no block for $name on $id"

# ---- an old row: no PSK kept ------------------------------------------------------------------
db_sql "UPDATE peers SET psk_sealed = NULL WHERE name = '$name'"
st=$(api POST "/api/admin/servers/$id/reconcile" "" "${admin[@]}")
[[ $st == 200 ]] || fail "admin reconcile: $st $(cat "$RESP")"
[[ $(db_sql "SELECT length(psk_sealed) FROM peers WHERE name = '$name'") == 60 ]] ||
	fail "the old row's PSK was not sealed from the server"
[[ $(db_sql "SELECT count(*) FROM audit WHERE action = 'reconcile.adopt_psk' AND subject = '$id/$name'") == 1 ]] ||
	fail "no audit row for the adopted PSK"
[[ $(jq -r .restored "$RESP") == 0 && $(jq -r .failed "$RESP") == 0 ]] ||
	fail "nothing was missing, nothing should be restored: $(cat "$RESP")"
trace "an old row's PSK was read from its block once, sealed and kept"

# ---- the server loses the peer: it comes back, same PSK ---------------------------------------
srv "$id" sh -c "sed -i '/^# BEGIN_PEER $name\$/,/^# END_PEER $name\$/d' /etc/wireguard/wg0.conf &&
	wg set wg0 peer '$pub' remove"
[[ -z $(block) ]] || fail "the block is still there"
st=$(api POST "/api/admin/servers/$id/reconcile" "" "${admin[@]}")
[[ $st == 200 && $(jq -r .restored "$RESP") == 1 ]] || fail "restore: $st $(cat "$RESP")"
[[ $(block) == "$before" ]] || fail "restored block differs: $(block)"
[[ $(srv "$id" wg show wg0 preshared-keys | awk -v k="$pub" '$1 == k { print $2 }') == "$psk" ]] ||
	fail "the live peer has another PSK"
[[ $(db_sql "SELECT count(*) FROM audit WHERE action = 'reconcile.restore' AND subject = '$id/$name'") == 1 ]] ||
	fail "no audit row for the restore"
trace "the lost peer is back byte-identical, with the PSK its client has"

# ---- the route itself --------------------------------------------------------------------------
st=$(api POST /api/admin/servers/no-such-1/reconcile "" "${admin[@]}")
[[ $st == 404 && $(jq -r .code "$RESP") == not_found ]] || fail "unknown server: $st $(cat "$RESP")"
st=$(api POST "/api/admin/servers/$id/reconcile" "")
[[ $st == 401 ]] || fail "no admin token: $st"
st=$(api POST "/api/admin/servers/$id/reconcile" "" "${admin[@]}")
[[ $st == 200 && $(jq -r '.restored + .removed + .reserved + .released' "$RESP") == 0 ]] ||
	fail "a converged server needs no repair: $(cat "$RESP")"
trace "admin reconcile: 404 for an unknown server, 401 without the token, 0 repairs when converged"

check_log_clean
pass
