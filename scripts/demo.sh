#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first command: privatevpn on one machine, end to end.
#
#   sudo scripts/demo.sh         install deps, build, 15-server fleet (network
#                                namespaces, bootstrapped over real SSH) with
#                                the spec's geography (pv-netsim delays every
#                                frame by the distance between its ends), the
#                                controller (SQLite, HTTPS, demo CA), a key from
#                                the admin endpoint, then vpnctl login/servers/
#                                connect/ping/status in a client namespace.
#                                The demo stays up; it prints how to explore.
#   sudo scripts/demo.sh --flat  the same on the flat fleet (a kernel bridge,
#                                every server 0.1 ms away)
#   sudo scripts/demo.sh down    tear it all down (also: scripts/demo-down.sh)
#
# PV_DEMO_CLIENT_LOC (default New York) and PV_DEMO_CTL_LOC (default
# Frankfurt) place the client and the controller; tests/fleet/geo.json
# lists the locations.
#
# Nothing leaves the machine: every address is in 203.0.113.0/24 inside
# namespaces this script creates, with no route out.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${PV_BUILD_DIR:-$top/build}
state=${PV_DEMO_DIR:-/tmp/privatevpn-demo}
servers=${PV_DEMO_SERVERS:-15}
client_loc=${PV_DEMO_CLIENT_LOC:-New York}
ctl_loc=${PV_DEMO_CTL_LOC:-Frankfurt}
geo=(--geo --ctl-loc "$ctl_loc" --client-loc "$client_loc")
FLEET=$top/tests/fleet/fleet

say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
die() {
	echo "demo: $*" >&2
	exit 1
}

demo_down() {
	if [[ -r $state/controller.pid ]]; then
		kill "$(cat "$state/controller.pid")" 2>/dev/null || true
	fi
	if [[ -r $state/fleet/env ]]; then
		"$FLEET" down "$state/fleet" || true
	fi
	rm -rf "$state"
	echo "demo: down" >&2
}

[[ $(id -u) == 0 ]] || die "run as root: the demo builds network namespaces (sudo $0)"
case ${1:-up} in
down)
	demo_down
	exit 0
	;;
up) ;;
--flat) geo=() ;;
*) die "usage: $0 [up|--flat|down]" ;;
esac
[[ ! -e $state ]] || die "a demo is already in $state; run '$0 down' first"

say "Installing what is missing and building ($build)"
"$top/scripts/install-deps.sh"
cmake -S "$top" -B "$build" >/dev/null
cmake --build "$build" -j "$(nproc)" --target vpnctl vpn-controller pv-netsim >/dev/null
VPNCTL=$build/client-cli/vpnctl

mkdir -p "$state"
chmod 700 "$state"
# A failed start takes down whatever it brought up.
trap 'rc=$?; if ((rc)); then echo "demo: failed; tearing down" >&2; demo_down; fi' EXIT

if ((${#geo[@]})); then
	say "Bringing up $servers servers around the world (each: sshd + WireGuard, bootstrapped over SSH; controller in $ctl_loc, client in $client_loc)"
else
	say "Bringing up $servers servers on a flat bridge (each: sshd + WireGuard, bootstrapped over SSH)"
fi
PV_BUILD=$build "$FLEET" up -n "$servers" "${geo[@]}" "$state/fleet"
# shellcheck source=/dev/null
. "$state/fleet/env"

say "Starting the controller (embedded SQLite, HTTPS with a demo CA) at $FLEET_CTL_ADDR"
# The e2e tests' controller helper, with what it expects from tests/e2e/lib.sh
# provided here (lib.sh itself would tear the demo down on exit).
export PV_BUILD=$build
e2e_tmp() { echo "$state/controller"; }
on_exit() { :; }
trace() { echo "demo: $*" >&2; }
fail() { die "$@"; }
ctl() { ip netns exec "$FLEET_NS_CTL" "$@"; }
mkdir -m 700 "$state/controller"
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/ctl-lib.sh
. "$top/tests/e2e/ctl-lib.sh"
ctl_start
echo "$CTL_PID" >"$state/controller.pid"
CTL_URL=https://$FLEET_CTL_ADDR:$CTL_PORT
CTL_CA=$CTL_T/ca.pem

say "Issuing an API key through the admin endpoint, as the portal does"
key=$(admin_key demo-user pro)
echo "user demo-user, tier pro: key ${key%_*}_<signature>" >&2

"$FLEET" client "$state/fleet" laptop >/dev/null
# A wrapper to run vpnctl as the demo client (its namespace, its config dir).
printf '%s\n' '#!/bin/sh' \
	"exec \"$FLEET\" client-exec \"$state/fleet\" laptop -- env XDG_CONFIG_HOME=\"$state/xdg\" \"$VPNCTL\" \"\$@\"" \
	>"$state/vpnctl"
chmod 755 "$state/vpnctl"
vc() {
	echo "\$ vpnctl $*" >&2
	"$state/vpnctl" "$@"
}

say "In the client namespace: vpnctl login (key from VPNCTL_API_KEY, never argv)"
VPNCTL_API_KEY=$key vc login --api "$CTL_URL" --cacert "$CTL_CA" --device laptop
say "vpnctl servers (latency probed in parallel)"
vc servers
say "vpnctl connect (nearest healthy server; key pair made on the client)"
vc connect
say "ping through the tunnel"
"$FLEET" client-exec "$state/fleet" laptop -- ping -c 3 10.7.0.1
say "vpnctl status -v"
vc status -v
trap - EXIT

cat <<EOF

The demo is up ($servers servers, controller at $CTL_URL, client namespace "laptop").
Explore (as root):
  $state/vpnctl servers --json           # vpnctl inside the client namespace
  $state/vpnctl connect eu-central-1     # switch servers; the old peer is revoked
  $state/vpnctl status -v | disconnect | revoke --all
  $FLEET client-exec $state/fleet laptop -- wg show
  $FLEET exec $state/fleet eu-central-1 -- wg show wg0     # a server's live peers
  ip netns exec $FLEET_NS_CTL curl --cacert $CTL_CA $CTL_URL/api/health
  $FLEET netstats $state/fleet | jq .total   # geo: what the switch carried
  $FLEET stop $state/fleet us-east-1     # make a server silent, then: $state/vpnctl servers
  less $CTL_LOG
Tear down:
  sudo $top/scripts/demo.sh down
EOF
