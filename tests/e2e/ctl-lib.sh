# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# tests/e2e/ctl-lib.sh: run vpn-controller on a test fleet (sourced after
# lib.sh and fleet_up).  ctl_start makes a test CA and a server certificate
# for 203.0.113.2 with openssl, a 0600 secrets file, admin token and state
# key (it seals the PSKs in the DB), a config, and starts the controller in
# the controller namespace; api talks to it over real HTTPS with curl,
# verifying the certificate against the CA.
#
#   ctl_start [extra config JSON fields]   ctl_stop   ctl_restart
#   (CTL_HTTPS_LISTEN overrides the HTTPS address; CTL_WRAP=(cmd …) prefixes
#   the controller's command line with a wrapper that execs it, e.g. prlimit)
#   api METHOD PATH [BODY] [curl args…]    -> prints the status; body in $RESP
#   seed_key USER TIER [SECRET] [GEN]      -> the seed portal snippet's key; with
#                                             GEN > 0 the key of that key generation
#   admin_key USER TIER                    -> key from /api/generate-api-key
#   db_sql SQL                             -> sqlite3 (psql) on the controller's DB
#   ha_ctl_start NAME PORT HTTP_PORT [extra]  ha_lb_start NAME:PORT…  (several
#   controllers behind HAProxy on $HA_LB_PORT, see below)
#
# PV_DB=pg runs the controller on a PostgreSQL 15 started here in a temp
# directory (tests/pg-lib.sh, unix socket only) through db_url instead of a
# SQLite file; db_sql then runs psql.  ctest runs some scenarios so (pg/*).
CTL_PORT=8443
CTL_HTTP_PORT=8080
CTL_PID=""
CTL_WRAP=(env) # a wrapper that execs its arguments

# The scenario's PostgreSQL (PV_DB=pg), stopped at exit after the controllers.
ctl_pg_start() {
	# shellcheck source-path=SCRIPTDIR source=../pg-lib.sh
	. "$PV_SRC/tests/pg-lib.sh"
	# Not under E2E_TMP (0700 root): the postgres user must reach its directory.
	CTL_PG_DIR=$(mktemp -d /tmp/pv-pg-XXXXXX)
	on_exit 'pg_stop; rm -rf "$CTL_PG_DIR"'
	pg_start "$CTL_PG_DIR" || fail "cannot start PostgreSQL in $CTL_PG_DIR"
	CTL_DB_FIELD="\"db_url\": \"$PV_PG_URL\""
	trace "PostgreSQL in $CTL_PG_DIR (db_url)"
}

ctl_files() {
	CTL_T=$(e2e_tmp)
	RESP=$CTL_T/resp
	CTL_LOG=$CTL_T/controller.log
	CTL_DB=$CTL_T/state.db
	CTL_DB_FIELD="\"db_path\": \"$CTL_DB\""
	[[ ${PV_DB:-sqlite} != pg ]] || ctl_pg_start
	CTL_SEEN=$CTL_T/secrets-seen # every PSK / private key the run saw
	: >"$CTL_SEEN"
	(
		cd "$CTL_T" || exit 1
		umask 077
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj "/CN=privatevpn test CA $$" -keyout ca.key -out ca.pem 2>/dev/null
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-subj "/CN=controller" -keyout tls.key -out tls.csr 2>/dev/null
		printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$FLEET_CTL_ADDR" >ext.cnf
		openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
			-extfile ext.cnf -out tls.pem 2>/dev/null
		# Secrets: current and previous (the seed snippet's SECRET_KEY).
		printf 'cur-%s\nprev-%s\n' "$(openssl rand -hex 16)" "$(openssl rand -hex 16)" >secrets
		openssl rand -hex 24 >admin_token
		wg genpsk >state.key # seals the PSKs kept in the DB
	)
	CTL_SECRET=$(sed -n 1p "$CTL_T/secrets")
	# shellcheck disable=SC2034 # used by the scenarios
	CTL_PREV_SECRET=$(sed -n 2p "$CTL_T/secrets")
	CTL_ADMIN=$(cat "$CTL_T/admin_token")
}

