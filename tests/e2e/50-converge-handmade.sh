#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Peers added on a server by hand, with wireguard-install.sh's own block
# layout and commands (not through the controller), never block it:
# - blocks at .2, .3, .10 and one without IPv6 at .5, there before the
#   controller starts: the startup reconcile reserves their hosts (lease rows
#   without a peer, audit reconcile.reserve_foreign);
# - one more at .4 (the next address the allocator offers) added after the
#   controller's last health pass, so only the push can find it: the first
#   provision is refused there, reserves .4 and retries inside the request;
# - 20 provisions to that server: all 200, none on a hand-made address, the
#   IPv6 address is the IPv4 host's decimal digits; every hand-made block and
#   live peer (addresses, PSK) byte for byte as before;
# - what the optional PV_WIREGUARD_INSTALL menu check of 12-bootstrap-adopt
#   covers, always: wireguard-install.sh's "add client" (lowest free octet of
#   wg0.conf) lands next to the controller's peers, an admin reconcile
#   reserves it, the next provision avoids it, the bootstrap leaves every
#   peer alone; its "remove client" removes only that block and the next
#   reconcile releases the reservation (audit reconcile.release_foreign).
#
#   hub ns (br0) ── ctl 203.0.113.2 (vpn-controller :8443 TLS, health pass once, at start)
#               └── s1 203.0.113.11 (sshd + wg0): hand2 .2, hand3 .3, handv4 .5 (no IPv6),
#                   hand10 .10, late .4 (after the start), bob (the menu's next octet)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=converge-lib.sh
. "$(dirname "$0")/converge-lib.sh"
require curl openssl python3 sqlite3 jq

fleet_up 1
id=$SERVER_IDS
declare -A hand_key
for spec in "hand2 2" "hand3 3" "handv4 5 v4" "hand10 10"; do
	read -r name octet v4 <<<"$spec"
	read -r got key < <(wi_add "$id" "$name" "$octet" "$v4")
	[[ $got == "$octet" ]] || fail "$name landed on .$got"
	hand_key[$name]=$key
done
[[ $(block "$id" handv4) == *"AllowedIPs = 10.7.0.5/32"$'\n'* ]] || fail "handv4 block: $(block "$id" handv4)"
[[ $(block "$id" hand10) == *"AllowedIPs = 10.7.0.10/32, fddd:2c4:2c4:2c4::10/128"$'\n'* ]] ||
	fail "hand10 block: $(block "$id" hand10)"

# No health pass after the startup one: only pushes and the admin route act.
ctl_start '"health_interval_s": 3600, "push_timeout_ms": 8000, "connect_timeout_ms": 3000'
[[ $(reserved "$id") == "2 3 5 10" ]] || fail "startup reconcile reserved '$(reserved "$id")', want '2 3 5 10'"
[[ $(audit_n reconcile.reserve_foreign) == 4 ]] ||
	fail "expected 4 reconcile.reserve_foreign audit rows: $(db_sql "SELECT * FROM audit")"
trace "startup reconcile reserved the hand-made hosts 2 3 5 10"

read -r got late_key < <(wi_add "$id" late 4)
[[ $got == 4 ]] || fail "late landed on .$got"
hand_key[late]=$late_key
orig=(hand2 hand3 handv4 hand10 late)
hand_state() { # hand_state NAME…: those blocks, then the live view of their keys
	local n
	for n in "$@"; do block "$id" "$n"; done
	for n in "$@"; do
		srv "$id" wg show wg0 allowed-ips | grep "^${hand_key[$n]}	"
		srv "$id" wg show wg0 preshared-keys | grep "^${hand_key[$n]}	"
	done
}
before=$(hand_state "${orig[@]}")
hand_hosts=" 2 3 4 5 10 "

