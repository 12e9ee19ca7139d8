#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Automatic failover: `vpnctl connect --watch --kill-switch` stays in the
# foreground; when its server's WireGuard stops (`fleet stop`: everything
# dropped), it leaves that server (the controller reports it down, or the
# probe cannot reach it twice), connects to another one and pings through
# the new tunnel, with the kill switch in force all along; SIGTERM stops the
# watcher cleanly and leaves the tunnel up.  The wait for the switch is
# bounded generously (60 s) and the measured time is printed, not asserted
# (the issue's target is 30 s; docs/vpnctl.md has the figure).
#
#   hub (br0) ── ctl 203.0.113.2 (vpn-controller, HTTPS, health pass every 2 s)
#             ── us-east-1 .11 (stopped), us-west-1 .12, eu-west-1 .13
#             ── client wes .101 (Pro key)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=vpnctl-lib.sh
. "$(dirname "$0")/vpnctl-lib.sh"

vpnctl_setup 3
ctl_restart '"health_interval_s": 2, "push_timeout_ms": 3000, "connect_timeout_ms": 3000'
tmp=$(e2e_tmp)
vpnctl_client wes pro
first=us-east-1

trace "connect --watch --kill-switch to $first, in the background"
"$FLEET" client-exec "$FLEET_DIR" wes -- env XDG_CONFIG_HOME="$CTL_T/xdg-wes" "$VPNCTL" \
	connect "$first" --watch --kill-switch --json >"$tmp/watch.out" 2>"$tmp/watch.err" &
watch_pid=$!
on_exit 'kill -TERM "$watch_pid" 2>/dev/null; wait "$watch_pid" 2>/dev/null'
# Waits fail at once when the watcher has died.
alive() { kill -0 "$watch_pid" 2>/dev/null || fail "the watcher exited: $(tail -5 "$tmp/watch.err")"; }
on_server() {
	alive
	vc wes status --json | jq -e --arg s "$1" '.connected and .server_id == $s' >/dev/null
}
# The connect result is printed after the first handshake (status says connected earlier).
first_reported() { alive && jq -se --arg f "$first" '.[0].server_id == $f' "$tmp/watch.out"; }
WAIT_S=60 wait_for first_reported
on_server "$first" || fail "status does not show $first"
cli wes ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "no ping through the first tunnel"

trace "$first's WireGuard stops; the watcher moves to another server"
srv_stop "$first"
start=$SECONDS
moved() {
	alive
	vc wes status --json | jq -e --arg s "$first" '.connected and .server_id != $s' >/dev/null &&
		cli wes ping -c 1 -W 1 10.7.0.1 >/dev/null
}
WAIT_S=60 wait_for moved
trace "connected elsewhere and pinging $((SECONDS - start)) s after the stop"
server=$(vc wes status --json | jq -r .server_id)
grep -q "watch: leaving $first: " "$tmp/watch.err" || fail "no reason given: $(cat "$tmp/watch.err")"
# The result is printed after the (failing, time-bounded) revoke of the old peer.
reported() {
	jq -se --arg s "$server" --arg f "$first" \
		'map(.server_id) == [$f, $s] and .[1].switched_from == $f' "$tmp/watch.out"
}
WAIT_S=60 wait_for reported
cli wes nft list table inet vpnctl >/dev/null || fail "the kill switch was lifted during the switch"
alive

trace "SIGTERM stops the watcher; the tunnel stays"
kill -TERM "$watch_pid"
rc=0
wait "$watch_pid" || rc=$?
[[ $rc == 0 ]] || fail "the watcher exited $rc on SIGTERM: $(tail -5 "$tmp/watch.err")"
vc wes status --json | jq -e --arg s "$server" '.connected and .server_id == $s' >/dev/null ||
	fail "the tunnel went down with the watcher"
srv_start "$first"
vc wes disconnect >/dev/null || fail "disconnect failed"
pass
