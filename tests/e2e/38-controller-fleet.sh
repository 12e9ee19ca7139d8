#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The fleet changed at runtime, with vpnadm, on a real fleet over real HTTPS:
# - a server that runs only sshd (fleet up --bare: no WireGuard, not in
#   servers.json nor known_hosts) is added with `vpnadm server add` (its
#   host key pinned in the DB: no trust on first use) and `vpnadm server
#   bootstrap` (bootstrap.sh over the controller's SSH session): it comes up,
#   Pro users see it, a provision there handshakes; a second bootstrap
#   changes nothing; a restart keeps it (the DB is the fleet's source of
#   truth once servers.json was imported);
# - drain: provisions there get 409 `draining`, it is listed `draining`,
#   `vpnctl connect` without a server picks another, its tunnel still pings;
# - remove with peers is refused (409, exit 3); --force revokes them first,
#   and the pool closes its SSH session (no connection, no remote script left);
# - every new admin route without a token or with a wrong one: 401 JSON and
#   nothing changed.
#
#   hub ns (br0) ── ctl 203.0.113.2 (vpn-controller :8443 TLS, vpnadm)
#               ├── s1, s2 Basic 203.0.113.11..12 (sshd + wg0)
#               ├── s3 203.0.113.13: sshd only, added at runtime
#               └── clients alice, bob (Pro, vpnctl)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=vpnctl-lib.sh
. "$(dirname "$0")/vpnctl-lib.sh"
require curl openssl python3 sqlite3 jq ping ssh-keygen

vpnctl_setup 3 --bare 1
read -r -a ids <<<"$SERVER_IDS"
new=$BARE_IDS
VPNADM=$PV_BUILD/client-cli/vpnadm
ADM_CONF=$CTL_T/xdg-adm
adm() { ctl env XDG_CONFIG_HOME="$ADM_CONF" "$VPNADM" "$@"; }
rc() { # rc CODE CMD… : CMD must exit with CODE; its stdout in $CTL_T/out
	local want=$1 got=0
	shift
	"$@" >"$CTL_T/out" 2>"$CTL_T/err" || got=$?
	((got == want)) || fail "$* exited $got, expected $want: $(cat "$CTL_T/err")"
}
admin() { api "$1" "$2" "${3:-}" -H "Authorization: Bearer $CTL_ADMIN"; }
fleet_state() { db_sql "SELECT id, retired, draining, wg_pubkey, ssh_hostkey FROM servers ORDER BY id"; }
status_of() { # status_of ID: the admin view's status
	[[ $(admin GET "/api/admin/servers/$1") == 200 ]] || return 1
	jq -r .status "$RESP"
}
is_up() { [[ $(status_of "$1") == up ]]; }
seen() { cli "$1" sed -n 's/^\(PrivateKey\|PresharedKey\) = //p' /etc/wireguard/pvpn0.conf >>"$CTL_SEEN"; }
echo "$CTL_ADMIN" | rc 0 adm login "$CTL_URL" --cacert "$CTL_CA"

# ---- every new route: no token or a wrong one is 401 JSON and changes nothing ---------
entry=$(cat "$FLEET_DIR/bare/$new.json")
before=$(fleet_state)
for route in "POST /api/admin/servers" "GET /api/admin/servers/${ids[0]}" \
	"GET /api/admin/servers/export" "POST /api/admin/servers/${ids[0]}/bootstrap" \
	"POST /api/admin/servers/${ids[0]}/drain" "POST /api/admin/servers/${ids[0]}/undrain" \
	"DELETE /api/admin/servers/${ids[0]}" "DELETE /api/admin/servers/${ids[0]}?force=true" \
	"GET /api/admin/usage"; do
	read -r method path <<<"$route"
	body=""
	[[ $path != /api/admin/servers ]] || body=$entry
	for auth in "X-None: x" "Authorization: Bearer wrong-token-0123456789abcdef"; do
		st=$(api "$method" "$path" "$body" -H "$auth")
		[[ $st == 401 && $(jq -r .code "$RESP") == unauthorized ]] ||
			fail "$route with '$auth': $st $(cat "$RESP")"
	done
done
[[ $(fleet_state) == "$before" ]] || fail "a refused admin call changed the fleet"
trace "every new admin route: 401 JSON without or with a wrong token, nothing changed"