# ctl_start ['"field": value, …'] — config extras are spliced into the JSON.
# Load scenarios give one account many devices, so the per-tier device quota
# is lifted unless CTL_QUOTA says otherwise ("" keeps the product defaults).
ctl_start() {
	# Outside the heredoc: bash 5.2 drops the quotes of ${VAR-"word"} inside one.
	local quota=${CTL_QUOTA-'"max_devices_basic": 100000, "max_devices_pro": 100000,'}
	[[ -n ${CTL_T:-} ]] || ctl_files
	cat >"$CTL_T/controller.json" <<EOF
{
  "https_listen": "${CTL_HTTPS_LISTEN:-$FLEET_CTL_ADDR:$CTL_PORT}",
  "http_listen": "127.0.0.1:$CTL_HTTP_PORT",
  "tls_cert": "$CTL_T/tls.pem", "tls_key": "$CTL_T/tls.key",
  $CTL_DB_FIELD, "fleet_path": "$FLEET_SERVERS_JSON",
  "ssh_identity": "$FLEET_SSH_KEY", "known_hosts": "$FLEET_KNOWN_HOSTS",
  "secrets_file": "$CTL_T/secrets", "admin_token_file": "$CTL_T/admin_token",
  "state_key_file": "$CTL_T/state.key",
  $quota
  "client_allowed_ips": "10.7.0.0/24, fddd:2c4:2c4:2c4::/64"${1:+,
  $1}
}
EOF
	# Not through the ctl function: a backgrounded function is a subshell,
	# and $! must be the controller itself (ip netns exec execs it).
	ip netns exec "$FLEET_NS_CTL" "${CTL_WRAP[@]}" "$PV_BUILD/controller/vpn-controller" \
		-c "$CTL_T/controller.json" >>"$CTL_LOG" 2>&1 &
	CTL_PID=$!
	[[ -n ${CTL_ON_EXIT:-} ]] || on_exit '[[ -z $CTL_PID ]] || kill -TERM "$CTL_PID" 2>/dev/null; wait'
	CTL_ON_EXIT=1
	ctl_wait_up
}

