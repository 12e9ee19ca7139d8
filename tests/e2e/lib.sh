# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# tests/e2e/lib.sh: helpers for e2e scenarios (sourced, bash).  A scenario:
#
#   #!/usr/bin/env bash
#   . "$(dirname "$0")/lib.sh"
#   fleet_up 3                      # servers, controller ns, hub; torn down on exit
#   srv us-east-1 wg show wg0       # in the server's net + mount namespace
#   srv_ssh us-east-1 wg show wg0   # over real ssh from the controller namespace
#   ctl curl …                      # in the controller namespace
#   client_add alice; cli alice wg-quick up …   # client namespaces
#   [[ $(srv us-east-1 wg show wg0 listen-port) == 51820 ]] || fail "no listen port"
#   pass                            # teardown + leak check, prints PASS
#
# Everything brought up is torn down on EXIT, INT and TERM, also on failure;
# on_exit CMD registers more cleanup (run first, last registered first).
set -euo pipefail

PV_SRC=${PV_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PV_BUILD=${PV_BUILD:-$PV_SRC/build}
FLEET=$PV_SRC/tests/fleet/fleet
BOOTSTRAP=$PV_SRC/ansible-free-bootstrap/bootstrap.sh
E2E_NAME=$(basename "$0" .sh)
FLEET_DIR=""
FLEET_ID=""
# Run directories live in the build tree when there is one (nobody else
# cleans it), else in $TMPDIR.
E2E_ROOT=${TMPDIR:-/tmp}
if [[ -d $PV_BUILD ]]; then
	E2E_ROOT=$PV_BUILD/e2e-runs
	mkdir -p "$E2E_ROOT"
fi
E2E_TMP=$(mktemp -d "$E2E_ROOT/pv-e2e-$E2E_NAME.XXXXXX")
E2E_CLEANUP=()

trace() { echo "[$E2E_NAME] $*" >&2; }
fail() {
	echo "[$E2E_NAME] FAIL: $*" >&2
	exit 1
}
# Prints a command, then runs it.
pp() {
	echo "[$E2E_NAME] + $*" >&2
	"$@"
}

# Fails (never skips) when a prerequisite is missing.
require() {
	local c
	[[ $(id -u) == 0 ]] || fail "e2e tests need root (network namespaces)"
	for c in "$@"; do
		command -v "$c" >/dev/null || fail "missing prerequisite '$c' (scripts/install-deps.sh installs it)"
	done
}

on_exit() { E2E_CLEANUP+=("$1"); }

# A scratch directory (0700), removed at exit unless kept for inspection.
e2e_tmp() { echo "$E2E_TMP"; }

# Fails when this run left namespaces behind.
leak_check() {
	local left
	[[ -n $FLEET_ID ]] || return 0
	left=$(ip netns list | awk -v p="$FLEET_ID-" 'index($1, p) == 1 { print $1 }')
	[[ -z $left ]] || fail "leak: namespaces left behind: $left"
}

e2e_teardown() {
	local rc=$? i
	trap - EXIT INT TERM
	set +e
	for ((i = ${#E2E_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${E2E_CLEANUP[i]}"
	done
	if [[ -n $FLEET_DIR ]]; then
		"$FLEET" down "$FLEET_DIR" || rc=1
		# Also when DIR vanished: everything of this run goes by its prefix.
		[[ -z $FLEET_ID ]] || "$FLEET" purge "$FLEET_ID" || rc=1
		(leak_check) || rc=1
	fi
	if [[ ${PV_KEEP:-0} == 1 || $rc != 0 ]]; then
		trace "kept for inspection: $E2E_TMP $FLEET_DIR"
	else
		rm -rf "$FLEET_DIR" "$E2E_TMP"
	fi
	exit "$rc"
}
trap e2e_teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# fleet_up N [--geo [--ctl-loc L] [--client-loc L]]: brings up N servers
# (1..15) and sources their env (FLEET_ID, FLEET_N, FLEET_NS_CTL,
# FLEET_CTL_ADDR, SERVER_IDS, FLEET_SSH_KEY, FLEET_GEO, …).
fleet_up() {
	local n=${1:-15}
	(($# == 0)) || shift
	require ip nsenter unshare sshd ssh ssh-keygen wg wg-quick wireguard-go nft jq
	FLEET_DIR=$(mktemp -d "$E2E_ROOT/pv-fleet-$E2E_NAME.XXXXXX")
	"$FLEET" up -n "$n" "$@" "$FLEET_DIR" || fail "fleet up failed"
	# shellcheck source=/dev/null
	. "$FLEET_DIR/env"
}

# Tears the fleet down now and checks for leaks (the EXIT trap does it too).
fleet_down() {
	"$FLEET" down "$FLEET_DIR" || fail "fleet down failed"
	leak_check
}

srv() {
	local id=$1
	shift
	"$FLEET" exec "$FLEET_DIR" "$id" -- "$@"
}
srv_ssh() {
	local id=$1
	shift
	"$FLEET" ssh "$FLEET_DIR" "$id" -- "$@"
}
srv_addr() { "$FLEET" addr "$FLEET_DIR" "$1"; }
ctl() { ip netns exec "$FLEET_NS_CTL" "$@"; }
# client_add NAME [--loc LOCATION]
client_add() { "$FLEET" client "$FLEET_DIR" "$@"; }
cli() {
	local name=$1
	shift
	"$FLEET" client-exec "$FLEET_DIR" "$name" -- "$@"
}
srv_stop() { "$FLEET" stop "$FLEET_DIR" "$1"; }
# srv_bootstrap ID: runs the bootstrap on ID over real ssh (as `fleet up`
# did); the JSON summary on stdout, its log in $E2E_TMP/bootstrap-ID.log.
srv_bootstrap() { srv_ssh "$1" sh -s <"$BOOTSTRAP" 2>"$E2E_TMP/bootstrap-$1.log"; }
# srv_wg_pid ID: wireguard-go's pid in ID's network namespace (pidof would
# list every server's).
srv_wg_pid() {
	local p
	for p in $(ip netns pids "$("$FLEET" ns "$FLEET_DIR" "$1")"); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) != wireguard-go ]] || echo "$p"
	done
}
srv_start() { "$FLEET" start "$FLEET_DIR" "$1"; }
# Geo fleets: the switch's counters (JSON), and the model's one-way delay in
# ms between two ports (server id, ctl or client name).
netstats() { "$FLEET" netstats "$FLEET_DIR"; }
geo_delay() { "$FLEET" delay "$FLEET_DIR" "$1" "$2"; }

# tunnel_up CLIENT ID N: connects client namespace CLIENT (made by
# client_add) to server ID as peer CLIENT with 10.7.0.N: the server gets a
# wireguard-install.sh style "# BEGIN_PEER CLIENT" block in wg0.conf plus
# `wg addconf` (the PSK travels on stdin only); the client gets pv0.conf
# (10.7.0.0/24, fddd:2c4:2c4:2c4::/64 and the controller's /32 through the
# tunnel) and `wg-quick up pv0`.  Sets TUNNEL_PUB to the client's public key.
tunnel_up() {
	local name=$1 id=$2 n=$3 server_pub
	server_pub=$(srv "$id" wg show wg0 public-key)
	cli "$name" sh -c 'umask 077; wg genkey > /etc/wireguard/pv0.key; wg genpsk > /etc/wireguard/pv0.psk'
	TUNNEL_PUB=$(cli "$name" sh -c 'wg pubkey < /etc/wireguard/pv0.key')
	# shellcheck disable=SC2016 # expanded by the server's shell
	cli "$name" cat /etc/wireguard/pv0.psk | srv "$id" sh -c '
		set -eu
		psk=$(cat)
		umask 077
		cp /etc/wireguard/wg0.conf /etc/wireguard/.wg0.conf.new
		printf "# BEGIN_PEER %s\n[Peer]\nPublicKey = %s\nPresharedKey = %s\nAllowedIPs = 10.7.0.%s/32, fddd:2c4:2c4:2c4::%s/128\n# END_PEER %s\n" \
			"$1" "$2" "$psk" "$3" "$3" "$1" >> /etc/wireguard/.wg0.conf.new
		mv /etc/wireguard/.wg0.conf.new /etc/wireguard/wg0.conf
		sed -n "/^# BEGIN_PEER $1\$/,/^# END_PEER $1\$/p" /etc/wireguard/wg0.conf > /etc/wireguard/.peer
		wg addconf wg0 /etc/wireguard/.peer
		rm /etc/wireguard/.peer' sh "$name" "$TUNNEL_PUB" "$n"
	cli "$name" sh -c 'umask 077; cat > /etc/wireguard/pv0.conf' <<EOF
[Interface]
Address = 10.7.0.$n/24, fddd:2c4:2c4:2c4::$n/64
PrivateKey = $(cli "$name" cat /etc/wireguard/pv0.key)

[Peer]
PublicKey = $server_pub
PresharedKey = $(cli "$name" cat /etc/wireguard/pv0.psk)
Endpoint = $(srv_addr "$id"):51820
AllowedIPs = 10.7.0.0/24, fddd:2c4:2c4:2c4::/64, $FLEET_CTL_ADDR/32
PersistentKeepalive = 25
EOF
	cli "$name" wg-quick up pv0 2>"$E2E_TMP/wg-quick-$name.log" ||
		fail "$name: wg-quick up: $(cat "$E2E_TMP/wg-quick-$name.log")"
}

# Polls CMD… until it succeeds, up to $WAIT_S seconds (default 20).
wait_for() {
	local deadline=$((SECONDS + ${WAIT_S:-20}))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || fail "timed out waiting for: $*"
		sleep 0.1
	done
}

# Ends a passing scenario: teardown, leak check, PASS.
pass() {
	if [[ -n $FLEET_DIR ]]; then fleet_down; fi
	trace "PASS"
	exit 0
}
