#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The operators' admin API on a real 2-server fleet over real HTTPS:
# - rotate-key: the old key gets 401 at once, the new one 200; re-issuing a
#   key, re-enabling the user or setting the tier back never brings a revoked
#   key back (key generations, docs/api.md); never-rotated users keep the
#   seed's key format;
# - GET /api/admin/users pages by cursor; GET /api/admin/users/ID shows
#   tier, active, devices, each peer's server, addresses and state;
# - every admin route, with no token or a wrong token: 401 JSON, and the
#   DB is unchanged (table-driven);
# - /metrics (admin token, and metrics_listen on loopback without one)
#   passes `promtool check metrics`; its per-server peer and lease counts
#   equal the DB's, each one-interface server's wg0 series (leases, capacity
#   253, live and handshake peers, rx/tx) equal its server's and there is no
#   wg1 series; its request and provision counters the calls made;
# - SIGHUP reloads secrets, admin token and certificate without dropping a
#   keep-alive connection.
#
#   hub ns (br0) ── ctl 203.0.113.2 (vpn-controller :8443 TLS)
#               └── s1, s2 Basic 203.0.113.11..12 (sshd + wg0)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
require curl openssl python3 sqlite3 jq promtool

fleet_up 2
read -r -a ids <<<"$SERVER_IDS"
s1=${ids[0]} s2=${ids[1]}
METRICS_ADDR=127.0.0.1:9108
# Dozens of bad tokens on purpose (every admin route, twice): the failed-auth
# limiter, which would answer 429 after 20, is 33-controller-abuse's subject.
ctl_start '"push_timeout_ms": 8000, "connect_timeout_ms": 3000, "auth_fail_max": 1000, "metrics_listen": "'$METRICS_ADDR'"'

expect() { # expect STATUS CODE|- WHAT  (after an api call stored in $st)
	[[ $st == "$1" ]] || fail "$3: status $st, expected $1: $(head -c 300 "$RESP")"
	[[ $2 == - ]] || [[ $(jq -r .code "$RESP") == "$2" ]] || fail "$3: code $(cat "$RESP")"
}
admin() { api "$1" "$2" "${3:-}" -H "Authorization: Bearer $CTL_ADMIN"; } # admin METHOD PATH [BODY]
key_works() { [[ $(api GET /api/servers '' -H "X-API-Key: $1") == 200 ]]; }
key_refused() {
	st=$(api GET /api/servers '' -H "X-API-Key: $1")
	expect 401 unauthorized "$2"
}

# ---- key generations ------------------------------------------------------------------
k0=$(admin_key carol basic)
[[ $k0 == "$(seed_key carol basic)" ]] || fail "a new user's key is not the seed's format"
key_works "$k0" || fail "carol's first key"
st=$(admin POST /api/admin/users/rotate-key '{"user_id":"carol"}')
expect 200 - "rotate-key"
k1=$(jq -r .api_key "$RESP")
[[ $(jq -r .key_generation "$RESP") == 1 ]] || fail "rotate-key: $(cat "$RESP")"
[[ $k1 == "$(seed_key carol basic "$CTL_SECRET" 1)" ]] || fail "rotated key $k1 is not generation 1's"
key_refused "$k0" "the key before the rotation"
key_works "$k1" || fail "the rotated key"
key_refused "$(seed_key carol basic "$CTL_PREV_SECRET")" "the old key under the previous secret"
key_works "$(seed_key carol basic "$CTL_PREV_SECRET" 1)" || fail "generation 1 under the previous secret"
[[ $(admin_key carol basic) == "$k1" ]] || fail "re-issuing the same tier must answer the current key"
key_refused "$k0" "the old key after re-issuing"
trace "rotate-key: old key 401 at once, new key 200, re-issue keeps the new one"

