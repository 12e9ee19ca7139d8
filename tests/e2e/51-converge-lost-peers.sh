#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A server that loses its peers gets them back from the controller's DB, and
# its clients keep working without provisioning again:
# - alice connected with vpnctl (handshaking), 4 more peers provisioned
#   through the API, one peer added by hand (foreign: reserved, never ours);
# - the server loses every peer, wg0.conf blocks and live (as after an old
#   image is restored) → within one health period every ACTIVE peer is back:
#   same blocks byte for byte, same addresses, same PSKs (`wg show wg0
#   preshared-keys` before/after), one reconcile.restore audit row each and
#   a log line; the hand-made peer is not brought back and its reservation
#   goes (reconcile.release_foreign); alice's unchanged tunnel handshakes
#   with the server again and pings 10.7.0.1;
# - the server is redeployed from scratch (wg0 down, wg0.conf deleted, the
#   bootstrap run again: a new WireGuard key, no peers) → the health pass
#   flags it (log line, audit server.redeployed), records the new key (DB and
#   GET /api/servers "public_key") and restores every ACTIVE peer with its
#   PSK; `vpnctl connect` then brings alice's tunnel up against the new key.
#
#   hub ns (br0) ── ctl 203.0.113.2 (vpn-controller :8443 TLS, health pass every 4 s)
#               ├── s1 203.0.113.11 (sshd + wg0)
#               └── alice 203.0.113.101 (vpnctl → pvpn0 → s1)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=vpnctl-lib.sh
. "$(dirname "$0")/vpnctl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=converge-lib.sh
. "$(dirname "$0")/converge-lib.sh"
require sqlite3 sha256sum

vpnctl_setup 1
ctl_restart '"health_interval_s": 4, "push_timeout_ms": 8000, "connect_timeout_ms": 3000'
id=$SERVER_IDS
tmp=$(e2e_tmp)
vpnctl_client alice pro
vc alice connect --json >"$tmp/connect.json" || fail "alice's connect failed"
[[ $(jq -r .server_id "$tmp/connect.json") == "$id" ]] || fail "connect: $(cat "$tmp/connect.json")"
cli alice ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "alice: no ping through the tunnel"
alice_pub=$(cli alice wg show pvpn0 public-key)
tunnel_sum() { cli alice sha256sum /etc/wireguard/pvpn0.conf; }
alice_tunnel=$(tunnel_sum)
key=$(admin_key ops pro)
for i in 1 2 3 4; do
	st=$(api POST /api/provision "{\"server_id\":\"$id\",\"device\":\"spare$i\"}" -H "X-API-Key: $key")
	[[ $st == 200 ]] || fail "provision spare$i: $st $(cat "$RESP")"
	remember_secrets
done
read -r hand_octet hand_key < <(wi_add "$id" handmade)
hand_reserved() { reserved_is "$1" "$hand_octet"; }
pass_mark "$id"
within_one_pass "hand-made .$hand_octet reserved" hand_reserved "$id"
trace "alice connected, 4 more peers, hand-made .$hand_octet reserved by a health pass"

# ---- the server loses every peer ---------------------------------------------------------
rows() { db_sql "SELECT id, name, pubkey, host, state FROM peers ORDER BY id"; }
ours_psks() { psks "$id" | grep -v "^$hand_key	"; }
before_rows=$(rows)
before_psks=$(ours_psks)
before_blocks=$(active_blocks "$id")
[[ $(wc -l <<<"$before_psks") == 5 ]] || fail "expected 5 peers of ours before the loss: $before_psks"
restores=$(audit_n reconcile.restore)
releases=$(audit_n reconcile.release_foreign)
pass_mark "$id"
wipe_peers "$id"
within_one_pass "every ACTIVE peer restored" converged "$id"
[[ $(psks "$id") == "$before_psks" ]] || fail "the restored peers' PSKs differ from before the loss"
[[ $(active_blocks "$id") == "$before_blocks" ]] || fail "the restored blocks are not byte-identical"
[[ $(rows) == "$before_rows" ]] || fail "the restore changed the DB's peers: $(rows)"
[[ $(audit_n reconcile.restore) == $((restores + 5)) ]] ||
	fail "expected 5 more reconcile.restore audit rows, got $(($(audit_n reconcile.restore) - restores))"
grep -i "restor" "$CTL_LOG" | grep "$id" >/dev/null || fail "no log line about the restore on $id"
none_reserved() { reserved_is "$1" ""; }
within_one_pass "the lost hand-made peer's reservation released" none_reserved "$id"
[[ $(audit_n reconcile.release_foreign) == $((releases + 1)) ]] || fail "no reconcile.release_foreign audit row"
! grep -qxF "$hand_key" <<<"$(srv "$id" wg show wg0 peers)" || fail "the foreign peer was brought back"
WAIT_S=60 wait_for cli alice ping -c 1 -W 1 10.7.0.1
hs=$(srv "$id" wg show wg0 latest-handshakes | awk -v k="$alice_pub" '$1 == k { print $2 }')
[[ -n $hs && $hs -gt 0 ]] || fail "the server saw no handshake from alice's restored peer"
[[ $(tunnel_sum) == "$alice_tunnel" ]] || fail "alice's tunnel file changed"
trace "every ACTIVE peer restored byte for byte with its PSK; alice handshakes again unchanged"

# ---- the server is redeployed from scratch ------------------------------------------------------
old_pub=$(srv "$id" wg show wg0 public-key)
srv "$id" sh -c 'wg-quick down wg0 2>/dev/null; rm -f /etc/wireguard/wg0.conf'
srv_bootstrap "$id" >/dev/null || fail "redeploy: bootstrap failed: $(cat "$E2E_TMP/bootstrap-$id.log")"
pass_mark "$id"
new_pub=$(srv "$id" wg show wg0 public-key)
[[ -n $new_pub && $new_pub != "$old_pub" ]] || fail "the redeploy did not make a new server key"
[[ -z $(srv "$id" wg show wg0 peers) ]] || fail "the redeployed server has peers already"
redeploy_seen() { [[ $(audit_n server.redeployed) -ge 1 ]] && converged "$1"; }
within_one_pass "redeploy flagged and peers restored" redeploy_seen "$id"
[[ $(audit_n server.redeployed) == 1 ]] || fail "expected one server.redeployed audit row"
grep -i "redeploy" "$CTL_LOG" | grep "$id" >/dev/null || fail "no log line flags the redeploy of $id"
[[ $(db_sql "SELECT wg_pubkey FROM servers WHERE id = '$id'") == "$new_pub" ]] ||
	fail "the DB does not hold the new server key"
st=$(api GET /api/servers '' -H "X-API-Key: $key")
[[ $st == 200 ]] || fail "GET /api/servers: $st"
[[ $(jq -r --arg s "$id" '.servers[] | select(.id == $s) | .public_key' "$RESP") == "$new_pub" ]] ||
	fail "GET /api/servers does not list the new public_key: $(cat "$RESP")"
[[ $(psks "$id") == "$before_psks" ]] || fail "PSKs after the redeploy differ"
[[ $(active_blocks "$id") == "$before_blocks" ]] || fail "blocks after the redeploy are not byte-identical"
trace "redeploy flagged, new key $new_pub recorded, every peer restored"

vc alice connect --json >"$tmp/reconnect.json" || fail "vpnctl connect after the redeploy failed"
[[ $(cli alice wg show pvpn0 peers) == "$new_pub" ]] || fail "alice's tunnel does not use the new server key"
cli alice ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "alice: no ping after the redeploy"
trace "vpnctl connect works against the redeployed server"

check_log_clean
ctl_stop
pass
