#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vpn-controller on a real 4-server fleet, over real HTTPS (test CA made here
# with openssl; curl verifies the certificate):
# - provision (client key, and seed mode) -> the peer shows in `wg show` and
#   wg0.conf on that server, and the config gives a working tunnel (ping
#   10.7.0.1 from a client namespace); provisioning the device again
#   replaces its peer; revoke removes it from the server and the file;
# - seed-snippet keys (python3 hmac) and previous-secret keys are accepted;
#   changed tier / user / signature, unknown and disabled users are refused;
#   a tier change revokes the old key; Basic sees 3 servers and gets 403 on Pro;
# - malformed bodies, unknown fields, huge bodies, bad methods, missing
#   headers get the right codes and change nothing;
# - a push to a stopped server gives 503 and leaves no lease;
# - a restart keeps every lease and peer; the log never holds a PSK or private key.
#
#   hub ns (br0) ── ctl 203.0.113.2 (vpn-controller :8443 TLS)
#               ├── s1..s3 Basic, s4 Pro 203.0.113.11..14 (sshd + wg0)
#               └── client 203.0.113.101 (wg-quick -> s1)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
require curl openssl python3 sqlite3 jq

fleet_up 4
read -r -a ids <<<"$SERVER_IDS"
basic=${ids[0]} basic2=${ids[1]} pro=${ids[3]}
ctl_start '"push_timeout_ms": 8000, "connect_timeout_ms": 3000, "health_interval_s": 3'

expect() { # expect STATUS CODE|- WHAT  (after an api call stored in $st)
	[[ $st == "$1" ]] || fail "$3: status $st, expected $1: $(head -c 300 "$RESP")"
	[[ $2 == - ]] || [[ $(jq -r .code "$RESP") == "$2" ]] || fail "$3: code $(cat "$RESP")"
}
peer_on() { srv "$1" wg show wg0 allowed-ips | grep "^$2	" >/dev/null; }
in_conf() { srv "$1" cat /etc/wireguard/wg0.conf | grep "^# BEGIN_PEER $2\$" >/dev/null; }
rows() { db_sql "SELECT count(*) FROM peers WHERE $1"; }
# Desired and actual state, for "changes nothing" checks.
snapshot() {
	db_sql "SELECT * FROM users ORDER BY id; SELECT * FROM peers ORDER BY id; SELECT count(*) FROM audit;"
	# wireguard-go lists peers in map order: sort.
	srv "$basic" wg show wg0 allowed-ips | sort
}

st=$(api GET /api/health)
expect 200 - health
jq -e ".db == \"ok\" and .servers_up == $FLEET_N" "$RESP" >/dev/null || fail "health: $(cat "$RESP")"

# ---- keys -------------------------------------------------------------------
k_alice=$(admin_key alice pro)
[[ $k_alice == "$(seed_key alice pro)" ]] || fail "generate-api-key differs from the seed snippet"
k_bob=$(admin_key bob basic)
st=$(api GET /api/servers '' -H "X-API-Key: $(seed_key bob basic "$CTL_PREV_SECRET")")
expect 200 - "key signed with the previous secret"
st=$(api GET /api/servers '' -H "X-API-Key: $k_bob")
expect 200 - "basic servers"
jq -e '(.servers | length) == 3 and all(.servers[]; .tier == "basic" and .status == "up")' \
	"$RESP" >/dev/null || fail "a Basic key must see exactly 3 up Basic servers: $(cat "$RESP")"
