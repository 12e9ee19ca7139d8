#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Several WireGuard interfaces per server (issue 12), on a real fleet:
# - the bootstrap run with --interfaces 3 on a bootstrapped server adds wg1
#   and wg2 (10.8.0.0/24, 10.9.0.0/24, ports 51821, 51822, wg0's key) and
#   leaves wg0.conf byte for byte; run again it changes nothing (no "changed",
#   same files, firewall table, addresses and wireguard-go processes);
# - with that server listed with its 3 interfaces, 700 provisions to it
#   (16 at a time) all answer 200 and take leases wg0 2..254, wg1 2..254,
#   wg2 2..195: by peer id the lease only grows (wg0 filled before wg1, wg1
#   before wg2), no address twice, each reply's Endpoint port and Address are
#   its interface's, and each interface's live peers and wgN.conf blocks are
#   exactly its leases;
# - one client per interface brings its config up and pings its interface's
#   gateway (IPv4 and IPv6) through the tunnel, with a handshake on that
#   interface;
# - capacity is 759 in GET /api/servers and /metrics; the 759th provision is
#   200, the 760th 409 server_full;
# - a one-interface server's wg0.conf is exactly what the one-interface flow
#   writes: the bootstrap's file followed by wireguard-install.sh's blocks,
#   built here from the replies, and a controller restart (startup
#   reconcile over every interface) leaves both servers' files unchanged;
# - that server then gets wg1 (bootstrap --interfaces 2, PUT of its entry with
#   wg1 appended: other changes are 400): after the restart its capacity is
#   506 and its 254th peer is 10.8.0.2 on port 51821, its wg0 blocks kept.
# The AllowedIPs of each client's tunnel file is narrowed to its interface's
# subnets here (the controller's client_allowed_ips is the test config's
# 10.7.0.0/24): the test's choice, so each client routes its own gateway.
#
#   hub ns (br0) ── ctl 203.0.113.2 (vpn-controller :8443 TLS)
#               ├── s1 203.0.113.11 (sshd + wg0, wg1, wg2)
#               ├── s2 203.0.113.12 (sshd + wg0)
#               └── m0 .101, m1 .102, m2 .103 (wg-quick pvt0 → s1's wgK)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
require curl openssl python3 sqlite3 jq xargs ping sha256sum

fleet_up 2
read -r id one <<<"$SERVER_IDS"

# ---- bootstrap: 3 interfaces, then nothing more ---------------------------------------------
# shellcheck disable=SC2016 # expanded by the server's shell
state() {
	srv "$id" sh -c 'cd /etc/wireguard && sha256sum wg0.conf wg1.conf wg2.conf \
		/etc/privatevpn/firewall.nft; stat -c "%n %a %i %Y" wg0.conf wg1.conf wg2.conf;
		for i in wg0 wg1 wg2; do wg show $i public-key; wg show $i listen-port;
		ip -o addr show dev $i | awk "{ print \$4 }"; done; nft list table inet privatevpn'
}
wg_pids() { srv_wg_pid "$id" | sort; }
bootstrap3() { srv_ssh "$id" sh -s -- --interfaces 3 <"$BOOTSTRAP" 2>"$E2E_TMP/bootstrap3-$id.log"; }

wg0_before=$(srv "$id" sha256sum /etc/wireguard/wg0.conf)
key0=$(jq -r .server_public_key "$FLEET_DIR/bootstrap/$id.json")
first=$(bootstrap3) || fail "bootstrap --interfaces 3 failed: $(cat "$E2E_TMP/bootstrap3-$id.log")"
trace "bootstrap --interfaces 3: $(jq -c .changed <<<"$first")"
[[ $(srv "$id" sha256sum /etc/wireguard/wg0.conf) == "$wg0_before" ]] || fail "wg0.conf was rewritten"
jq -e '.changed | index("wg1.conf") and index("wg2.conf") and index("wg1") and index("wg2")
	and (index("wg0.conf") | not)' <<<"$first" >/dev/null || fail "first run's changes: $first"
