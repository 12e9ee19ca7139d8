# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# tests/e2e/lib-controller.sh: start the real vpn-controller for a fleet that
# is up (after lib.sh's fleet_up), with HTTPS and a test CA made by openssl.
# Used by the vpnctl scenarios and by scripts/demo.sh.
#
#   ctl_start DIR          CA + cert for $FLEET_CTL_ADDR, secrets, admin token,
#                          config; vpn-controller in $FLEET_NS_CTL; waits for
#                          the HTTPS port.  Sets CTL_URL, CTL_CA, CTL_DIR, CTL_PID.
#                          CTL_DETACH=1 starts it in its own session (setsid).
#   ctl_stop               stops it by pid (also registered with on_exit if lib.sh is loaded)
#   ctl_issue_key USER TIER   prints an API key made through the admin endpoint
#
# Needs PV_BUILD (controller/vpn-controller), FLEET_DIR, FLEET_NS_CTL, FLEET_CTL_ADDR.

CTL_PORT=${CTL_PORT:-8443}
CTL_DIR=""
CTL_PID=""
CTL_URL=""
CTL_CA=""

# ctl_make_ca DIR ADDR: a CA and a server certificate for ADDR (an IP SAN).
ctl_make_ca() {
	local dir=$1 addr=$2
	(
		umask 077
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj "/CN=privatevpn test CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-subj "/CN=$addr" -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
		printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$addr" >"$dir/tls.ext"
		openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
			-CAcreateserial -days 2 -extfile "$dir/tls.ext" -out "$dir/tls.pem" 2>/dev/null
	) || return 1
	chmod 644 "$dir/ca.pem"
}

ctl_start() {
	local dir=$1 deadline
	CTL_DIR=$dir
	mkdir -p "$dir"
	ctl_make_ca "$dir" "$FLEET_CTL_ADDR" || { echo "ctl_start: openssl failed" >&2; return 1; }
	(
		umask 077
		openssl rand -hex 32 >"$dir/secrets"
		openssl rand -hex 32 >"$dir/admin-token"
		# curl reads the header from this file, so the token is never in argv.
		printf 'Authorization: Bearer %s\n' "$(cat "$dir/admin-token")" >"$dir/admin-header"
	)
	jq -n --arg dir "$dir" --arg fleet "$FLEET_DIR" --arg listen "$FLEET_CTL_ADDR:$CTL_PORT" \
		--arg allowed "${CTL_CLIENT_ALLOWED_IPS:-0.0.0.0/0, ::/0}" '{
		https_listen: $listen, http_listen: "",
		tls_cert: ($dir + "/tls.pem"), tls_key: ($dir + "/tls.key"),
		db_path: ($dir + "/controller.db"), fleet_path: ($fleet + "/servers.json"),
		ssh_identity: ($fleet + "/id_ed25519"), known_hosts: ($fleet + "/known_hosts"),
		secrets_file: ($dir + "/secrets"), admin_token_file: ($dir + "/admin-token"),
		client_allowed_ips: $allowed }' >"$dir/controller.json"
	# CTL_DETACH=1 (the demo): its own session, so closing the terminal leaves it running.
	ip netns exec "$FLEET_NS_CTL" ${CTL_DETACH:+setsid} "$PV_BUILD/controller/vpn-controller" \
		-c "$dir/controller.json" >"$dir/controller.log" 2>&1 </dev/null &
	CTL_PID=$!
	if declare -F on_exit >/dev/null; then on_exit ctl_stop; fi
	CTL_URL="https://$FLEET_CTL_ADDR:$CTL_PORT"
	CTL_CA=$dir/ca.pem
	deadline=$((SECONDS + 30))
	until ip netns exec "$FLEET_NS_CTL" curl -sf --noproxy '*' --cacert "$CTL_CA" \
		"$CTL_URL/api/health" >/dev/null 2>&1; do
		if ! kill -0 "$CTL_PID" 2>/dev/null; then
			echo "ctl_start: vpn-controller exited; its log:" >&2
			cat "$dir/controller.log" >&2
			return 1
		fi
		((SECONDS < deadline)) || { echo "ctl_start: no answer on $CTL_URL" >&2; return 1; }
		sleep 0.1
	done
}

ctl_stop() {
	[[ -n $CTL_PID ]] || return 0
	kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null
	CTL_PID=""
}

# ctl_issue_key USER TIER: the portal's call to the admin endpoint; prints the key.
ctl_issue_key() {
	local body
	body=$(jq -cn --arg u "$1" --arg t "$2" '{user_id: $u, tier: $t}')
	ip netns exec "$FLEET_NS_CTL" curl -sSf --noproxy '*' --cacert "$CTL_CA" \
		-H "@$CTL_DIR/admin-header" \
		-H 'Content-Type: application/json' -d "$body" \
		"$CTL_URL/api/generate-api-key" | jq -er .api_key
}