st=$(admin POST /api/admin/users/disable '{"user_id":"carol"}')
expect 200 - "disable carol"
key_refused "$k1" "a disabled user's key"
k3=$(admin_key carol basic)
[[ $k3 != "$k1" && $k3 != "$k0" ]] || fail "re-enabling brought a revoked key back"
key_refused "$k1" "the key from before the disable, after re-enabling"
key_works "$k3" || fail "the key after re-enabling"
st=$(admin POST /api/admin/users/tier '{"user_id":"carol","tier":"pro"}')
expect 200 - "tier to pro"
st=$(admin POST /api/admin/users/tier '{"user_id":"carol","tier":"basic"}')
expect 200 - "tier back to basic"
k5=$(jq -r .api_key "$RESP")
for k in "$k0" "$k1" "$k3"; do key_refused "$k" "a basic key from before the tier round trip"; done
key_works "$k5" || fail "the key after the tier round trip"
st=$(admin POST /api/admin/users/rotate-key '{"user_id":"nobody"}')
expect 404 not_found "rotate-key of an unknown user"
[[ $(db_sql "SELECT count(*) FROM users WHERE id = 'nobody'") == 0 ]] || fail "rotate created a user"
trace "disable + re-enable and tier round trips never bring a revoked key back"

# ---- user list and detail -------------------------------------------------------------
for u in u1 u2 u3 u4 u5; do admin_key "$u" basic >/dev/null; done
k_u1=$(seed_key u1 basic)
st=$(api POST /api/provision "{\"server_id\":\"$s1\",\"device\":\"laptop\"}" -H "X-API-Key: $k_u1")
expect 200 - "provision u1 on $s1"
remember_secrets
st=$(api POST /api/provision "{\"server_id\":\"$s2\",\"device\":\"phone\"}" -H "X-API-Key: $k_u1")
expect 200 - "provision u1 on $s2"
remember_secrets
ip1=$(db_sql "SELECT host FROM peers WHERE user_id = 'u1' AND server_id = '$s1'")

seen=() cursor=""
while :; do
	st=$(admin GET "/api/admin/users?limit=2${cursor:+&cursor=$cursor}")
	expect 200 - "user list page after '$cursor'"
	n=$(jq '.users | length' "$RESP")
	((n <= 2)) || fail "a page holds more than limit: $(cat "$RESP")"
	mapfile -t -O "${#seen[@]}" seen < <(jq -r '.users[].user_id' "$RESP")
	cursor=$(jq -r '.next_cursor // empty' "$RESP")
	[[ -n $cursor ]] || break
done
[[ ${seen[*]} == "$(db_sql "SELECT id FROM users ORDER BY id" | paste -sd' ')" ]] ||
	fail "paging through the list gave '${seen[*]}'"
st=$(admin GET "/api/admin/users?cursor=u0&limit=1")
jq -e '.users == [{"user_id":"u1","tier":"basic","active":true,"key_generation":0,"peers":2,"devices":2}]' \
	"$RESP" >/dev/null || fail "list entry of u1: $(cat "$RESP")"
st=$(admin GET "/api/admin/users?limit=0")
expect 400 bad_request "limit 0"
st=$(admin GET "/api/admin/users?limit=5&limit=6")
expect 400 bad_request "repeated limit"
st=$(admin GET "/api/admin/users?sort=id")
expect 400 bad_request "unknown query parameter"
trace "user list pages through every user by cursor; bad queries are 400"

st=$(admin GET /api/admin/users/u1)
expect 200 - "user detail"
jq -e --arg s1 "$s1" --arg s2 "$s2" --arg ip "10.7.0.$ip1" '
	.user_id == "u1" and .tier == "basic" and .active == true and .key_generation == 0 and
	.devices == ["laptop", "phone"] and (.peers | length) == 2 and
	(.peers[0] | .server_id == $s1 and .device == "laptop" and .state == "active" and
		.client_ipv4 == $ip and (.client_ipv6 | startswith("fddd:2c4:2c4:2c4::"))) and
	(.peers[1] | .server_id == $s2 and .device == "phone" and .state == "active") and
	all(.peers[]; (.last_handshake | type) == "number" and (.rx_bytes | type) == "number" and
		(.tx_bytes | type) == "number" and .psk_kept == true)' "$RESP" >/dev/null ||
	fail "user detail: $(cat "$RESP")"
[[ $(jq -r '.peers[0].public_key' "$RESP") == \
	"$(db_sql "SELECT pubkey FROM peers WHERE user_id = 'u1' AND server_id = '$s1'")" ]] ||
	fail "user detail: public key differs from the DB's"
st=$(admin GET /api/admin/users/carol)
jq -e '.key_generation == 4 and .peers == [] and .devices == []' "$RESP" >/dev/null ||
	fail "carol's detail: $(cat "$RESP")"
st=$(admin GET /api/admin/users/nobody)
expect 404 not_found "unknown user"
st=$(admin GET "/api/admin/users/u1%27%3B")
expect 404 not_found "a user id with quotes"
st=$(admin GET "/api/admin/users/u1/peers")
expect 404 not_found "a path below a user"
trace "user detail: tier, active, devices, peers with server, addresses and state"

