#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A compromised controller cannot run commands on a vpnctl client (issue 10
# item 5).  wg-quick runs PostUp/PreUp lines as root, so vpnctl must build
# pvpn0.conf from the provision reply's checked fields only.
#
# The malicious controller is a fake (tests/e2e/hostile-controller.py): a
# compromised or impersonated controller is a fault no real part produces.
# It relays to the real controller over HTTPS and tampers with the provision
# replies: `PostUp = touch MARKER` in the free-text config (vpnctl ignores it:
# the connect works, ping goes through, the file has only whitelisted lines),
# a line break plus PostUp in each field in turn, and an "older controller"
# reply without the fields, and a line break in the server list's location
# (vpnctl refuses: exit 4, a clear message, no file, no interface, the new
# peer revoked again).  MARKER never
# appears.  Last, the real controller's reply carries the new fields, with
# private_key only when it generated the pair.
#
#   hub (br0) ── ctl 203.0.113.2: vpn-controller :8443, hostile relay :9443
#             ── us-east-1 .11
#             ── client victim .101 (Pro key, logged in to :9443)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=vpnctl-lib.sh
. "$(dirname "$0")/vpnctl-lib.sh"

require python3
vpnctl_setup 1
tmp=$(e2e_tmp)
marker=$tmp/pwned
mode=$tmp/mode
server=us-east-1
hostile_port=9443
echo pass >"$mode"

trace "hostile relay on $FLEET_CTL_ADDR:$hostile_port in front of the real controller"
ip netns exec "$FLEET_NS_CTL" python3 "$PV_SRC/tests/e2e/hostile-controller.py" "$FLEET_CTL_ADDR" \
	"$hostile_port" "$CTL_T/tls.pem" "$CTL_T/tls.key" "$CTL_URL" "$CTL_CA" "$mode" "$marker" \
	>"$tmp/hostile.log" 2>&1 &
# shellcheck disable=SC2034 # read by the on_exit handler
hostile_pid=$!
on_exit 'kill -TERM "$hostile_pid" 2>/dev/null; wait "$hostile_pid" 2>/dev/null'
WAIT_S=30 wait_for grep -q listening "$tmp/hostile.log"

client_add victim >/dev/null
VPNCTL_API_KEY=$(admin_key victim pro) vc victim login --api "https://$FLEET_CTL_ADDR:$hostile_port" \
	--cacert "$CTL_CA" >/dev/null || fail "login through the relay failed: $(cat "$tmp/hostile.log")"

# No tunnel file, no interface, no peer left on the server, no marker.
nothing_left() {
	cli victim test ! -e /etc/wireguard/pvpn0.conf || fail "$1: a tunnel file was written"
	! cli victim ip link show pvpn0 >/dev/null 2>&1 || fail "$1: pvpn0 exists"
	[[ -z $(srv "$server" wg show wg0 peers) ]] || fail "$1: the new peer was not revoked"
	[[ ! -e $marker ]] || fail "$1: the hostile PostUp ran"
}

for field in address server_public_key preshared_key endpoint allowed_ips dns server_id; do
	trace "a line break and PostUp in field $field: refused, nothing written"
	echo "field:$field" >"$mode"
	rc=0
	vc victim connect "$server" 2>"$tmp/$field.err" || rc=$?
	[[ $rc == 4 ]] || fail "field $field: connect exited $rc, not 4: $(cat "$tmp/$field.err")"
	grep -q "refusing the controller's reply: .*$field" "$tmp/$field.err" ||
		fail "field $field: no clear message: $(cat "$tmp/$field.err")"
	! grep -q 'PostUp' "$tmp/$field.err" || fail "field $field: the message echoes the payload"
	nothing_left "field $field"
done

trace "an older controller's reply (no separate fields, PostUp in config): refused"
echo old >"$mode"
rc=0
vc victim connect "$server" 2>"$tmp/old.err" || rc=$?
[[ $rc == 4 ]] || fail "old reply: connect exited $rc, not 4: $(cat "$tmp/old.err")"
grep -q "lacks a field vpnctl needs" "$tmp/old.err" || fail "old reply: $(cat "$tmp/old.err")"
nothing_left "old reply"

trace "a line break and PostUp in the server list's location (the tunnel file's header): refused"
echo location >"$mode"
rc=0
vc victim connect 2>"$tmp/location.err" || rc=$?
[[ $rc == 4 ]] || fail "hostile location: connect exited $rc, not 4: $(cat "$tmp/location.err")"
grep -q "location or device has characters a tunnel file header cannot hold" "$tmp/location.err" ||
	fail "hostile location: $(cat "$tmp/location.err")"
nothing_left "hostile location"

trace "PostUp/PreUp/Table in the free-text config: ignored, the tunnel works from the fields"
echo config >"$mode"
vc victim connect "$server" --json >"$tmp/connect.json" || fail "connect with a hostile config failed"
cli victim ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "no ping through the tunnel"
[[ ! -e $marker ]] || fail "the config's PostUp ran"
cli victim cat /etc/wireguard/pvpn0.conf >"$tmp/pvpn0.conf"
! grep -qiE '^(PostUp|PreUp|PostDown|PreDown|Table|SaveConfig|MTU)' "$tmp/pvpn0.conf" ||
	fail "a hostile line reached the tunnel file: $(grep -iE 'Up|Down|Table' "$tmp/pvpn0.conf")"
# Every line is a comment, a section, or one of the whitelisted keys.
extra=$(grep -vE '^(#.*|\[Interface\]|\[Peer\]|(PrivateKey|Address|DNS|PublicKey|PresharedKey|AllowedIPs|Endpoint|PersistentKeepalive) = [^ ].*|FwMark = 51820|)$' \
	"$tmp/pvpn0.conf" || true)
[[ -z $extra ]] || fail "unexpected lines in the tunnel file: $extra"
vc victim disconnect || fail "disconnect failed"

trace "the real controller's reply carries the separate fields"
key=$(admin_key victim2 pro)
pub=$(wg pubkey <<<"$(wg genkey)")
st=$(api POST /api/provision "{\"server_id\":\"$server\",\"device\":\"d1\",\"public_key\":\"$pub\"}" \
	-H "X-API-Key: $key")
[[ $st == 200 ]] || fail "provision: $st $(cat "$RESP")"
remember_secrets
jq -e --arg ip "$(jq -r .client_ipv4 "$RESP")" '. as $r |
	.address == ($ip + "/24, " + .client_ipv6 + "/64") and
	(.preshared_key | length) == 44 and .allowed_ips == "10.7.0.0/24, fddd:2c4:2c4:2c4::/64" and
	.dns == "" and (has("private_key") | not) and
	(.config | contains("PresharedKey = " + $r.preshared_key))' \
	"$RESP" >/dev/null || fail "reply fields: $(jq 'del(.preshared_key, .config)' "$RESP")"
st=$(api POST /api/provision "{\"server_id\":\"$server\",\"device\":\"d2\"}" -H "X-API-Key: $key")
[[ $st == 200 ]] || fail "server-key provision: $st $(cat "$RESP")"
remember_secrets
jq -e '. as $r | (.private_key | length) == 44 and (.config | contains("PrivateKey = " + $r.private_key))' \
	"$RESP" >/dev/null || fail "server-key mode: the reply's private_key is not the config's"
check_log_clean

[[ ! -e $marker ]] || fail "the marker appeared"
pass