[[ $(jq -c '[.interfaces[] | [.interface, .listen_port, .address4, .address6]]' <<<"$first") == \
	'[["wg0",51820,"10.7.0.1/24","fddd:2c4:2c4:2c4::1/64"],["wg1",51821,"10.8.0.1/24","fddd:2c4:2c4:2c5::1/64"],["wg2",51822,"10.9.0.1/24","fddd:2c4:2c4:2c6::1/64"]]' ]] ||
	fail "summary interfaces: $(jq -c .interfaces <<<"$first")"
for i in wg1 wg2; do
	[[ $(srv "$id" wg show "$i" public-key) == "$key0" ]] || fail "$i does not use wg0's key"
done
before=$(state)
pids_before=$(wg_pids)
[[ $(wc -l <<<"$pids_before") == 3 ]] || fail "expected 3 wireguard-go on $id: $pids_before"
second=$(bootstrap3) || fail "second bootstrap --interfaces 3 failed: $(cat "$E2E_TMP/bootstrap3-$id.log")"
[[ $(jq -c .changed <<<"$second") == "[]" ]] || fail "second run changed something: $second"
[[ $(state) == "$before" ]] || fail "server state differs after the second run"
[[ $(wg_pids) == "$pids_before" ]] || fail "an interface was restarted (wireguard-go pids changed)"
trace "bootstrap twice on a 3-interface server: the second run changed nothing"

# ---- the fleet file lists s1's 3 interfaces ------------------------------------------------
jq --arg id "$id" '(.servers[] | select(.id == $id) | .wireguard) |= {host: .host, interfaces: [
	{interface: "wg0", port: 51820, ipv4: "10.7.0.0/24", ipv6: "fddd:2c4:2c4:2c4::/64"},
	{interface: "wg1", port: 51821, ipv4: "10.8.0.0/24", ipv6: "fddd:2c4:2c4:2c5::/64"},
	{interface: "wg2", port: 51822, ipv4: "10.9.0.0/24", ipv6: "fddd:2c4:2c4:2c6::/64"}]}' \
	"$FLEET_SERVERS_JSON" >"$E2E_TMP/servers.json"
FLEET_SERVERS_JSON=$E2E_TMP/servers.json
METRICS_ADDR=127.0.0.1:9157
ctl_start '"metrics_listen": "'$METRICS_ADDR'"'
key=$(admin_key multi pro)
out=$CTL_T/out
mkdir -p "$out"
reconcile() { st=$(api POST "/api/admin/servers/$1/reconcile" '{}' -H "Authorization: Bearer $CTL_ADMIN"); }

# ---- one interface: the file is the one-interface flow's, byte for byte -----------------------
conf_before=$CTL_T/one-before.conf
srv "$one" cat /etc/wireguard/wg0.conf >"$conf_before"
codes=$(for i in $(seq 1 5); do echo "$one one$i"; done | provision_many 1 | sort | uniq -c)
[[ $(echo $codes) == "5 200" ]] || fail "provisions to $one: $codes"
for f in "$out/$one".one*.json; do jq -r '.private_key, .preshared_key' "$f"; done >>"$CTL_SEEN"
{
	cat "$conf_before"
	for i in $(seq 1 5); do
		f=$out/$one.one$i.json
		n=$(jq -r .client_ipv4 "$f" | cut -d. -f4)
		name=$(jq -r .peer_name "$f")
		printf '# BEGIN_PEER %s\n[Peer]\nPublicKey = %s\nPresharedKey = %s\n' "$name" \
			"$(jq -r .private_key "$f" | wg pubkey)" "$(jq -r .preshared_key "$f")"
		printf 'AllowedIPs = 10.7.0.%s/32, fddd:2c4:2c4:2c4::%s/128\n# END_PEER %s\n' "$n" "$n" "$name"
	done
} >"$CTL_T/one-expected.conf"
srv "$one" cat /etc/wireguard/wg0.conf >"$CTL_T/one-after.conf"
cmp -s "$CTL_T/one-expected.conf" "$CTL_T/one-after.conf" ||
	fail "$one's wg0.conf is not the one-interface layout: $(diff "$CTL_T/one-expected.conf" "$CTL_T/one-after.conf")"
[[ $(jq -r .endpoint "$out/$one.one1.json") == "$(srv_addr "$one"):51820" ]] || fail "$one endpoint"
trace "$one (one interface): wg0.conf is the bootstrap's file plus wireguard-install.sh's blocks"

