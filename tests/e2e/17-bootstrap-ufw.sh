#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The ufw branch for real: on a fresh server with ufw active (only SSH
# allowed, as an operator would leave it), the bootstrap uses ufw, not its
# own filter table: UDP 51820 allowed, TCP 51820 rejected (a reset), routing
# from wg0 allowed, NAT by a nat-only privatevpn table.  A client handshakes
# and reaches the controller through it; a second run changes nothing.  ufw
# runs inside the server's namespaces (its /etc is private), so the host's
# ufw stays as it was.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require ufw iptables

host_ufw=$(ufw status)
fleet_up 1
id=$SERVER_IDS

# A fresh server with ufw on: no wg0, none of our files, only SSH allowed.
srv "$id" sh -c 'wg-quick down wg0 2>/dev/null; nft delete table inet privatevpn;
	rm -rf /etc/privatevpn /etc/sysctl.d/99-privatevpn.conf /etc/wireguard/wg0.conf;
	ufw allow 22/tcp && ufw --force enable' >/dev/null || fail "cannot enable ufw on $id"

summary=$(srv_bootstrap "$id") || fail "bootstrap with ufw failed: $(cat "$E2E_TMP/bootstrap-$id.log")"
trace "ufw: $summary"
jq -e '.firewall == "ufw" and (.changed | index("firewall"))' <<<"$summary" >/dev/null ||
	fail "bootstrap did not use ufw: $summary"
added=$(srv "$id" ufw show added)
for rule in "ufw allow 22/tcp" "ufw allow 51820/udp" "ufw reject 51820/tcp" "ufw route allow in on wg0"; do
	grep -qxF "$rule" <<<"$added" || fail "ufw lacks '$rule': $added"
done
tables=$(srv "$id" nft list table inet privatevpn)
[[ $tables == *"masquerade"* && $tables != *"chain input"* ]] ||
	fail "expected a nat-only privatevpn table next to ufw: $tables"

out=$(ctl timeout 30 bash -c 'exec 3<>/dev/tcp/203.0.113.11/51820' 2>&1 || echo "rc=$?")
[[ $out == *"Connection refused"* ]] || fail "ufw should reset TCP 51820, got: $out"
out=$(ctl timeout 3 bash -c 'exec 3<>/dev/tcp/203.0.113.11/8080' 2>&1 || echo "rc=$?")
[[ $out == *"rc=124"* ]] || fail "ufw should drop TCP 8080, got: $out"

client_add alice >/dev/null
tunnel_up alice "$id" 2
WAIT_S=30 wait_for cli alice ping -c 1 -W 1 10.7.0.1
WAIT_S=30 wait_for cli alice ping -c 1 -W 1 -I pv0 "$FLEET_CTL_ADDR"
trace "alice reaches 10.7.0.1 and, through ufw's routing and our NAT, the controller"

[[ $(srv_bootstrap "$id" | jq -c .changed) == "[]" ]] || fail "second run with ufw changed something"
[[ $(ufw status) == "$host_ufw" ]] || fail "the host's ufw changed"
pass
