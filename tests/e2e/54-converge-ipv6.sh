#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# IPv6 through the tunnel at every kind of host number: the controller fills
# one server (253 provisions through the API, hosts 2..254), and the clients
# at hosts 2, 10, 99 and 254 bring their configs up as they are:
# - the config's Address is 10.7.0.N/24, fddd:2c4:2c4:2c4::N/64 (N's decimal
#   digits as the last IPv6 group, wireguard-install.sh's convention), and
#   the server routes exactly 10.7.0.N/32 and fddd:2c4:2c4:2c4::N/128 to
#   that client's key;
# - each client pings the server's gateway fddd:2c4:2c4:2c4::1 and 10.7.0.1
#   through the tunnel, and the server pings each client's IPv6 address back
#   (so ::N reaches that client and nobody else).
#
#   hub ns (br0) ── ctl 203.0.113.2 (vpn-controller :8443 TLS)
#               ├── s1 203.0.113.11 (sshd + wg0, 253 peers)
#               └── h2 .101, h10 .102, h99 .103, h254 .104 (wg-quick pvt0 → s1)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
require curl openssl python3 sqlite3 jq xargs ping

fleet_up 1
id=$SERVER_IDS
ctl_start
key=$(admin_key sixer pro)
out=$CTL_T/out
mkdir -p "$out"
codes=$(for i in $(seq 1 253); do echo "$id fill$i"; done | provision_many 16 | sort | uniq -c)
[[ $(echo $codes) == "253 200" ]] || fail "filling $id: $codes"
[[ $(db_sql "SELECT count(DISTINCT host), min(host), max(host) FROM peers WHERE server_id = '$id'") == "253|2|254" ]] ||
	fail "$id should hold hosts 2..254 once each"
for f in "$out"/*.json; do jq -r .config "$f"; done | awk '/^(PrivateKey|PresharedKey) = / { print $3 }' >>"$CTL_SEEN"

for f in "$out"/*.json; do echo "$(jq -r .client_ipv4 "$f") $f"; done >"$CTL_T/by-address"
for h in 2 10 99 254; do
	f=$(awk -v a="10.7.0.$h" '$1 == a { print $2 }' "$CTL_T/by-address")
	[[ -n $f ]] || fail "no provision got 10.7.0.$h"
	[[ $(jq -r .client_ipv6 "$f") == "fddd:2c4:2c4:2c4::$h" ]] || fail "host $h: client_ipv6 $(jq -r .client_ipv6 "$f")"
	config=$(jq -r .config "$f")
	grep -qx "Address = 10.7.0.$h/24, fddd:2c4:2c4:2c4::$h/64" <<<"$config" ||
		fail "host $h: config $(grep Address <<<"$config")"
	pub=$(awk '/^PrivateKey = / { print $3 }' <<<"$config" | wg pubkey)
	[[ $(srv "$id" wg show wg0 allowed-ips | grep "^$pub	") == "$pub	10.7.0.$h/32 fddd:2c4:2c4:2c4::$h/128" ]] ||
		fail "host $h: the server routes $(srv "$id" wg show wg0 allowed-ips | grep "^$pub	" | cut -f2) to the key"
	client_add "h$h" >/dev/null
	printf '%s\n' "$config" | cli "h$h" sh -c 'umask 077; cat >/etc/wireguard/pvt0.conf'
	cli "h$h" wg-quick up pvt0 2>"$CTL_T/wg-quick-$h.log" || fail "host $h: wg-quick up: $(cat "$CTL_T/wg-quick-$h.log")"
done
for h in 2 10 99 254; do
	WAIT_S=30 wait_for cli "h$h" ping -6 -c 1 -W 1 fddd:2c4:2c4:2c4::1
	cli "h$h" ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "host $h: no IPv4 ping to 10.7.0.1"
	srv "$id" ping -6 -c 1 -W 3 "fddd:2c4:2c4:2c4::$h" >/dev/null ||
		fail "the server's ping to fddd:2c4:2c4:2c4::$h does not reach host $h's client"
	trace "host $h: IPv6 and IPv4 through the tunnel, both ways"
done

check_log_clean
ctl_stop
pass