# ---- 700 provisions to the 3-interface server ----------------------------------------------
codes=$(for i in $(seq 1 700); do echo "$id m$i"; done | provision_many 16 | sort | uniq -c)
[[ $(echo $codes) == "700 200" ]] || fail "700 provisions to $id: $codes"
for f in "$out/$id".m*.json; do jq -r '.private_key, .preshared_key' "$f"; done >>"$CTL_SEEN"
[[ $(db_sql "SELECT count(*), count(DISTINCT host) FROM peers WHERE server_id = '$id'") == "700|700" ]] ||
	fail "leases of $id are not 700 distinct ones"
[[ -z $(db_dups) ]] || fail "an address twice: $(db_dups)"
want=$(for k in 0 1 2; do seq $((k * 256 + 2)) $((k * 256 + 254)); done | head -700)
[[ $(db_sql "SELECT host FROM peers WHERE server_id = '$id' ORDER BY host") == "$want" ]] ||
	fail "$id's leases are not wg0 2..254, wg1 2..254, wg2 2..195"
[[ $(db_sql "SELECT host FROM peers WHERE server_id = '$id' ORDER BY id") == "$want" ]] ||
	fail "leases were not handed out in order (wg0, then wg1, then wg2)"
for f in "$out/$id".m*.json; do
	jq -r '[.client_ipv4, .client_ipv6, .endpoint, .address] | @tsv' "$f"
done >"$CTL_T/replies.tsv"
[[ $(cut -f1 "$CTL_T/replies.tsv" | sort -u | wc -l) == 700 &&
	$(cut -f2 "$CTL_T/replies.tsv" | sort -u | wc -l) == 700 ]] || fail "an address was handed out twice"
addr=$(srv_addr "$id")
awk -F '\t' -v a="$addr" '{
	split($1, o, "."); k = o[2] - 7; n = o[4]
	ok = (o[1] == 10 && o[3] == 0 && k >= 0 && k <= 2 && n >= 2 && n <= 254 &&
		$2 == sprintf("fddd:2c4:2c4:%x::%d", 708 + k, n) && $3 == a ":" (51820 + k) &&
		$4 == $1 "/24, " $2 "/64")
	if (!ok) { print "bad reply: " $0; bad = 1 }
} END { exit bad }' "$CTL_T/replies.tsv" || fail "a reply does not point at its interface"
for k in 0 1 2; do
	n=$((k == 2 ? 194 : 253))
	[[ $(srv "$id" wg show "wg$k" peers | wc -l) == "$n" ]] || fail "wg$k has $(srv "$id" wg show "wg$k" peers | wc -l) live peers, not $n"
	[[ $(srv "$id" grep -c '^# BEGIN_PEER ' "/etc/wireguard/wg$k.conf") == "$n" ]] || fail "wg$k.conf blocks"
	[[ $(srv "$id" wg show "wg$k" allowed-ips | cut -f2 | awk '{ print $1 }' | sort) == \
		"$(awk -F '\t' -v p="10.$((7 + k)).0." 'index($1, p) == 1 { print $1 "/32" }' "$CTL_T/replies.tsv" | sort)" ]] ||
		fail "wg$k's live addresses are not its leases"
done
trace "700 provisions: wg0 253, wg1 253, wg2 194, in order, each reply on its interface's port and subnet"

# ---- one client per interface: handshake and ping of its gateway ------------------------------
for k in 0 1 2; do
	f=$(grep -l "\"client_ipv4\": *\"10.$((7 + k)).0.2\"" "$out/$id".m*.json | head -1)
	[[ -n $f ]] || fail "no reply got 10.$((7 + k)).0.2"
	v6=$(printf 'fddd:2c4:2c4:%x' $((0x2c4 + k)))
	client_add "m$k" >/dev/null
	jq -r .config "$f" | sed "s|^AllowedIPs = .*|AllowedIPs = 10.$((7 + k)).0.0/24, $v6::/64|" |
		cli "m$k" sh -c 'umask 077; cat >/etc/wireguard/pvt0.conf'
	cli "m$k" wg-quick up pvt0 2>"$CTL_T/wg-quick-$k.log" || fail "wg$k client: wg-quick up: $(cat "$CTL_T/wg-quick-$k.log")"
	WAIT_S=30 wait_for cli "m$k" ping -c 1 -W 1 "10.$((7 + k)).0.1"
	cli "m$k" ping -6 -c 1 -W 3 "$v6::1" >/dev/null || fail "wg$k client: no IPv6 ping to $v6::1"
	pub=$(jq -r .private_key "$f" | wg pubkey)
	[[ $(srv "$id" wg show "wg$k" latest-handshakes | awk -v p="$pub" '$1 == p { print $2 }') -gt 0 ]] ||
		fail "no handshake of the wg$k client on wg$k"
	trace "client on wg$k: handshake, pings 10.$((7 + k)).0.1 and $v6::1"
