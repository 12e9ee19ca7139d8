#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vpnctl on the geo fleet: clients in New York, Frankfurt and Singapore pick
# the nearest healthy server of their tier; a client in Brussels, almost
# equally far from London and Frankfurt, keeps whichever it is on (the
# hysteresis of client-cli/probe.c: without it, each unnamed connect would
# be a coin toss between two probes 0.04 ms apart); the New York client moves to the next
# nearest when its server is drained or stops.  With 2% loss on London's link, provisions
# there still succeed and the other servers see no loss.  The switch's
# counters show every client's traffic went through it.
#
#   hub (pv-netsim) ── ctl 203.0.113.2 (Frankfurt): vpn-controller
#     ── us-east-1 .11 New York, us-west-1 .12 Los Angeles, eu-west-1 .13 London (Basic)
#     ── eu-central-1 .14 Frankfurt, ap-southeast-1 .15 Singapore (Pro)
#     ── clients: ny (New York, Pro), fra (Frankfurt, Pro), sg (Singapore, Pro),
#        sgb (Singapore, Basic), bru (Brussels, Pro)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=vpnctl-lib.sh
. "$(dirname "$0")/vpnctl-lib.sh"

vpnctl_setup 5 --geo --ctl-loc Frankfurt
tmp=$(e2e_tmp)
vpnctl_client ny pro "New York"
vpnctl_client fra pro Frankfurt
vpnctl_client sg pro Singapore
vpnctl_client sgb basic Singapore
vpnctl_client bru pro Brussels

# connect_to CLIENT [SERVER]: connects (to SERVER, or the pick) and prints
# the server id (a connect that stays says "Already connected to ID").
connect_to() {
	local f=$tmp/connect.$1
	vc "$1" connect ${2:+"$2"} --json >"$f.out" 2>"$f.err" ||
		fail "$1: connect ${2:-} failed: $(cat "$f.err")"
	jq -r .server_id "$f.out" 2>/dev/null || sed -n 's/^Already connected to \([a-z0-9-]*\) .*/\1/p' "$f.out"
}

expect_pick() {
	local got
	got=$(connect_to "$1")
	[[ $got == "$2" ]] || fail "$1 picked $got, the nearest server of its tier is $2: $(vc "$1" servers)"
	trace "$1 picked $2"
}

trace "the latency column shows the geography (New York client)"
vc ny servers --json >"$tmp/servers.ny.json" || fail "servers --json failed"
# Nearest first: New York, Los Angeles, London, Frankfurt, Singapore.
[[ $(jq -r '[.servers | sort_by(.latency_ms)[].id] | join(" ")' "$tmp/servers.ny.json") == \
	"us-east-1 us-west-1 eu-west-1 eu-central-1 ap-southeast-1" ]] ||
	fail "latency order from New York: $(vc ny servers)"
vc ny servers

trace "each client picks the nearest healthy server of its tier"
expect_pick ny us-east-1
expect_pick fra eu-central-1
expect_pick sg ap-southeast-1
expect_pick sgb eu-west-1 # Basic: London is the nearest Basic server to Singapore

trace "hysteresis: Brussels is ~12 ms one way from both London and Frankfurt; it stays put"
for s in eu-west-1 eu-central-1; do
	[[ $(connect_to bru "$s") == "$s" ]] || fail "bru: connect $s by name"
	for _ in 1 2; do
		[[ $(connect_to bru) == "$s" ]] || fail "bru left $s for a server within the hysteresis"
	done
done

trace "the nearest server is drained: Frankfurt moves to the next nearest (London)"
st=$(api POST /api/admin/servers/eu-central-1/drain "" -H "Authorization: Bearer $CTL_ADMIN")
[[ $st == 200 ]] || fail "drain eu-central-1: $st $(cat "$RESP")"
expect_pick fra eu-west-1
st=$(api POST /api/admin/servers/eu-central-1/undrain "" -H "Authorization: Bearer $CTL_ADMIN")
[[ $st == 200 ]] || fail "undrain eu-central-1: $st $(cat "$RESP")"

trace "the nearest server stops: New York moves to the next nearest (Los Angeles)"
srv_stop us-east-1
expect_pick ny us-west-1
srv_start us-east-1

trace "2% loss on London's link: provisions there still succeed, the others see no loss"
"$FLEET" link "$FLEET_DIR" eu-west-1 --loss 2
key=$(admin_key storm pro)
out=$tmp/storm
mkdir -p "$out"
for i in $(seq 1 15); do
	echo "eu-west-1 lossy$i"
	echo "eu-central-1 clean$i"
done | key=$key out=$out provision_many 6 >"$tmp/storm.codes"
[[ $(sort "$tmp/storm.codes" | uniq -c | awk '{ print $1 " " $2 }') == "30 200" ]] ||
	fail "storm: $(sort "$tmp/storm.codes" | uniq -c)"
same_peers eu-west-1 || fail "eu-west-1's peers differ from the DB's"
same_peers eu-central-1 || fail "eu-central-1's peers differ from the DB's"
stats=$(netstats)
port_of() { cat "$FLEET_DIR/srv/$1/port"; }
lost_on_link() { jq --arg a "$(port_of eu-west-1)" '[.ports[] | select(.name == $a or .name == "ctl") | .drop_loss] | add' <<<"$1"; }
lossy=$(lost_on_link "$stats")
if ((lossy == 0)); then
	# Batched pushes cross the link in few frames, and at 2% a run of them can all
	# pass; 500 pings (1,000 frames: all pass with odds 0.98^1000, about 2e-9)
	# show whether the loss applies at all.
	trace "no frame of the storm was lost; pinging eu-west-1 to see the loss apply"
	ip netns exec "$FLEET_NS_CTL" ping -q -c 500 -i 0.01 -W 1 "$(srv_addr eu-west-1)" >/dev/null || true
	stats=$(netstats)
	lossy=$(lost_on_link "$stats")
fi
((lossy > 0)) || fail "no frame was lost on eu-west-1's link: the loss never applied"
jq -e --arg a "$(port_of eu-central-1)" '.ports[] | select(.name == $a) | .drop_loss == 0' \
	<<<"$stats" >/dev/null || fail "eu-central-1 lost frames: $stats"
trace "$lossy frames lost on eu-west-1's link; all 30 provisions succeeded"

trace "every client's traffic went through the switch"
for c in ny fra sg sgb bru; do
	jq -e --arg ip "$(cat "$FLEET_DIR/clients/$c/addr")" \
		'.ports[] | select(.ip == $ip) | .rx_frames > 0 and .tx_frames > 0 and .drop_filter == 0' \
		<<<"$stats" >/dev/null || fail "client $c: switch counters: $stats"
done
# (drop_write is not checked: a link-scope IPv6 flood may reach a port whose
# eth0 is not up yet while a namespace joins, and the TAP refuses it.)
jq -e '.total.drop_full == 0' <<<"$stats" >/dev/null ||
	fail "the switch dropped frames for lack of room: $stats"
pass
