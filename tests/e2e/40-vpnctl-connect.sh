#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vpnctl end to end on a real fleet, against the real controller over HTTPS
# with a test CA: login (key on stdin), servers, connect without a name picks a
# reachable server and 10.7.0.1 answers through the tunnel; the tunnel file is
# created 0600 (strace: openat O_CREAT|O_EXCL 0600, then rename); the private
# key never left the client (the server's peer key is `wg pubkey` of the local
# one, and the key string is nowhere in what the controller wrote); status
# --json equals `wg show`; a repeated connect stays; a named connect switches
# and revokes the old peer; a Basic key is refused a Pro server with exit 3 and
# nothing left behind, gets a Basic server, and revoke --all removes it all; disconnect removes the interface; after revoke the old
# config gets no handshake.
#
#   hub (br0) ── ctl 203.0.113.2 (vpn-controller, HTTPS :8443)
#             ── us-east-1 .11, us-west-1 .12, eu-west-1 .13 (Basic), eu-central-1 .14 (Pro)
#             ── client alice .101 (Pro key), client bob .102 (Basic key)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"

# shellcheck source-path=SCRIPTDIR source=vpnctl-lib.sh
. "$(dirname "$0")/vpnctl-lib.sh"

require strace sqlite3
vpnctl_setup 4
tmp=$(e2e_tmp)
pro_key=$(admin_key alice pro)
basic_key=$(admin_key bob basic)
client_add alice >/dev/null
client_add bob >/dev/null
in_alice() { cli alice "$@"; }

trace "login: key on stdin, checked against the controller, stored 0600"
printf '%s\n' "$pro_key" | vc alice login --api "$CTL_URL" --cacert "$CTL_CA" --device laptop - ||
	fail "login failed"
cfg=$CTL_T/xdg-alice/vpnctl/config.json
[[ $(stat -c %a "$cfg") == 600 ]] || fail "login config is $(stat -c %a "$cfg"), not 600"
[[ $(jq -r .api_key "$cfg") == "$pro_key" && $(jq -r .device "$cfg") == laptop ]] ||
	fail "login config content"
rc=0
echo "alice_pro_0000000000000000" | vc alice login - 2>"$tmp/badlogin.err" || rc=$?
[[ $rc == 2 ]] || fail "a forged key should exit 2, got $rc"
grep -q 'vpnctl login' "$tmp/badlogin.err" || fail "forged key: no next step in: $(cat "$tmp/badlogin.err")"
[[ $(jq -r .api_key "$cfg") == "$pro_key" ]] || fail "a refused login overwrote the config"

trace "servers: all four listed with health and a measured latency"
vc alice servers --json >"$tmp/servers.json" || fail "servers --json failed"
jq -e '.tier == "pro" and (.servers | length) == 4 and all(.servers[]; .reachable and .latency_ms >= 0)' \
	"$tmp/servers.json" >/dev/null || fail "servers --json: $(cat "$tmp/servers.json")"
vc alice servers >"$tmp/servers.txt" || fail "servers (table) failed"
[[ $(grep -c ' ms$' "$tmp/servers.txt") == 4 ]] || fail "table: $(cat "$tmp/servers.txt")"

trace "connect with no name, under strace to see how the tunnel file is created"
# Not -f: vpnctl writes the file itself, and wireguard-go (started by wg-quick) stays running.
in_alice strace -qq -e trace=openat,rename,renameat,renameat2,chmod,fchmodat -o "$tmp/strace.log" \
	env XDG_CONFIG_HOME="$CTL_T/xdg-alice" "$VPNCTL" connect --json >"$tmp/connect.json" ||
	fail "connect failed"
server=$(jq -r .server_id "$tmp/connect.json")
jq -e --arg s "$server" '.servers[] | select(.id == $s) | .reachable' "$tmp/servers.json" >/dev/null ||
	fail "connect picked $server, which is not a reachable server of the list"
in_alice ip link show pvpn0 >/dev/null || fail "no pvpn0 after connect"
in_alice ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "no ping to 10.7.0.1 through the tunnel"

