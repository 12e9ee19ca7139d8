#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Usage and the ops /metrics on a real 1-server fleet over real HTTPS:
# - every health pass (1 s here) turns the peers' rx/tx counters into
#   deltas per user per UTC day: usage grows by at least the bytes pinged
#   through a tunnel;
# - the server's counters reset (its WireGuard interface restarted): usage
#   keeps what it had and grows by the new traffic, and never exceeds what
#   the client itself counted (nothing double-counted);
# - bytes moved after the last health pass are counted at the revoke (the
#   server reports the peer's last counters in the removal's answer): with
#   health_interval_s 3600, 50 x 1000 bytes pinged right before the revoke
#   show in usage, and the total stays within the client's own count;
# - usage is kept after the peer is revoked; from/to/user filter it;
#   `vpnadm usage` prints it;
# - /metrics passes `promtool check metrics` with the SSH round-trip
#   histogram per server, draining and the usage totals (equal to the DB's).
#
#   hub ns (br0) ── ctl 203.0.113.2 (vpn-controller :8443 TLS, vpnadm)
#               ├── s1 Basic 203.0.113.11 (sshd + wg0)
#               └── client alice (Pro, vpnctl, tunnel to s1)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=vpnctl-lib.sh
. "$(dirname "$0")/vpnctl-lib.sh"
require curl openssl python3 sqlite3 jq ping promtool

VPNCTL=$PV_BUILD/client-cli/vpnctl
VPNADM=$PV_BUILD/client-cli/vpnadm
fleet_up 1
s1=$SERVER_IDS
ctl_start '"health_interval_s": 1'
CTL_URL=https://$FLEET_CTL_ADDR:$CTL_PORT
CTL_CA=$CTL_T/ca.pem
ADM_CONF=$CTL_T/xdg-adm
adm() { ctl env XDG_CONFIG_HOME="$ADM_CONF" "$VPNADM" "$@"; }
admin() { api "$1" "$2" "${3:-}" -H "Authorization: Bearer $CTL_ADMIN"; }
today=$(date -u +%F)
# usage_of USER rx|tx: that user's bytes over every day, from the API.
usage_of() {
	[[ $(admin GET "/api/admin/usage?user=$1") == 200 ]] || fail "usage: $(cat "$RESP")"
	jq "[.days[].${2}_bytes] | add // 0" "$RESP"
}
# grown USER MIN_RX MIN_TX: usage reached both.
grown() { (($(usage_of "$1" rx) >= $2 && $(usage_of "$1" tx) >= $3)); }
# client_count rx|tx: alice's own counter of her tunnel.
client_count() {
	local f=2
	[[ $1 == tx ]] && f=3
	cli alice wg show pvpn0 transfer | cut -f"$f"
}
echo "$CTL_ADMIN" | adm login "$CTL_URL" --cacert "$CTL_CA" >/dev/null || fail "vpnadm login"

vpnctl_client alice pro
vc alice connect "$s1" >/dev/null || fail "alice: connect"
cli alice sed -n 's/^\(PrivateKey\|PresharedKey\) = //p' /etc/wireguard/pvpn0.conf >>"$CTL_SEEN"
cli alice ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "no ping through the tunnel"

# ---- usage grows by at least the bytes pinged ---------------------------------------------
WAIT_S=30 wait_for grown alice 1 1
rx0=$(usage_of alice rx) tx0=$(usage_of alice tx)
cli alice ping -q -c 100 -i 0.01 -s 1000 10.7.0.1 >/dev/null || fail "ping 100 x 1000 bytes"
# Each echo and each reply carries 1000 bytes of payload (more on the wire).
WAIT_S=30 wait_for grown alice $((rx0 + 100000)) $((tx0 + 100000))
trace "usage grew by at least the 100 x 1000 bytes pinged each way"

# ---- the server's counters reset -------------------------------------------------------
wg_rx=$(srv "$s1" wg show wg0 transfer | awk '{ n += $2 } END { print n + 0 }')
((wg_rx > 100000)) || fail "the server counted $wg_rx bytes received"
WAIT_S=30 wait_for grown alice "$wg_rx" 1 # the last pass before the reset is in
rx1=$(usage_of alice rx) tx1=$(usage_of alice tx)
srv "$s1" sh -c 'wg-quick down wg0 && wg-quick up wg0' >/dev/null 2>&1 || fail "restarting wg0 on $s1"
(($(srv "$s1" wg show wg0 transfer | awk '{ n += $2 } END { print n + 0 }') < 1000)) ||
	fail "the server's counters did not reset"