# ---- every admin route: no token or a wrong token is 401 and changes nothing -----------
snapshot() { db_sql "SELECT * FROM users; SELECT * FROM peers; SELECT count(*) FROM audit;"; }
before=$(snapshot)
admin_routes=(
	"POST /api/generate-api-key {\"user_id\":\"mallory\",\"tier\":\"pro\"}"
	"POST /api/admin/users/disable {\"user_id\":\"u1\"}"
	"POST /api/admin/users/tier {\"user_id\":\"u1\",\"tier\":\"pro\"}"
	"POST /api/admin/users/rotate-key {\"user_id\":\"u1\"}"
	"GET /api/admin/users"
	"GET /api/admin/users/u1"
	"POST /api/admin/users/u1/config {\"server_id\":\"us-east-1\",\"device\":\"phone\"}"
	"GET /api/admin/servers"
	"GET /metrics"
)
for row in "${admin_routes[@]}"; do
	read -r method path body <<<"$row"
	for auth in "" "Authorization: Bearer wrong-$CTL_ADMIN" "Authorization: Bearer" \
		"Authorization: $CTL_ADMIN" "X-API-Key: $k_u1"; do
		st=$(api "$method" "$path" "$body" ${auth:+-H "$auth"})
		expect 401 unauthorized "$method $path with '${auth%%:*}${auth:+: …}'"
		jq -e '.error | length > 0' "$RESP" >/dev/null || fail "$method $path: 401 without a message"
	done
done
[[ $(snapshot) == "$before" ]] || fail "a refused admin call changed the DB"
grep -q "GET /api/admin/users 401" "$CTL_LOG" || fail "refused admin calls are not in the access log"
trace "every admin route: no or wrong token is 401 JSON and changes nothing"

# ---- /metrics ----------------------------------------------------------------------------
st=$(admin GET /metrics)
expect 200 - "/metrics with the admin token"
cp "$RESP" "$CTL_T/metrics.txt"
promtool check metrics <"$CTL_T/metrics.txt" >"$CTL_T/promtool.log" 2>&1 ||
	fail "promtool check metrics: $(cat "$CTL_T/promtool.log")"
ctl curl -sS -o "$CTL_T/metrics2.txt" -w '%{http_code} %{content_type}' "http://$METRICS_ADDR/metrics" \
	>"$CTL_T/metrics2.status"
[[ $(cat "$CTL_T/metrics2.status") == "200 text/plain; version=0.0.4; charset=utf-8" ]] ||
	fail "metrics_listen: $(cat "$CTL_T/metrics2.status")"
promtool check metrics <"$CTL_T/metrics2.txt" >"$CTL_T/promtool.log" 2>&1 ||
	fail "promtool check metrics (metrics_listen): $(cat "$CTL_T/promtool.log")"
[[ $(ctl curl -sS -o /dev/null -w '%{http_code}' "http://$METRICS_ADDR/api/admin/users") == 404 ]] ||
	fail "metrics_listen serves more than /metrics"