# ---- add: validated, pinned, no restart -----------------------------------------------
st=$(admin POST /api/admin/servers "$(jq -c 'del(.ssh.host_key)' <<<"$entry")")
[[ $st == 400 && $(jq -r .error "$RESP") == *ssh.host_key* ]] || fail "add without host key: $st $(cat "$RESP")"
st=$(admin POST /api/admin/servers "$(jq -c --arg id "${ids[0]}" '.id = $id' <<<"$entry")")
[[ $st == 400 || $st == 409 ]] || fail "add of an existing id: $st $(cat "$RESP")"
st=$(admin POST /api/admin/servers "$(jq -c '.ssh.host_key = "ssh-ed25519 AAAA"' <<<"$entry")")
[[ $st == 400 ]] || fail "add with a malformed host key: $st $(cat "$RESP")"
[[ $(fleet_state) == "$before" ]] || fail "a refused add changed the fleet"
! grep -qF "$(srv_addr "$new")" "$FLEET_KNOWN_HOSTS" || fail "the new server is in known_hosts: pinning would prove nothing"
rc 0 adm server add "$FLEET_DIR/bare/$new.json"
[[ $(cat "$CTL_T/out") == "$new added; next: vpnadm server bootstrap $new" ]] || fail "add: $(cat "$CTL_T/out")"
[[ $(db_sql "SELECT ssh_hostkey FROM servers WHERE id = '$new'") == "$(jq -r .ssh.host_key <<<"$entry")" ]] ||
	fail "the host key is not pinned in the DB"
