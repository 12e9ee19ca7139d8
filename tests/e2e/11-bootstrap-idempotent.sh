#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A second bootstrap run over SSH changes nothing: "changed" is empty, the
# server key, wg0.conf bytes, the firewall table and the running wireguard-go
# stay the same.  Drift is repaired and reported: a deleted firewall table
# comes back as "firewall", forwarding switched off as "sysctl", a loose
# wg0.conf mode as "wg0.conf".
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

fleet_up 2
id=${SERVER_IDS%% *}
bootstrap() { srv_bootstrap "$id"; }
# shellcheck disable=SC2016 # expanded by the server's shell
state() {
	srv "$id" sh -c 'sha256sum /etc/wireguard/wg0.conf /etc/sysctl.d/99-privatevpn.conf \
		/etc/privatevpn/firewall.nft; stat -c "%a %i %Y" /etc/wireguard/wg0.conf;
		wg show wg0 public-key; wg show wg0 listen-port; nft list table inet privatevpn;
		ip -o addr show dev wg0 | awk "{ print \$4 }"'
}
wg_pid() { srv_wg_pid "$id"; }

first=$(jq -c . "$FLEET_DIR/bootstrap/$id.json")
before=$(state)
pid_before=$(wg_pid)
[[ -n $pid_before ]] || fail "no wireguard-go running on $id"

second=$(bootstrap) || fail "second bootstrap failed: $(cat "$E2E_TMP/bootstrap-$id.log")"
trace "second run: $second"
[[ $(jq -c .changed <<<"$second") == "[]" ]] || fail "second run changed something: $second"
[[ $(jq -r .server_public_key <<<"$second") == "$(jq -r .server_public_key <<<"$first")" ]] ||
	fail "the server key changed"
[[ $(state) == "$before" ]] || fail "server state differs after the second run"
[[ $(wg_pid) == "$pid_before" ]] || fail "wg0 was restarted (wireguard-go pid changed)"

# Drift: the live firewall table is gone.
srv "$id" nft delete table inet privatevpn
third=$(bootstrap) || fail "bootstrap after firewall drift failed"
[[ $(jq -c .changed <<<"$third") == '["firewall"]' ]] || fail "firewall drift: $third"
[[ $(state) == "$before" ]] || fail "firewall not restored as it was"

# Drift: forwarding switched off (per network namespace).
srv "$id" sysctl -q -w net.ipv4.ip_forward=0
fourth=$(bootstrap) || fail "bootstrap after sysctl drift failed"
[[ $(jq -c .changed <<<"$fourth") == '["sysctl"]' ]] || fail "sysctl drift: $fourth"
[[ $(srv "$id" cat /proc/sys/net/ipv4/ip_forward) == 1 ]] || fail "ip_forward not restored"

# Drift: wg0.conf readable by everyone (it holds the private key).
srv "$id" chmod 644 /etc/wireguard/wg0.conf
fifth=$(bootstrap) || fail "bootstrap after mode drift failed"
[[ $(jq -c .changed <<<"$fifth") == '["wg0.conf"]' ]] || fail "mode drift: $fifth"
[[ $(srv "$id" stat -c %a /etc/wireguard/wg0.conf) == 600 ]] || fail "wg0.conf mode not restored"

# And once repaired, quiet again.
[[ $(bootstrap | jq -c .changed) == "[]" ]] || fail "not idempotent after repairs"
[[ $(state) == "$before" && $(wg_pid) == "$pid_before" ]] || fail "state moved after repairs"

pass