st=$(api GET /api/servers '' -H "X-API-Key: $k_alice")
jq -e ".servers | length == $FLEET_N" "$RESP" >/dev/null || fail "a Pro key sees every server"
sig=${k_bob##*_}
for bad in "bob_pro_$sig" "bobb_basic_$sig" "bob_basic_${sig%?}0" "bob_basic_${sig^^}" \
	"$(seed_key carol pro)" "bob_basic" "bob_basic_${sig}_x"; do
	[[ $bad != "$k_bob" ]] || continue
	st=$(api GET /api/servers '' -H "X-API-Key: $bad")
	expect 401 unauthorized "key $bad"
done
st=$(api GET /api/servers)
expect 401 unauthorized "missing X-API-Key"
trace "keys: seed snippet + previous secret accepted; tampered/unknown refused"

# ---- provision with a client-made key, tunnel -----------------------------------
# provision_key WHAT: a fresh client-made key pair ($priv, $pub) for bob's laptop on $basic.
provision_key() {
	priv=$(wg genkey)
	pub=$(wg pubkey <<<"$priv")
	echo "$priv" >>"$CTL_SEEN"
	st=$(api POST /api/provision "{\"server_id\":\"$basic\",\"device\":\"laptop\",\"public_key\":\"$pub\"}" \
		-H "X-API-Key: $k_bob")
	expect 200 - "$1"
	remember_secrets
}
provision_key "provision with a public key"
name=$(jq -r .peer_name "$RESP")
ip4=$(jq -r .client_ipv4 "$RESP")
config=$(jq -r .config "$RESP")
[[ $config != *PrivateKey* ]] || fail "config of a client-made key must not hold PrivateKey"
[[ $(jq -r .server_public_key "$RESP") == "$(srv "$basic" wg show wg0 public-key)" ]] ||
	fail "server_public_key is not the server's"
[[ $(srv "$basic" wg show wg0 allowed-ips | grep "^$pub	") == "$pub	$ip4/32 $(jq -r .client_ipv6 "$RESP")/128" ]] ||
	fail "peer $pub $ip4 not in wg show on $basic"
in_conf "$basic" "$name" || fail "no BEGIN_PEER $name in $basic's wg0.conf"

client_add c1 >/dev/null
printf '%s\n' "$config" | sed "s|^\[Interface\]\$|[Interface]\nPrivateKey = $priv|" |
	cli c1 sh -c 'umask 077; cat >/etc/wireguard/pvt0.conf'
cli c1 wg-quick up pvt0 >/dev/null 2>&1 || fail "wg-quick up failed"
WAIT_S=30 wait_for cli c1 ping -c1 -W1 10.7.0.1
trace "provisioned $name ($ip4) on $basic: in wg show + wg0.conf, tunnel pings 10.7.0.1"

# ---- seed mode: the controller makes the key pair -------------------------------
st=$(api POST /api/provision "{\"server_id\":\"$basic\"}" -H "X-API-Key: $k_alice")
expect 200 - "seed-mode provision"
remember_secrets
jq -r .config "$RESP" | grep '^PrivateKey = ' >/dev/null || fail "seed mode must return PrivateKey"
[[ $(jq -r .device "$RESP") == default ]] || fail "device defaults to \"default\""
seed_pub=$(jq -r .config "$RESP" | awk '/^PrivateKey/ { print $3 }' | wg pubkey)
peer_on "$basic" "$seed_pub" || fail "seed-mode peer not on $basic"

# ---- reprovisioning a device replaces its peer ---------------------------------------
pub1=$pub
provision_key "second provision of the same device"
pub2=$pub
name2=$(jq -r .peer_name "$RESP")
peer_on "$basic" "$pub2" || fail "replacing peer not on $basic"
! peer_on "$basic" "$pub1" || fail "replaced peer $pub1 still on $basic"
! in_conf "$basic" "$name" || fail "replaced peer $name still in wg0.conf"
[[ $(rows "user_id = 'bob' AND device = 'laptop'") == 1 ]] || fail "the device should have one row"
trace "reprovisioning laptop replaced $name by $name2"

# ---- tier, unknown server, bad input: right codes, nothing changes ---------------------
before=$(snapshot)
st=$(api POST /api/provision "{\"server_id\":\"$pro\"}" -H "X-API-Key: $k_bob")
expect 403 forbidden_tier "Basic key on a Pro server"
st=$(api POST /api/provision '{"server_id":"nowhere-9"}' -H "X-API-Key: $k_bob")
expect 404 not_found "unknown server"
for body in '{"server_id":' '[1]' '"x"' '{"server_id":"a","server_id":"b"}' '{"server_id":5}' \
	'{"device":"d"}' "{\"server_id\":\"$basic\",\"public_key\":\"AAAA\"}" \
	"{\"server_id\":\"$basic\",\"device\":\"a b\"}" '{"server_id":"x\u0000y"}'; do
	st=$(api POST /api/provision "$body" -H "X-API-Key: $k_bob")
	expect 400 bad_request "body $body"
done
st=$(api POST /api/provision "{\"server_id\":\"$basic\",\"sever_id\":1}" -H "X-API-Key: $k_bob")
expect 400 bad_request "unknown field"
grep -q sever_id "$RESP" || fail "400 must name the unknown field: $(cat "$RESP")"
big=$(head -c 9000 /dev/zero | tr '\0' ' ')
st=$(api POST /api/provision "{\"server_id\":\"$basic\"$big}" -H "X-API-Key: $k_bob")
expect 413 too_large "9000-byte body"
head -c 500000 /dev/zero | tr '\0' ' ' >"$CTL_T/big"
for te in "X-Plain: 1" "Transfer-Encoding: chunked"; do
	st=$(api POST /api/provision "" --data-binary "@$CTL_T/big" -H "$te" -H "X-API-Key: $k_bob")
	expect 413 too_large "500 kB body ($te)"
done
# Past evhttp's own limit it answers 413 and closes at once: curl may
# still be sending then (status 000, "broken pipe").  Never anything else.
head -c 3000000 /dev/zero | tr '\0' ' ' >"$CTL_T/huge"
st=$(api POST /api/provision "" --data-binary "@$CTL_T/huge" -H "X-API-Key: $k_bob" 2>/dev/null) || true
[[ $st == 413 || $st == 000 ]] || fail "3 MB body: status $st"
for m in GET PUT DELETE PATCH; do
	st=$(api "$m" /api/provision "" -H "X-API-Key: $k_bob")
	expect 405 method_not_allowed "$m /api/provision"
done
st=$(api POST /api/servers '{}' -H "X-API-Key: $k_bob")
expect 405 method_not_allowed "POST /api/servers"
st=$(api GET /api/nothing)
expect 404 not_found "unknown path"
st=$(api POST /api/provision "{\"server_id\":\"$basic\"}")
expect 401 unauthorized "provision without X-API-Key"
st=$(api POST /api/generate-api-key '{"user_id":"mallory","tier":"pro"}')
expect 401 unauthorized "admin endpoint without token"
st=$(api POST /api/generate-api-key '{"user_id":"mallory","tier":"pro"}' -H "Authorization: Bearer $k_bob")
expect 401 unauthorized "admin endpoint with a user key"
st=$(api POST /api/generate-api-key '{"user_id":"m_x","tier":"pro"}' -H "Authorization: Bearer $CTL_ADMIN")
expect 400 bad_request "user id with an underscore"
st=$(api POST /api/revoke '{}' -H "X-API-Key: $k_bob")
expect 400 bad_request "revoke without a target"
[[ $(snapshot) == "$before" ]] || fail "refused requests changed state"
kill -0 "$CTL_PID" || fail "controller died"
trace "403/404/400/413/405/401 answered as documented; state unchanged"

# ---- revoke ------------------------------------------------------------------------------
st=$(api POST /api/revoke "{\"server_id\":\"$basic\",\"device\":\"laptop\"}" -H "X-API-Key: $k_bob")
expect 200 - revoke
jq -e ".revoked == 1 and .servers == [\"$basic\"]" "$RESP" >/dev/null || fail "revoke: $(cat "$RESP")"
! peer_on "$basic" "$pub2" || fail "revoked peer still in wg show"
! in_conf "$basic" "$name2" || fail "revoked peer still in wg0.conf"
[[ $(rows "user_id = 'bob'") == 0 ]] || fail "revoked peer's row left"
trace "revoke removed $name2 from wg show, wg0.conf and the DB"

# ---- a stopped server: 503, no lease left -------------------------------------------------
srv_stop "$basic2"
st=$(api POST /api/provision "{\"server_id\":\"$basic2\",\"device\":\"x\"}" -H "X-API-Key: $k_bob")
expect 503 - "provision to a stopped server"
# The real cause: a silent server times out (a warm session) or cannot be reached (a new one).
[[ $(jq -r .code "$RESP") =~ ^(timeout|unreachable)$ ]] || fail "stopped server: code $(cat "$RESP")"
jq -r .error "$RESP" | grep "$basic2" >/dev/null || fail "the 503 does not name the server: $(cat "$RESP")"
[[ $(rows "server_id = '$basic2'") == 0 ]] || fail "a failed push left a lease"
srv_start "$basic2"
WAIT_S=60 wait_for api_ok POST /api/provision "{\"server_id\":\"$basic2\",\"device\":\"x\"}" \
	-H "X-API-Key: $k_bob"
remember_secrets
trace "stopped server: 503 and no lease; after start the provision goes through"

# ---- admin: tier change and disable ------------------------------------------------------------
st=$(api POST /api/admin/users/tier '{"user_id":"bob","tier":"pro"}' -H "Authorization: Bearer $CTL_ADMIN")
expect 200 - "tier change"
k_bob_pro=$(jq -r .api_key "$RESP")
# The tier change bumped bob's key generation (docs/api.md), so the key is generation 1's.
[[ $k_bob_pro == "$(seed_key bob pro "$CTL_SECRET" 1)" ]] || fail "new key is not the pro key"
st=$(api GET /api/servers '' -H "X-API-Key: $k_bob")
expect 401 unauthorized "old key after a tier change"
st=$(api POST /api/provision "{\"server_id\":\"$pro\"}" -H "X-API-Key: $k_bob_pro")
expect 200 - "provision on Pro after the upgrade"
remember_secrets
st=$(api POST /api/admin/users/disable '{"user_id":"alice"}' -H "Authorization: Bearer $CTL_ADMIN")
expect 200 - "disable alice"
jq -e '.active == false and .revoked == 1' "$RESP" >/dev/null || fail "disable: $(cat "$RESP")"
! peer_on "$basic" "$seed_pub" || fail "disabled user's peer still on $basic"
st=$(api GET /api/servers '' -H "X-API-Key: $k_alice")
expect 401 unauthorized "disabled user"
# One row a line, joined here: the same SQL for SQLite and PostgreSQL (PV_DB=pg); the
# controllers' own rows (leader.acquired on PostgreSQL) are not admin actions.
[[ $(db_sql "SELECT action || ':' || subject FROM audit WHERE actor <> 'controller' ORDER BY id" |
	paste -sd' ') == \
	"generate-api-key:alice generate-api-key:bob set-tier:bob disable-user:alice" ]] ||
	fail "audit trail: $(db_sql "SELECT * FROM audit")"
trace "tier change revokes the old key; disable revokes the user's peers fleet-wide"

# ---- restart keeps every lease and peer --------------------------------------------------------
state() {
	db_sql "SELECT id, user_id, device, server_id, name, pubkey, host, state FROM peers ORDER BY id"
	for id in "${ids[@]}"; do srv "$id" wg show wg0 allowed-ips | sort; done
}
before=$(state)
[[ $(rows "state = 1") == 2 ]] || fail "expected bob's 2 active peers before the restart"
ctl_restart '"push_timeout_ms": 8000, "connect_timeout_ms": 3000, "health_interval_s": 3'
[[ $(state) == "$before" ]] || fail "restart changed leases or peers"
st=$(api GET /api/servers '' -H "X-API-Key: $k_bob_pro")
jq -e "[.servers[] | .load] | add == $(rows "TRUE")" "$RESP" >/dev/null || fail "load after restart"
trace "restart kept every lease and peer"

check_log_clean
for k in "$k_bob" "$k_alice" "$k_bob_pro" "$CTL_ADMIN" "$CTL_SECRET"; do
	! grep -qF -- "$k" "$CTL_LOG" || fail "a key or token appears in the controller log"
done
ctl_stop # a clean exit on SIGTERM
pass