key=$(admin_key handmade pro)
for i in $(seq 1 20); do
	st=$(api POST /api/provision "{\"server_id\":\"$id\",\"device\":\"d$i\"}" -H "X-API-Key: $key")
	[[ $st == 200 ]] || fail "provision $i: $st $(cat "$RESP")"
	remember_secrets
	ip4=$(jq -r .client_ipv4 "$RESP")
	h=${ip4#10.7.0.}
	[[ $hand_hosts != *" $h "* ]] || fail "provision $i got the hand-made address $ip4"
	[[ $(jq -r .client_ipv6 "$RESP") == "fddd:2c4:2c4:2c4::$h" ]] ||
		fail "provision $i: IPv6 $(jq -r .client_ipv6 "$RESP") for $ip4"
	echo "$h"
done >"$CTL_T/hosts"
[[ -z $(sort "$CTL_T/hosts" | uniq -d) ]] || fail "an address was handed out twice"
[[ $(reserved "$id") == "2 3 4 5 10" ]] || fail "the refused .4 is not reserved: '$(reserved "$id")'"
[[ $(hand_state "${orig[@]}") == "$before" ]] || fail "a hand-made block or live peer changed"
[[ $(db_sql "SELECT count(*) FROM peers WHERE pubkey IN ('${hand_key[hand2]}', '${hand_key[late]}')") == 0 ]] ||
	fail "a hand-made peer became a DB peer"
[[ -z $(live_addrs "$id" | sort | uniq -d) ]] || fail "two live peers share an address"
assert_converged "$id" "${hand_key[@]}"
[[ $(db_sql "SELECT count(*) FROM lease WHERE server_id = '$id'") == $((20 + 5)) ]] ||
	fail "leases: $(db_sql "SELECT count(*) FROM lease") rows, want 20 peers + 5 reservations"
trace "20 provisions: all 200 on $(sort -n "$CTL_T/hosts" | paste -sd' '); hand-made blocks untouched"

# ---- wireguard-install.sh's menu next to the controller's peers -----------------------------
read -r bob_octet bob_key < <(wi_add "$id" bob)
if [[ $hand_hosts == *" $bob_octet "* ]] || grep -qx "$bob_octet" "$CTL_T/hosts"; then
	fail "the menu's octet search picked a taken .$bob_octet"
fi
[[ $(block "$id" bob) == *"AllowedIPs = 10.7.0.$bob_octet/32, fddd:2c4:2c4:2c4::$bob_octet/128"$'\n'* ]] ||
	fail "bob's block: $(block "$id" bob)"
hand_key[bob]=$bob_key
reconcile_ok "$id"
jq -e '.reserved == 1 and .restored == 0 and .removed == 0 and .released == 0' "$RESP" >/dev/null ||
	fail "reconcile after the menu's add: $(cat "$RESP")"
[[ " $(reserved "$id") " == *" $bob_octet "* ]] || fail "bob's .$bob_octet not reserved: $(reserved "$id")"
st=$(api POST /api/provision "{\"server_id\":\"$id\",\"device\":\"after-bob\"}" -H "X-API-Key: $key")
[[ $st == 200 ]] || fail "provision after bob: $st $(cat "$RESP")"
remember_secrets
[[ $(jq -r .client_ipv4 "$RESP") != "10.7.0.$bob_octet" ]] || fail "the controller handed out bob's address"
before=$(hand_state "${orig[@]}")
conf_before=$(srv "$id" cat /etc/wireguard/wg0.conf)
[[ $(srv_bootstrap "$id" | jq -c .changed) == "[]" ]] || fail "the bootstrap changed something"
[[ $(srv "$id" cat /etc/wireguard/wg0.conf) == "$conf_before" ]] || fail "the bootstrap rewrote wg0.conf"

wi_remove "$id" bob
[[ -z $(block "$id" bob) ]] || fail "the menu's remove left bob's block"
! grep -qxF "$bob_key" <<<"$(srv "$id" wg show wg0 peers)" || fail "the menu's remove left bob live"
unset 'hand_key[bob]'
[[ $(hand_state "${orig[@]}") == "$before" ]] || fail "the menu's remove of bob touched another hand-made peer"
reconcile_ok "$id"
jq -e '.released == 1 and .restored == 0 and .removed == 0 and .reserved == 0' "$RESP" >/dev/null ||
	fail "reconcile after the menu's remove: $(cat "$RESP")"
[[ $(reserved "$id") == "2 3 4 5 10" ]] || fail "bob's reservation not released: $(reserved "$id")"
[[ $(audit_n reconcile.release_foreign) == 1 ]] || fail "no reconcile.release_foreign audit row"
assert_converged "$id" "${hand_key[@]}"
trace "menu add → reserved, avoided; bootstrap left every peer; menu remove → released"

check_log_clean
ctl_stop
pass