# The file exists first as a temp name created O_EXCL with 0600, then is renamed.
create=$(grep -E 'openat\(.*"/etc/wireguard/[^"]*pvpn0[^"]*".*O_CREAT' "$tmp/strace.log" || true)
[[ $(wc -l <<<"$create") == 1 && $create == *O_EXCL* && $create == *', 0600)'* &&
	$create == *'/etc/wireguard/.pvpn0.conf.tmp.'* ]] ||
	fail "tunnel file not created O_CREAT|O_EXCL 0600 under a temp name: $create"
grep -qE 'rename\("/etc/wireguard/\.pvpn0\.conf\.tmp\.[0-9]+", "/etc/wireguard/pvpn0\.conf"\)' \
	"$tmp/strace.log" || fail "no rename of the temp file onto pvpn0.conf"
! grep -qE 'chmod' "$tmp/strace.log" || fail "vpnctl changed a mode after creating a file"
[[ $(in_alice stat -c %a /etc/wireguard/pvpn0.conf) == 600 ]] || fail "pvpn0.conf is not 600"

trace "the private key stayed on the client"
priv=$(in_alice sed -n 's/^PrivateKey = //p' /etc/wireguard/pvpn0.conf)
[[ -n $priv ]] || fail "no PrivateKey in the tunnel file"
pub=$(wg pubkey <<<"$priv")
srv "$server" wg show wg0 peers | grep -xF "$pub" >/dev/null ||
	fail "the server's peers lack wg pubkey of the local private key"
[[ $(db_sql "SELECT count(*) FROM peers WHERE pubkey = '$pub'") == 1 ]] ||
	fail "the controller's DB does not hold the public key once"
grep -aqF "$pub" "$CTL_DB" "$CTL_DB-wal" 2>/dev/null ||
	fail "the public key is not found in the DB files (the check below would prove nothing)"
! grep -aqF "$priv" "$CTL_DB" "$CTL_DB-wal" "$CTL_LOG" 2>/dev/null ||
	fail "the private key appears in what the controller wrote (DB or log)"
! grep -raqF "$priv" "$CTL_T/xdg-alice" || fail "the private key appears in the login config"
! srv "$server" grep -qF "$priv" /etc/wireguard/wg0.conf || fail "the private key reached the server"

trace "status --json matches wg show"
before=$(in_alice wg show pvpn0 transfer | cut -f2-)
vc alice status --json >"$tmp/status.json" || fail "status --json failed"
after=$(in_alice wg show pvpn0 transfer | cut -f2-)
jq -e --arg s "$server" --arg k "$(in_alice wg show pvpn0 public-key)" \
	--arg e "$(in_alice wg show pvpn0 endpoints | cut -f2)" \
	--argjson h "$(in_alice wg show pvpn0 latest-handshakes | cut -f2)" \
	'.connected and .server_id == $s and .public_key == $k and .endpoint == $e and
	 .latest_handshake == $h and .latest_handshake > 0 and .interface == "pvpn0" and
	 (.address | startswith("10.7.0."))' "$tmp/status.json" >/dev/null ||
	fail "status --json vs wg show: $(cat "$tmp/status.json")"
read -r rx0 tx0 <<<"$before"
read -r rx1 tx1 <<<"$after"
jq -e --argjson a "$rx0" --argjson b "$rx1" --argjson c "$tx0" --argjson d "$tx1" \
	'.rx_bytes >= $a and .rx_bytes <= $b and .tx_bytes >= $c and .tx_bytes <= $d and .rx_bytes > 0' \
	"$tmp/status.json" >/dev/null || fail "status transfer not within wg show's: $before / $after"
vc alice status -v | grep "Connected to $server" >/dev/null || fail "status -v"

trace "a repeated connect keeps the current server"
vc alice connect >"$tmp/again.txt" || fail "second connect failed"
grep -q "Already connected to $server" "$tmp/again.txt" || fail "second connect: $(cat "$tmp/again.txt")"

trace "a named connect switches, and the old server loses the old peer"
other=eu-central-1
[[ $server != "$other" ]] || other=us-east-1
vc alice connect "$other" --json >"$tmp/switch.json" || fail "connect $other failed"
jq -e --arg s "$server" --arg o "$other" '.server_id == $o and .switched_from == $s' \
	"$tmp/switch.json" >/dev/null || fail "switch: $(cat "$tmp/switch.json")"