rc 0 adm server show "$new" --json
fp=$(ssh-keygen -lf "$FLEET_DIR/srv/$new/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
jq -e --arg fp "$fp" '.host_key_fingerprint == $fp and .host_key_source == "pinned" and
	.public_key == "" and .port == 51820' "$CTL_T/out" >/dev/null || fail "server show: $(cat "$CTL_T/out")"
rc 0 adm server show "${ids[0]}" --json
fp0=$(ssh-keygen -lf "$FLEET_DIR/srv/${ids[0]}/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
jq -e --arg fp "$fp0" '.host_key_fingerprint == $fp and .host_key_source == "known_hosts"' \
	"$CTL_T/out" >/dev/null || fail "server show of a known_hosts server: $(cat "$CTL_T/out")"
# Hashed known_hosts (ssh-keygen -H, as HashKnownHosts=yes writes them) name no host:
# the fingerprint is still found.
ssh-keygen -q -H -f "$FLEET_KNOWN_HOSTS" >/dev/null 2>&1 || fail "ssh-keygen -H $FLEET_KNOWN_HOSTS"
rm -f "$FLEET_KNOWN_HOSTS.old"
! grep -qF "$(srv_addr "${ids[0]}")" "$FLEET_KNOWN_HOSTS" || fail "known_hosts still names ${ids[0]} in plain text"
rc 0 adm server show "${ids[0]}" --json
jq -e --arg fp "$fp0" '.host_key_fingerprint == $fp' "$CTL_T/out" >/dev/null ||
	fail "server show with a hashed known_hosts: $(cat "$CTL_T/out")"
trace "add: entry and host key validated, pinned in the DB, joined without a restart"

# ---- bootstrap over the pool's session --------------------------------------------------
rc 0 adm server bootstrap "$new" --json
wgkey=$(srv "$new" wg show wg0 public-key)
jq -e --arg k "$wgkey" '.bootstrap.server_public_key == $k and (.bootstrap.changed | length) > 0' \
	"$CTL_T/out" >/dev/null || fail "bootstrap: $(cat "$CTL_T/out")"
[[ $(db_sql "SELECT wg_pubkey FROM servers WHERE id = '$new'") == "$wgkey" ]] || fail "key not registered"
WAIT_S=30 wait_for is_up "$new"
[[ $(status_of "$new") == up ]] || fail "$new is not up after its bootstrap: $(cat "$RESP")"
rc 0 adm server bootstrap "$new" --json
jq -e --arg k "$wgkey" '.bootstrap.server_public_key == $k and .bootstrap.changed == []' \
	"$CTL_T/out" >/dev/null || fail "a second bootstrap changed something: $(cat "$CTL_T/out")"
rc 0 adm server reconcile
[[ $(grep -c '^\[[1-3]/3\] reconciling ' "$CTL_T/err") == 3 && $(grep -c ': restored 0, removed 0,' "$CTL_T/out") == 3 ]] ||
	fail "server reconcile of the fleet: $(cat "$CTL_T/err" "$CTL_T/out")"
trace "bootstrap: over the controller's SSH session, key registered, up; idempotent; fleet reconcile with progress"

vpnctl_client alice pro
vpnctl_client bob pro
vc alice servers --json >"$CTL_T/servers.json" || fail "alice: servers"
jq -e --arg s "$new" '(.servers | length) == 3 and
	any(.servers[]; .id == $s and .status == "up" and .reachable)' "$CTL_T/servers.json" \
	>/dev/null || fail "Pro users do not see $new: $(cat "$CTL_T/servers.json")"
alice_key=$(jq -r .api_key "$CTL_T/xdg-alice/vpnctl/config.json")
[[ $(api GET /api/servers '' -H "X-API-Key: $alice_key") == 200 &&
	$(jq -r --arg s "$new" '.servers[] | select(.id == $s) | .public_key' "$RESP") == "$wgkey" ]] ||
	fail "/api/servers lacks $new's key: $(cat "$RESP")"
vc alice connect "$new" --json >"$CTL_T/connect.json" || fail "alice: connect $new"
cli alice ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "no ping through the tunnel to $new"
seen alice
trace "Pro users see $new; a provision there handshakes and pings"

# ---- restart: the DB holds the fleet --------------------------------------------------------
ctl_restart
[[ $(jq '.servers | length' "$FLEET_SERVERS_JSON") == 2 ]] || fail "servers.json changed"
WAIT_S=30 wait_for is_up "$new"
grep -q "fleet: 3 servers from the DB" "$CTL_LOG" || fail "no 'from the DB' line in the log"
rc 0 adm server export
jq -e --arg s "$new" --arg k "$(jq -r .ssh.host_key <<<"$entry")" '.version == 1 and
	[.servers[].id] == ["'"${ids[0]}"'", "'"${ids[1]}"'", $s] and .servers[2].ssh.host_key == $k' \
	"$CTL_T/out" >/dev/null || fail "export: $(cat "$CTL_T/out")"
trace "restart: $new still there and up (pinned key from the DB); export is a servers.json"

# ---- drain -------------------------------------------------------------------------
rc 0 adm server drain "$new"
bob_key=$(jq -r .api_key "$CTL_T/xdg-bob/vpnctl/config.json")
st=$(api POST /api/provision "{\"server_id\":\"$new\",\"device\":\"x\"}" -H "X-API-Key: $bob_key")
[[ $st == 409 && $(jq -r .code "$RESP") == draining ]] || fail "provision on a draining server: $st $(cat "$RESP")"
[[ $(api GET /api/servers '' -H "X-API-Key: $bob_key") == 200 ]] || fail "servers"
[[ $(jq -r --arg s "$new" '.servers[] | select(.id == $s) | .status' "$RESP") == draining ]] ||
	fail "not listed draining: $(cat "$RESP")"
[[ $(status_of "$new") == draining ]] || fail "admin view: $(cat "$RESP")"
rc 0 vc bob connect --json
[[ $(jq -r .server_id "$CTL_T/out") != "$new" ]] || fail "vpnctl picked the draining server"
seen bob
cli alice ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "the draining server's tunnel stopped"
rc 3 vc bob connect "$new"
trace "drain: 409 draining, listed draining, never picked, its tunnel still pings"

# ---- remove ------------------------------------------------------------------------
rc 3 adm server remove "$new"
grep -q "has 1 peers" "$CTL_T/err" || fail "remove with peers: $(cat "$CTL_T/err")"
[[ $(db_sql "SELECT retired FROM servers WHERE id = '$new'") == 0 ]] || fail "refused remove retired it"
alice_pub=$(cli alice wg show pvpn0 public-key)
grep -qxF "$alice_pub" <<<"$(srv "$new" wg show wg0 peers)" || fail "alice's peer is not on $new"
new_ns=$("$FLEET" ns "$FLEET_DIR" "$new")
ssh_conns() { ip netns exec "$new_ns" ss -Htn state established '( sport = :22 )' | grep -c . || true; }
loop_procs() { # the pool's remote script (agentless/remote.sh) running on $new
	local p n=0
	for p in $(ip netns pids "$new_ns"); do
		! grep -qaF "privatevpn agentless remote edit" "/proc/$p/cmdline" 2>/dev/null || n=$((n + 1))
	done
	echo "$n"
}
(($(ssh_conns) > 0 && $(loop_procs) > 0)) || fail "no pooled session on $new before the remove: the check below would prove nothing"
rc 0 adm server remove "$new" --force
[[ $(cat "$CTL_T/out") == "$new removed (1 peers revoked)" ]] || fail "remove --force: $(cat "$CTL_T/out")"
[[ -z $(srv "$new" wg show wg0 peers) ]] || fail "alice's peer is still on $new"
[[ $(db_sql "SELECT count(*) FROM peers WHERE server_id = '$new'") == 0 &&
	$(db_sql "SELECT retired FROM servers WHERE id = '$new'") == 1 ]] || fail "DB after remove"
[[ $(api GET /api/servers '' -H "X-API-Key: $bob_key") == 200 && $(jq '.servers | length' "$RESP") == 2 ]] ||
	fail "still listed: $(cat "$RESP")"
[[ $(admin GET "/api/admin/servers/$new") == 404 ]] || fail "admin view of a removed server"
# The revoke ran on the pooled session; the removal closes it (the remote script exits with it).
for _ in $(seq 200); do
	[[ $(ssh_conns) != 0 || $(loop_procs) != 0 ]] || break
	sleep 0.1
done
[[ $(ssh_conns) == 0 ]] || fail "the controller is still connected to $new's sshd: $(ip netns exec "$new_ns" ss -Htn state established)"
[[ $(loop_procs) == 0 ]] || fail "the remote script still runs on $new"
[[ $(api GET /api/servers '' -H "X-API-Key: $bob_key") == 200 ]] || fail "the controller stopped serving after the remove"
trace "remove: refused with peers (exit 3), --force revokes them first"

check_log_clean
pass
