#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# 15 servers come up, each bootstrapped over real SSH: over SSH each shows wg0
# with 10.7.0.1 and listening port 51820, and the firewall table is in place;
# TCP 51820 is refused (vpnctl's latency probe), other ports are dropped; the
# harness files (servers.json, known_hosts, bootstrap summaries) are right;
# the host's own files are untouched.
#
#   hub ns (br0) ── ctl 203.0.113.2 ── servers 203.0.113.11…25 (sshd + wireguard-go wg0)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

host_state() {
	ls -la /etc/wireguard /etc/sysctl.d 2>&1
	ls /etc/privatevpn 2>&1 || true
	cat /proc/sys/net/ipv4/ip_forward
}
before=$(host_state)

fleet_up "${PV_FLEET_N:-15}"
read -r -a ids <<<"$SERVER_IDS"
((${#ids[@]} == FLEET_N)) || fail "env lists ${#ids[@]} servers, FLEET_N=$FLEET_N"
[[ $(jq '.servers | length' "$FLEET_SERVERS_JSON") == "$FLEET_N" ]] || fail "servers.json length"
[[ $(wc -l <"$FLEET_KNOWN_HOSTS") == "$FLEET_N" ]] || fail "known_hosts should hold $FLEET_N keys"
[[ $(stat -c %a "$FLEET_SSH_KEY") == 600 ]] || fail "controller key is not 0600"

for i in "${!ids[@]}"; do
	id=${ids[i]}
	addr=203.0.113.$((11 + i))
	[[ $(srv_addr "$id") == "$addr" ]] || fail "$id: address"
	[[ $(jq -r --arg id "$id" '.servers[] | select(.id == $id) | "\(.wireguard.host) \(.ssh.host) \(.wireguard.port)"' \
		"$FLEET_SERVERS_JSON") == "$addr $addr 51820" ]] || fail "$id: servers.json entry"
	summary=$FLEET_DIR/bootstrap/$id.json
	jq -e '.listen_port == 51820 and .address4 == "10.7.0.1/24" and .firewall == "nftables"
		and (.changed | index("wg0.conf")) and (.changed | index("wg0"))' "$summary" >/dev/null ||
		fail "$id: bootstrap summary $(cat "$summary")"

	out=$(srv_ssh "$id" 'ip -o -4 addr show dev wg0; wg show wg0 listen-port; wg show wg0 public-key;
		stat -c %a /etc/wireguard/wg0.conf; nft list table inet privatevpn' 2>/dev/null) ||
		fail "$id: ssh failed"
	[[ $out == *"inet 10.7.0.1/24"* ]] || fail "$id: wg0 lacks 10.7.0.1: $out"
	[[ $(sed -n 2p <<<"$out") == 51820 ]] || fail "$id: listen port: $out"
	[[ $(sed -n 3p <<<"$out") == "$(jq -r .server_public_key "$summary")" ]] ||
		fail "$id: live public key differs from the bootstrap summary"
	[[ $(sed -n 4p <<<"$out") == 600 ]] || fail "$id: wg0.conf mode is not 600"
	for rule in 'udp dport 51820 accept' 'tcp dport 51820 reject with tcp reset' 'tcp dport 22 accept' \
		'policy drop' 'ip saddr 10.7.0.0/24 ip daddr != 10.7.0.0/24 masquerade'; do
		[[ $out == *"$rule"* ]] || fail "$id: firewall lacks '$rule'"
	done
done
trace "all $FLEET_N servers show wg0 10.7.0.1, port 51820 and the firewall over ssh"

# wireguard-go listens on UDP 51820 in the server's namespace.
[[ $(srv "${ids[0]}" ss -Hlnu 'sport = :51820' | wc -l) -ge 1 ]] || fail "nothing listens on UDP 51820"

# TCP 51820 answers with a reset (refused at once); an unopened port times out.
# (A reset comes back at once; the timeout only bounds the dropped case.)
probe() { ctl timeout "$3" bash -c "exec 3<>/dev/tcp/$1/$2" 2>&1 || echo "rc=$?"; }
out=$(probe 203.0.113.11 51820 30)
[[ $out == *"Connection refused"* ]] || fail "TCP 51820 should be refused, got: $out"
out=$(probe 203.0.113.11 8080 3)
[[ $out == *"rc=124"* ]] || fail "TCP 8080 should be dropped silently (timeout), got: $out"

# Host keys are pinned for real: a wrong known_hosts refuses the connection.
bad=$(e2e_tmp)/known_hosts
awk -v key="$(cut -d' ' -f1-2 "$FLEET_DIR/srv/${ids[1]}/ssh_host_ed25519_key.pub")" \
	'$1 == "203.0.113.11" { $0 = $1 " " key } { print }' "$FLEET_KNOWN_HOSTS" >"$bad"
[[ $(grep -c "^203.0.113.11 " "$bad") == 1 ]] || fail "could not forge known_hosts"
if ctl ssh -F none -i "$FLEET_SSH_KEY" -o BatchMode=yes -o UserKnownHostsFile="$bad" \
	-o StrictHostKeyChecking=yes root@203.0.113.11 true 2>/dev/null; then
	fail "ssh accepted a wrong host key"
fi

# The servers' writes stayed in their private mounts.
[[ $(host_state) == "$before" ]] || fail "the host's /etc/wireguard, /etc/sysctl.d or ip_forward changed"

pass