in_alice ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "no ping through the tunnel to $other"
! srv "$server" wg show wg0 peers | grep -xF "$pub" >/dev/null || fail "$server still has the old peer"

trace "a Basic key cannot use a Pro server, and nothing is left behind"
# The key from the environment: never in argv.
VPNCTL_API_KEY=$basic_key vc bob login --api "$CTL_URL" --cacert "$CTL_CA" || fail "bob's login failed"
rc=0
vc bob connect eu-central-1 2>"$tmp/bob.err" || rc=$?
[[ $rc == 3 ]] || fail "Basic connect eu-central-1 should exit 3, got $rc: $(cat "$tmp/bob.err")"
grep -q 'not in your tier' "$tmp/bob.err" || fail "no clear message: $(cat "$tmp/bob.err")"
! cli bob ip link show pvpn0 >/dev/null 2>&1 || fail "bob has a pvpn0 interface after a refusal"
cli bob test ! -e /etc/wireguard/pvpn0.conf || fail "bob has a tunnel file after a refusal"
[[ -z $(cli bob ls -A /etc/wireguard) ]] || fail "bob's /etc/wireguard is not empty"

trace "a Basic key's connect picks a Basic server; revoke --all removes its peers everywhere"
vc bob connect --json >"$tmp/bob.json" || fail "bob's connect failed"
bob_server=$(jq -r .server_id "$tmp/bob.json")
[[ " us-east-1 us-west-1 eu-west-1 " == *" $bob_server "* ]] || fail "a Basic key got $bob_server"
bob_pub=$(cli bob wg show pvpn0 public-key)
srv "$bob_server" wg show wg0 peers | grep -xF "$bob_pub" >/dev/null || fail "bob's peer is not on $bob_server"
vc bob revoke --all --json >"$tmp/bob-revoke.json" || fail "bob's revoke --all failed"
jq -e --arg s "$bob_server" '.revoked >= 1 and (.servers | index($s))' "$tmp/bob-revoke.json" \
	>/dev/null || fail "revoke --all: $(cat "$tmp/bob-revoke.json")"
! srv "$bob_server" wg show wg0 peers | grep -xF "$bob_pub" >/dev/null || fail "bob's peer survived revoke --all"
! cli bob ip link show pvpn0 >/dev/null 2>&1 || fail "bob's pvpn0 survived revoke --all"
[[ -z $(cli bob ls -A /etc/wireguard) ]] || fail "bob's tunnel file survived revoke --all"

trace "disconnect removes the interface"
saved=$tmp/old
mkdir -m 700 "$saved"
in_alice cat /etc/wireguard/pvpn0.conf >"$saved/pvpn0.conf"
chmod 600 "$saved/pvpn0.conf"
vc alice disconnect || fail "disconnect failed"
! in_alice ip link show pvpn0 >/dev/null 2>&1 || fail "pvpn0 still exists after disconnect"
vc alice status --json | jq -e '.connected == false and .server_id == "'"$other"'"' >/dev/null ||
	fail "status after disconnect"

trace "revoke: the peer is gone, the old config gets no handshake"
pub2=$(wg pubkey < <(sed -n 's/^PrivateKey = //p' "$saved/pvpn0.conf"))
srv "$other" wg show wg0 peers | grep -xF "$pub2" >/dev/null || fail "$other lacks the peer before revoke"
vc alice revoke || fail "revoke failed"
! srv "$other" wg show wg0 peers | grep -xF "$pub2" >/dev/null || fail "$other still has the peer after revoke"
in_alice test ! -e /etc/wireguard/pvpn0.conf || fail "revoke left the tunnel file"
in_alice wg-quick up "$saved/pvpn0.conf" 2>/dev/null || fail "wg-quick up of the old config failed"
! in_alice ping -c 2 -W 2 10.7.0.1 >/dev/null 2>&1 || fail "the revoked config still reaches 10.7.0.1"
[[ $(in_alice wg show pvpn0 latest-handshakes | cut -f2) == 0 ]] ||
	fail "the revoked config completed a handshake"
in_alice wg-quick down "$saved/pvpn0.conf" 2>/dev/null || fail "wg-quick down of the old config"

pass