done

# ---- capacity, and the 760th provision -------------------------------------------------------
st=$(api GET /api/servers "" -H "X-API-Key: $key")
[[ $st == 200 ]] || fail "GET /api/servers: $st"
[[ $(jq -c --arg id "$id" --arg one "$one" '[.servers[] | select(.id == $id or .id == $one) |
	[.id, .capacity, .interfaces]]' "$RESP") == "[[\"$id\",759,3],[\"$one\",253,1]]" ]] ||
	fail "capacity in GET /api/servers: $(jq -c .servers "$RESP")"
ctl curl -sS -o "$CTL_T/metrics.txt" "http://$METRICS_ADDR/metrics" || fail "GET /metrics"
grep -qx "pv_server_capacity{server=\"$id\"} 759" "$CTL_T/metrics.txt" || fail "pv_server_capacity of $id"
grep -qx "pv_server_leases_free{server=\"$id\"} 59" "$CTL_T/metrics.txt" || fail "pv_server_leases_free of $id"
codes=$(for i in $(seq 701 759); do echo "$id m$i"; done | provision_many 16 | sort | uniq -c)
[[ $(echo $codes) == "59 200" ]] || fail "provisions 701..759: $codes"
[[ $(provision_many 1 <<<"$id m760") == 409 ]] || fail "the 760th provision: $(cat "$out/$id.m760.json")"
[[ $(jq -r .code "$out/$id.m760.json") == server_full ]] || fail "760th: $(cat "$out/$id.m760.json")"
jq -e '.error | test("759 clients")' "$out/$id.m760.json" >/dev/null || fail "760th: $(cat "$out/$id.m760.json")"
trace "capacity 759: the 759th provision is 200, the 760th 409 server_full"

# ---- a restart's startup reconcile changes no file -------------------------------------------
for s in "$id" "$one"; do
	srv "$s" sh -c 'sha256sum /etc/wireguard/wg*.conf' >"$CTL_T/files-$s.before"
done
ctl_restart '"metrics_listen": "'$METRICS_ADDR'"'
for s in "$id" "$one"; do
	reconcile "$s"
	[[ $st == 200 ]] || fail "reconcile $s: $st $(cat "$RESP")"
	[[ $(jq -c '[.restored, .removed, .reserved, .released]' "$RESP") == "[0,0,0,0]" ]] ||
		fail "reconcile of $s repaired something: $(cat "$RESP")"
	[[ $(srv "$s" sh -c 'sha256sum /etc/wireguard/wg*.conf') == "$(cat "$CTL_T/files-$s.before")" ]] ||
		fail "$s's config files changed over a restart and reconcile"
done
cmp -s "$CTL_T/one-expected.conf" <(srv "$one" cat /etc/wireguard/wg0.conf) || fail "$one's wg0.conf moved"
trace "restart + reconcile: no repair, no file changed on either server"

# ---- a one-interface server in the fleet gets a second interface -----------------------------
admin() { api "$1" "$2" "${3:-}" -H "Authorization: Bearer $CTL_ADMIN"; }
more=$(srv_ssh "$one" sh -s -- --interfaces 2 <"$BOOTSTRAP" 2>"$CTL_T/bootstrap2.log") ||
	fail "--interfaces 2 on $one: $(cat "$CTL_T/bootstrap2.log")"
[[ $(jq -c .changed <<<"$more") == '["wg1.conf","firewall","wg1"]' ]] || fail "--interfaces 2 on $one changed: $more"
cmp -s "$CTL_T/one-expected.conf" <(srv "$one" cat /etc/wireguard/wg0.conf) || fail "$one's wg0.conf moved"
[[ $(admin GET /api/admin/servers/export) == 200 ]] || fail "export: $(cat "$RESP")"
jq -c --arg id "$one" '.servers[] | select(.id == $id)' "$RESP" >"$CTL_T/one-entry.json"
two=$(jq -c '.wireguard = {host: .wireguard.host, interfaces: [
	{interface: "wg0", port: 51820, ipv4: "10.7.0.0/24", ipv6: "fddd:2c4:2c4:2c4::/64"},
	{interface: "wg1", port: 51821, ipv4: "10.8.0.0/24", ipv6: "fddd:2c4:2c4:2c5::/64"}]}' "$CTL_T/one-entry.json")
for auth in "X-None: x" "Authorization: Bearer wrong-$CTL_ADMIN"; do
	st=$(api PUT "/api/admin/servers/$one" "$two" -H "$auth")
	[[ $st == 401 && $(jq -r .code "$RESP") == unauthorized ]] || fail "PUT with '$auth': $st $(cat "$RESP")"
done
st=$(admin PUT "/api/admin/servers/$one" "$(jq -c '.tier = "Pro" | .location = "Elsewhere"' <<<"$two")")
[[ $st == 400 ]] && jq -e '.error | test("field \"location\": only interfaces")' "$RESP" >/dev/null ||
	fail "an update of another field: $st $(cat "$RESP")"
st=$(admin PUT "/api/admin/servers/$one" "$(jq -c '.wireguard.interfaces[0].port = 51830' <<<"$two")")
[[ $st == 400 ]] && jq -e '.error | test("interfaces\\[0\\]")' "$RESP" >/dev/null ||
	fail "an update of wg0: $st $(cat "$RESP")"
st=$(admin PUT "/api/admin/servers/$one" "$two")
[[ $st == 200 ]] || fail "PUT $one with 2 interfaces: $st $(cat "$RESP")"
[[ $(jq -c '[.interfaces, .interfaces_now, .restart_required]' "$RESP") == "[2,1,true]" ]] ||
	fail "update answer: $(cat "$RESP")"
[[ $(db_sql "SELECT count(*) FROM audit WHERE action = 'server.update' AND subject = '$one'") == 1 ]] ||
	fail "the update is not audited once"
[[ $(provision_many 1 <<<"$one pre-restart") == 200 ]] || fail "provision before the restart"
[[ $(jq -r .endpoint "$out/$one.pre-restart.json") == "$(srv_addr "$one"):51820" ]] ||
	fail "before the restart the server still has one interface"
ctl_restart '"metrics_listen": "'$METRICS_ADDR'"'
st=$(api GET /api/servers "" -H "X-API-Key: $key")
[[ $(jq -c --arg id "$one" '[.servers[] | select(.id == $id) | .capacity, .interfaces]' "$RESP") == "[506,2]" ]] ||
	fail "capacity of $one after the restart: $(jq -c .servers "$RESP")"
codes=$(for i in $(seq 1 248); do echo "$one two$i"; done | provision_many 16 | sort | uniq -c)
[[ $(echo $codes) == "248 200" ]] || fail "248 provisions to $one: $codes"
for f in "$out/$one".*.json; do jq -r '.private_key, .preshared_key' "$f"; done >>"$CTL_SEEN"
f=$(grep -l '"client_ipv4": *"10.8.0.2"' "$out/$one".two*.json) || fail "no provision on $one's wg1"
[[ $(jq -r .endpoint "$f") == "$(srv_addr "$one"):51821" ]] || fail "wg1's endpoint: $(jq -r .endpoint "$f")"
[[ $(srv "$one" wg show wg1 peers) == "$(jq -r .private_key "$f" | wg pubkey)" ]] || fail "wg1's live peer"
[[ $(db_sql "SELECT count(*), max(host) FROM peers WHERE server_id = '$one'") == "254|258" ]] ||
	fail "$one's leases: $(db_sql "SELECT count(*), max(host) FROM peers WHERE server_id = '$one'")"
cmp -s -n "$(stat -c %s "$CTL_T/one-expected.conf")" "$CTL_T/one-expected.conf" \
	<(srv "$one" cat /etc/wireguard/wg0.conf) || fail "$one's first blocks moved"
trace "$one: wg1 appended with PUT; after the restart its 254th peer is 10.8.0.2 on port 51821"

check_log_clean
ctl_stop
pass
