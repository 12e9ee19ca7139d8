# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# tests/e2e/vpnctl-lib.sh: what the vpnctl scenarios and bench/vpnctl.sh share
# (sourced after lib.sh and ctl-lib.sh).
#
#   vpnctl_setup N [fleet up options]   fleet of N servers + controller over HTTPS;
#                           sets VPNCTL, CTL_URL, CTL_CA
#   vpnctl_client NAME TIER [LOCATION]  a client namespace (at LOCATION on a geo
#                           fleet) logged in with a fresh key of TIER (key through
#                           VPNCTL_API_KEY, never argv)
#   vc NAME ARGS…           vpnctl in client NAME's namespaces, its own config dir
#   vpnctl_full_tunnel      restart the controller handing out full-tunnel configs

vpnctl_setup() {
	require openssl curl jq ping
	VPNCTL=$PV_BUILD/client-cli/vpnctl
	[[ -x $VPNCTL ]] || fail "vpnctl not built at $VPNCTL"
	[[ -x $PV_BUILD/controller/vpn-controller ]] || fail "vpn-controller not built"
	fleet_up "$@"
	ctl_start
	CTL_URL=https://$FLEET_CTL_ADDR:$CTL_PORT
	CTL_CA=$CTL_T/ca.pem
}

vc() {
	local c=$1
	shift
	cli "$c" env XDG_CONFIG_HOME="$CTL_T/xdg-$c" "$VPNCTL" "$@"
}

vpnctl_client() {
	local key
	key=$(admin_key "$1" "$2")
	client_add "$1" ${3:+--loc "$3"} >/dev/null
	VPNCTL_API_KEY=$key vc "$1" login --api "$CTL_URL" --cacert "$CTL_CA" >/dev/null ||
		fail "vpnctl login for $1 ($2) failed"
}

# vpnctl_full_tunnel: restart the controller so that client configs route
# everything through the tunnel (AllowedIPs 0.0.0.0/0, ::/0), as a consumer VPN does.
vpnctl_full_tunnel() {
	ctl_stop
	jq '.client_allowed_ips = "0.0.0.0/0, ::/0"' "$CTL_T/controller.json" >"$CTL_T/full-tunnel.json"
	ip netns exec "$FLEET_NS_CTL" "$PV_BUILD/controller/vpn-controller" -c "$CTL_T/full-tunnel.json" \
		>>"$CTL_LOG" 2>&1 &
	# shellcheck disable=SC2034 # read by ctl-lib.sh (ctl_stop, teardown)
	CTL_PID=$!
	WAIT_S=60 wait_for api_ok GET /api/health
}