# ---- several controllers behind HAProxy (docs/ha.md; PV_DB=pg) ----------------------------
# ha_ctl_start NAME HTTPS_PORT HTTP_PORT [extra config]: one more controller on
# the same DB, logging to $CTL_T/NAME.log, its pid in HA_PID[NAME] (stopped at exit).
declare -A HA_PID=()
HA_LB_PORT=9443
HA_LB_PID=""
ha_ctl_start() {
	local name=$1 port=$2 http=$3
	shift 3
	((${#HA_PID[@]} > 0)) || on_exit 'for p in "${HA_PID[@]}"; do kill -TERM "$p" 2>/dev/null; done; wait'
	CTL_LOG=$CTL_T/$name.log CTL_PORT=$port CTL_HTTP_PORT=$http ctl_start "$@"
	HA_PID[$name]=$CTL_PID
	CTL_PID=""
}

# ha_lb_start NAME:PORT…: HAProxy in the controller namespace on
# $FLEET_CTL_ADDR:$HA_LB_PORT, TCP (TLS passes through to the controllers),
# checking each one's GET /api/health over TLS; stats on 127.0.0.1:9000.
# Replaces a running one.  Waits until every controller is UP.
ha_lb_start() {
	local s
	ha_lb_stop
	{
		cat <<EOC
global
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout check 5s
  timeout client 150s
  timeout server 150s
  retries 3
  option redispatch
frontend api
  bind $FLEET_CTL_ADDR:$HA_LB_PORT
  default_backend controllers
backend controllers
  option httpchk GET /api/health
  http-check expect status 200
EOC
		for s in "$@"; do
			echo "  server ${s%%:*} $FLEET_CTL_ADDR:${s#*:} check check-ssl verify none inter 2s fall 5 rise 1"
		done
		printf 'listen stats
  mode http
  bind 127.0.0.1:9000
  stats enable
  stats uri /stats
'
	} >"$CTL_T/haproxy.cfg"
	[[ -n $HA_LB_PID ]] || on_exit ha_lb_stop
	ip netns exec "$FLEET_NS_CTL" haproxy -db -f "$CTL_T/haproxy.cfg" >>"$CTL_T/haproxy.log" 2>&1 &
	HA_LB_PID=$!
	WAIT_S=30 wait_for ha_lb_all_up "$@"
}
ha_lb_stop() {
	[[ -n $HA_LB_PID ]] || return 0
	kill -TERM "$HA_LB_PID" 2>/dev/null
	wait "$HA_LB_PID" 2>/dev/null || true # 143: it ended on our SIGTERM
	HA_LB_PID=""
}
# ha_lb_stat NAME COLUMN: a column of HAProxy's CSV stats for that controller (18 status, 8 sessions).
ha_lb_stat() {
	ctl curl -s 'http://127.0.0.1:9000/stats;csv' |
		awk -F, -v s="$1" -v c="$2" '$1 == "controllers" && $2 == s { print $c }'
}
ha_lb_all_up() {
	local s
	for s in "$@"; do [[ $(ha_lb_stat "${s%%:*}" 18) == UP ]] || return 1; done
}

# Waits until the controller (CTL_PID) answers /api/health over HTTPS.
ctl_wait_up() {
	local deadline=$((SECONDS + 60))
	until [[ $(api GET /api/health 2>/dev/null) == 200 ]]; do
		kill -0 "$CTL_PID" 2>/dev/null || fail "controller exited: $(tail -20 "$CTL_LOG")"
		((SECONDS < deadline)) || fail "controller did not come up: $(tail -20 "$CTL_LOG")"
		sleep 0.2
	done
	trace "controller up (pid $CTL_PID)"
}

# SIGTERM by pid; fails when the controller does not exit cleanly.
ctl_stop() {
	local rc=0
	[[ -n $CTL_PID ]] || return 0
	kill -TERM "$CTL_PID" 2>/dev/null || true
	wait "$CTL_PID" || rc=$?
	CTL_PID=""
	((rc == 0)) || fail "controller exited with $rc on SIGTERM"
}

ctl_restart() {
	ctl_stop
	ctl_start "$@"
}

# api METHOD PATH [BODY] [curl args…]: status on stdout, body in $RESP.
api() {
	local method=$1 path=$2 body=${3:-}
	shift 2
	(($# == 0)) || shift
	local args=(-sS -o "$RESP" -w '%{http_code}' --cacert "$CTL_T/ca.pem" -X "$method"
		--max-time 30)
	[[ -z $body ]] || args+=(-H 'Content-Type: application/json' --data-binary "$body")
	ctl curl "${args[@]}" "$@" "https://$FLEET_CTL_ADDR:$CTL_PORT$path"
}

# Remembers the secrets of a provision reply so the log can be checked for them.
remember_secrets() {
	jq -r '.config' "$RESP" | awk '/^(PrivateKey|PresharedKey) = / { print $3 }' >>"$CTL_SEEN"
}

seed_key() {
	python3 - "$1" "$2" "${3:-$CTL_SECRET}" "${4:-0}" <<'EOF'
import hmac, hashlib, sys
user_id, tier, SECRET_KEY, gen = sys.argv[1:5]
# docs/api.md: generation 0 is the seed's snippet; later ones sign and append ":GEN".
signed = f"{user_id}:{tier}" + (f":{gen}" if gen != "0" else "")
signature = hmac.new(
    SECRET_KEY.encode(),
    signed.encode(),
    hashlib.sha256
).hexdigest()[:16]
api_key = f"{user_id}_{tier}_{signature}" + (f"-{gen}" if gen != "0" else "")
print(api_key)
EOF
}

admin_key() {
	local st
	st=$(api POST /api/generate-api-key "{\"user_id\":\"$1\",\"tier\":\"$2\"}" \
		-H "Authorization: Bearer $CTL_ADMIN")
	[[ $st == 200 ]] || fail "generate-api-key $1 $2: $st $(cat "$RESP")"
	jq -r .api_key "$RESP"
}

db_sql() {
	if [[ ${PV_DB:-sqlite} == pg ]]; then
		pg_sql "$1"
	else
		sqlite3 -cmd '.timeout 5000' "$CTL_DB" "$1"
	fi
}

# Fails when any PSK or private key the run saw appears in the controller log.
check_log_clean() {
	local n
	n=$(grep -c . "$CTL_SEEN" || true)
	((n > 0)) || fail "the run saw no secrets to check the log against"
	# One pass over the log for all of them (grep -F -f), not one per secret.
	! grep -F -f <(grep . "$CTL_SEEN") -- "$CTL_LOG" >/dev/null ||
		fail "a secret key appears in the controller log"
	trace "controller log holds none of the $n PSKs/private keys the run saw"
}

# True when the call answers 200 (for wait_for).
api_ok() { [[ $(api "$@") == 200 ]]; }

# provision_many CONCURRENCY < "SERVER DEVICE" lines: one response file each,
# and one status line each on stdout.  A reply counts only when it arrived
# whole: a controller killed between the TLS records of its headers and of
# its body leaves curl with "200" and a cut body (curl exits 18), which is
# printed as "unanswered" here, as is a refused or timed-out request.
provision_many() {
	export key out CTL_T FLEET_CTL_ADDR CTL_PORT FLEET_NS_CTL # key: API key, out: reply dir
	xargs -P "$1" -L 1 sh -c '
		code=$(ip netns exec "$FLEET_NS_CTL" curl -sS --max-time 120 --cacert "$CTL_T/ca.pem" \
			-H "X-API-Key: $key" -H "Content-Type: application/json" \
			-o "$out/$1.$2.json" -w "%{http_code}" \
			--data-binary "{\"server_id\":\"$1\",\"device\":\"$2\"}" \
			"https://$FLEET_CTL_ADDR:$CTL_PORT/api/provision") || code=unanswered
		echo "$code"' sh
}
# No (server, address) twice among the rows.
db_dups() { db_sql "SELECT server_id, host, count(*) FROM peers GROUP BY server_id, host HAVING count(*) > 1"; }
# Every address of a server's live peers, one per line.
live_addrs() { srv "$1" wg show wg0 allowed-ips | cut -f2 | tr ' ' '\n' | grep -v '^$'; }
# The server's live public keys must be exactly the DB's ACTIVE peers there.
same_peers() {
	[[ $(srv "$1" wg show wg0 peers | sort) == \
		"$(db_sql "SELECT pubkey FROM peers WHERE server_id = '$1' AND state = 1 ORDER BY pubkey" | sort)" ]]
}