WAIT_S=60 wait_for cli alice ping -c 1 -W 1 10.7.0.1 # a new handshake with the fresh interface
cli alice ping -q -c 30 -i 0.01 -s 1000 10.7.0.1 >/dev/null || fail "ping after the reset"
WAIT_S=30 wait_for grown alice $((rx1 + 30000)) $((tx1 + 30000))
rx2=$(usage_of alice rx) tx2=$(usage_of alice tx)
crx=$(client_count rx) ctx=$(client_count tx)
# The server received at most what alice sent, and sent at most what she received; a
# pre-reset base counted twice would exceed it by over 100 kB.
((rx2 <= ctx + ctx / 20 && tx2 <= crx + crx / 20)) ||
	fail "usage rx $rx2 / tx $tx2 exceeds the client's own tx $ctx / rx $crx: double-counted"
trace "counters reset: usage kept ($rx1 -> $rx2 rx) and never above the client's own count"

# ---- bytes since the last pass, counted at the revoke; kept after it -----------------------
ctl_restart '"health_interval_s": 3600' # its startup pass is the last one before the revoke
checked=$(db_sql "SELECT checked_at FROM servers WHERE id = '$s1'")
rx3=$(usage_of alice rx) tx3=$(usage_of alice tx)
cli alice ping -q -c 50 -i 0.01 -s 1000 10.7.0.1 >/dev/null || fail "ping 50 x 1000 bytes"
crx=$(client_count rx) ctx=$(client_count tx)
vc alice revoke >/dev/null || fail "alice: revoke"
[[ $(db_sql "SELECT count(*) FROM peers WHERE user_id = 'alice'") == 0 ]] || fail "peer not revoked"
[[ $(db_sql "SELECT checked_at FROM servers WHERE id = '$s1'") == "$checked" ]] ||
	fail "a health pass ran between the ping and the revoke: the test proves nothing"
rx4=$(usage_of alice rx) tx4=$(usage_of alice tx)
((rx4 >= rx3 + 50000 && tx4 >= tx3 + 50000)) ||
	fail "usage rx $rx3 -> $rx4, tx $tx3 -> $tx4: the 50 x 1000 bytes before the revoke are missing"
((rx4 <= ctx + ctx / 20 && tx4 <= crx + crx / 20)) ||
	fail "usage rx $rx4 / tx $tx4 exceeds the client's own tx $ctx / rx $crx: double-counted"
trace "the revoke counted the bytes since the last pass ($rx3 -> $rx4 rx), none twice"
[[ $(admin GET "/api/admin/usage?user=alice&from=$today&to=$today") == 200 ]] || fail "usage today"
jq -e --arg d "$today" '(.days | length) == 1 and .days[0].day == $d and .days[0].user == "alice"
	and .users.alice == .days[0].rx_bytes + .days[0].tx_bytes' "$RESP" >/dev/null ||
	fail "usage today: $(cat "$RESP")"
[[ $(admin GET "/api/admin/usage?from=2000-01-01&to=2000-01-31") == 200 ]] || fail "usage 2000"
jq -e '.days == [] and .total.rx_bytes == 0' "$RESP" >/dev/null || fail "usage 2000: $(cat "$RESP")"
for bad in "from=yesterday" "to=2026-13-45" "user=a;b" "color=red"; do
	[[ $(admin GET "/api/admin/usage?$bad") == 400 ]] || fail "usage?$bad: $(cat "$RESP")"
done
adm usage alice >"$CTL_T/usage.txt" || fail "vpnadm usage"
grep -qE "^alice +$today " "$CTL_T/usage.txt" || fail "vpnadm usage: $(cat "$CTL_T/usage.txt")"
trace "usage outlives the peer; from/to/user filter it; vpnadm usage prints it"

# ---- /metrics ---------------------------------------------------------------------------
[[ $(admin GET /metrics) == 200 ]] || fail "metrics: $(cat "$RESP")"
promtool check metrics <"$RESP" || fail "promtool check metrics failed"
sample() { awk -v k="$1" '$1 == k { print $2 }' "$RESP"; }
(($(sample "pv_ssh_round_trip_seconds_count{server=\"$s1\"}") > 0)) || fail "no SSH round trips counted"
[[ $(sample "pv_server_draining{server=\"$s1\"}") == 0 ]] || fail "draining gauge"
[[ $(sample 'pv_usage_bytes_total{direction="rx"}') == "$(db_sql "SELECT sum(rx_bytes) FROM usage")" ]] ||
	fail "usage rx total differs from the DB"
trace "/metrics: promtool clean, SSH round trips per server, usage totals equal the DB's"

check_log_clean
pass