sample() { # sample FILE 'name{labels}' -> the value, fails when absent
	awk -v k="$2" '$1 == k { print $2; found = 1 } END { exit !found }' "$1" || fail "no sample $2 in $1"
}
for id in "${ids[@]}"; do
	[[ $(sample "$CTL_T/metrics.txt" "pv_server_peers{server=\"$id\"}") == \
		"$(db_sql "SELECT count(*) FROM peers WHERE server_id = '$id' AND state = 1")" ]] ||
		fail "pv_server_peers of $id differs from the DB's ACTIVE peers"
	used=$(db_sql "SELECT count(*) FROM lease WHERE server_id = '$id'")
	[[ $(sample "$CTL_T/metrics.txt" "pv_server_leases_used{server=\"$id\"}") == "$used" ]] ||
		fail "pv_server_leases_used of $id differs from the DB's leases"
	[[ $(sample "$CTL_T/metrics.txt" "pv_server_leases_free{server=\"$id\"}") == $((253 - used)) ]] ||
		fail "pv_server_leases_free of $id"
	[[ $(sample "$CTL_T/metrics.txt" "pv_server_up{server=\"$id\"}") == 1 ]] || fail "pv_server_up of $id"
	[[ $(sample "$CTL_T/metrics.txt" "pv_ssh_queue_depth{server=\"$id\"}") =~ ^[0-9]+$ ]] ||
		fail "pv_ssh_queue_depth of $id"
	[[ $(sample "$CTL_T/metrics.txt" "pv_server_handshake_peers{server=\"$id\"}") == \
		"$(db_sql "SELECT active_peers FROM servers WHERE id = '$id'")" ]] ||
		fail "pv_server_handshake_peers of $id differs from the DB's"
	[[ $(sample "$CTL_T/metrics.txt" "pv_server_rx_bytes{server=\"$id\"}") == \
		"$(db_sql "SELECT rx_bytes FROM servers WHERE id = '$id'")" ]] || fail "pv_server_rx_bytes of $id"
	wg0="{server=\"$id\",interface=\"wg0\"}"
	[[ $(sample "$CTL_T/metrics.txt" "pv_interface_leases_used$wg0") == "$used" ]] ||
		fail "pv_interface_leases_used of $id's wg0 differs from the DB's leases"
	[[ $(sample "$CTL_T/metrics.txt" "pv_interface_capacity$wg0") == 253 ]] || fail "pv_interface_capacity of $id"
	for m in live_peers handshake_peers rx_bytes tx_bytes; do
		[[ $(sample "$CTL_T/metrics.txt" "pv_interface_$m$wg0") == \
			"$(sample "$CTL_T/metrics.txt" "pv_server_$m{server=\"$id\"}")" ]] ||
			fail "pv_interface_$m of $id's only interface differs from pv_server_$m"
	done
	! grep -q "^pv_interface_[a-z_]*{server=\"$id\",interface=\"wg1\"}" "$CTL_T/metrics.txt" ||
		fail "a wg1 series for one-interface $id"
done
[[ $(sample "$CTL_T/metrics.txt" "pv_server_peers{server=\"$s1\"}") == 1 ]] || fail "u1's peer on $s1 not counted"
[[ $(sample "$CTL_T/metrics.txt" 'pv_operations_total{op="provision",result="ok"}') == 2 ]] ||
	fail "provisions: $(grep pv_operations_total "$CTL_T/metrics.txt")"
[[ $(sample "$CTL_T/metrics.txt" 'pv_http_requests_total{route="/metrics",status="401"}') == 5 ]] ||
	fail "refused /metrics calls are not counted"
# "nobody" matched the route; the quoted id and the path below a user did not.
[[ $(sample "$CTL_T/metrics.txt" 'pv_http_requests_total{route="/api/admin/users/*",status="404"}') == 1 ]] ||
	fail "user lookups by status"
[[ $(sample "$CTL_T/metrics.txt" 'pv_http_requests_total{route="unmatched",status="404"}') == 2 ]] ||
	fail "unmatched paths by status"
(($(sample "$CTL_T/metrics.txt" 'pv_http_request_duration_seconds_count{route="/api/provision"}') == 2)) ||
	fail "provision latency histogram"
(($(sample "$CTL_T/metrics.txt" 'pv_sqlite_commit_duration_seconds_count') >= 2)) || fail "no SQLite commit timed"
! grep -q 'route="/api/admin/users/u1' "$CTL_T/metrics.txt" || fail "a raw path became a label"
trace "/metrics passes promtool, peer and lease counts equal the DB's (per server and per interface), counters match the calls"

# ---- SIGHUP: new secrets, admin token and certificate; nothing dropped --------------------
# A keep-alive TLS connection opened before the SIGHUP must answer after it
# on the same socket with the old certificate; a new connection gets the new one.
keepalive_check() {
	ctl python3 - "$FLEET_CTL_ADDR" "$CTL_PORT" "$CTL_T/ca.pem" "$CTL_PID" "$CTL_LOG" <<'PY'
import http.client, os, signal, ssl, sys, time
host, port, ca, pid, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
def reloads():
    with open(log) as f:
        return f.read().count("reload: done on SIGHUP")
conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=30)
conn.connect()
conn.auto_open = 0  # never reconnect behind our back
conn.request("GET", "/api/health")
r = conn.getresponse(); r.read()
assert r.status == 200, r.status
sock, old_cert = conn.sock, conn.sock.getpeercert(binary_form=True)
before = reloads()
os.kill(pid, signal.SIGHUP)
deadline = time.monotonic() + 30
while reloads() == before:
    assert time.monotonic() < deadline, "no reload line in the log"
    time.sleep(0.05)
conn.request("GET", "/api/health")
r = conn.getresponse(); r.read()
assert r.status == 200, r.status
assert conn.sock is sock and conn.sock.getpeercert(binary_form=True) == old_cert
fresh = http.client.HTTPSConnection(host, port, context=ctx, timeout=30)
fresh.request("GET", "/api/health")
r = fresh.getresponse(); r.read()
assert r.status == 200, r.status
print(ssl.DER_cert_to_PEM_cert(fresh.sock.getpeercert(binary_form=True)), end="")
PY
}
# Files are replaced atomically (what an operator's tooling should do too).
replace_file() { # replace_file PATH CONTENT
	(umask 077 && printf '%s\n' "$2" >"$1.new") && mv "$1.new" "$1"
}
old_secret=$CTL_SECRET old_prev=$CTL_PREV_SECRET old_admin=$CTL_ADMIN
k_old=$(seed_key u2 basic "$old_secret")
key_works "$k_old" || fail "u2's key before the reload"
(
	cd "$CTL_T"
	umask 077
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=controller reloaded" -keyout tls2.key -out tls2.csr 2>/dev/null
	openssl x509 -req -in tls2.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
		-extfile ext.cnf -out tls2.pem 2>/dev/null
)
CTL_SECRET="cur2-$(openssl rand -hex 16)" CTL_ADMIN=$(openssl rand -hex 24)
replace_file "$CTL_T/secrets" "$CTL_SECRET
$old_secret"
replace_file "$CTL_T/admin_token" "$CTL_ADMIN"
cp "$CTL_T/tls2.key" "$CTL_T/tls.key.new" && mv "$CTL_T/tls.key.new" "$CTL_T/tls.key"
cp "$CTL_T/tls2.pem" "$CTL_T/tls.pem.new" && mv "$CTL_T/tls.pem.new" "$CTL_T/tls.pem"
new_cert=$(keepalive_check) || fail "keep-alive connection across SIGHUP"
[[ $new_cert == "$(openssl x509 -in "$CTL_T/tls2.pem")" ]] ||
	fail "a new connection after SIGHUP does not get the new certificate"
kill -0 "$CTL_PID" || fail "controller died on SIGHUP"
trace "SIGHUP: the open keep-alive connection kept its socket and certificate; new ones get the new one"

key_works "$k_old" || fail "a key made with the previous secret stopped working after SIGHUP"
key_works "$(seed_key u2 basic "$CTL_SECRET")" || fail "a key made with the new secret is refused"
key_refused "$(seed_key u2 basic "$old_prev")" "a key of the dropped secret"
st=$(api GET /api/admin/users '' -H "Authorization: Bearer $old_admin")
expect 401 unauthorized "the old admin token after SIGHUP"
[[ $(admin_key u2 basic) == "$(seed_key u2 basic "$CTL_SECRET")" ]] ||
	fail "generate-api-key does not sign with the new current secret"
trace "SIGHUP: previous-secret keys still work, new-secret keys work, the old admin token is refused"

# A bad file keeps its old value; the other parts still reload.
chmod 0644 "$CTL_T/secrets"
good_admin=$CTL_ADMIN CTL_ADMIN=$(openssl rand -hex 24)
replace_file "$CTL_T/admin_token" "$CTL_ADMIN"
n=$(grep -c "reload: done" "$CTL_LOG")
kill -HUP "$CTL_PID"
reloaded_since() { (($(grep -c "reload: done" "$CTL_LOG") > $1)); } # re-counted on every try
WAIT_S=30 wait_for reloaded_since "$n"
grep -q "reload: secrets_file kept: secrets_file $CTL_T/secrets: must be a regular file of mode 0600" \
	"$CTL_LOG" || fail "a loose secrets file is not reported: $(tail -3 "$CTL_LOG")"
key_works "$(seed_key u2 basic "$CTL_SECRET")" || fail "a refused secrets file dropped the secrets"
st=$(api GET /api/admin/users '' -H "Authorization: Bearer $good_admin")
expect 401 unauthorized "the admin token replaced along with a refused secrets file"
st=$(admin GET /api/admin/users)
expect 200 - "the new admin token next to a refused secrets file"
chmod 0600 "$CTL_T/secrets"
trace "SIGHUP with a loose secrets file: secrets kept and the error logged, the token still reloads"

check_log_clean
pass
