# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# tests/e2e/converge-lib.sh: what the convergence scenarios (5x-converge-*)
# share; sourced after lib.sh and ctl-lib.sh.
#
#   wi_add ID NAME [OCTET [v4]]   a peer added the way wireguard-install.sh's
#                                 menu adds one; prints "OCTET PUBKEY"
#   wi_remove ID NAME             a peer removed the way its menu removes one
#   block ID NAME                 the text of block NAME in wg0.conf, markers included
#   active_blocks ID              the blocks of the DB's ACTIVE peers there, by name
#   wipe_peers ID                 the server loses every peer: blocks and live
#   reconcile ID                  POST /api/admin/servers/ID/reconcile; status in $st
#   audit_n ACTION                how many audit rows have that action
#   reserved ID                   the server's foreign reservations (lease rows
#                                 without a peer), ascending, space-separated
#   reserved_is ID "HOSTS"        true when those are the reservations
#   db_pairs ID / live_pairs ID   "KEY 10.7.0.N/32 fddd:…::N/128" of the DB's
#                                 ACTIVE peers / of the live interface, sorted
#   psks ID                       `wg show wg0 preshared-keys`, sorted
#   converged ID [FOREIGN_KEY…]   DB ≡ server: live pairs == ACTIVE pairs plus
#                                 the foreign keys given, and wg0.conf holds
#                                 exactly one pv block per ACTIVE peer, with the
#                                 DB's key and addresses (assert_converged:
#                                 fails saying what differs; wait_converged:
#                                 polls first)
#   pass_mark ID…; within_one_pass WHAT CHECK ID…
#                                 `CHECK ID` holds within one health period of
#                                 the mark, for every ID

# The server side of wireguard-install.sh's new_client_setup and its
# "add a new client" menu entry, command for command (lowest free octet of
# wg0.conf; the block appended by a heredoc; `wg addconf` of that block).
# OCTET forces the address; "v4" writes the block as the script does on a
# server without IPv6.  The client's private key stays on the server.
wi_add() {
	srv "$1" bash -s -- "$2" "${3:-}" "${4:-}" <<'EOF'
set -eu
client=$1
octet=$2
if [ -z "$octet" ]; then
	octet=2
	while grep AllowedIPs /etc/wireguard/wg0.conf | cut -d "." -f 4 | cut -d "/" -f 1 | grep -q "^$octet$"; do
		(( octet++ ))
	done
fi
key=$(wg genkey)
psk=$(wg genpsk)
if [ "$3" = v4 ]; then
	v6=""
else
	v6=$(grep -q 'fddd:2c4:2c4:2c4::1' /etc/wireguard/wg0.conf && echo ", fddd:2c4:2c4:2c4::$octet/128")
fi
cat << EOT >> /etc/wireguard/wg0.conf
# BEGIN_PEER $client
[Peer]
PublicKey = $(wg pubkey <<< $key)
PresharedKey = $psk
AllowedIPs = 10.7.0.$octet/32$v6
# END_PEER $client
EOT
wg addconf wg0 <(sed -n "/^# BEGIN_PEER $client/,/^# END_PEER $client/p" /etc/wireguard/wg0.conf)
echo "$octet $(wg pubkey <<< $key)"
EOF
}

# wireguard-install.sh's "remove an existing client", command for command.
wi_remove() {
	srv "$1" bash -s -- "$2" <<'EOF'
set -eu
client=$1
wg set wg0 peer "$(sed -n "/^# BEGIN_PEER $client$/,\$p" /etc/wireguard/wg0.conf | grep -m 1 PublicKey | cut -d " " -f 3)" remove
sed -i "/^# BEGIN_PEER $client$/,/^# END_PEER $client$/d" /etc/wireguard/wg0.conf
EOF
}

block() { srv "$1" sed -n "/^# BEGIN_PEER $2\$/,/^# END_PEER $2\$/p" /etc/wireguard/wg0.conf; }
# The blocks of the DB's ACTIVE peers on a server, by name.
active_blocks() {
	local n
	for n in $(db_sql "SELECT name FROM peers WHERE server_id = '$1' AND state = 1 ORDER BY name"); do
		block "$1" "$n"
	done
}

# Everything from the first block on goes from wg0.conf (the header stays,
# as after restoring an old image), and the live interface follows the file
# (`wg syncconf`, as an operator applies a hand edit).
wipe_peers() {
	srv "$1" bash -c 'set -eu; umask 077
		conf=/etc/wireguard/wg0.conf
		awk "/^# BEGIN_PEER / || /^\[Peer\]/ { exit } { print }" "$conf" >"$conf.wipe"
		mv "$conf.wipe" "$conf"
		wg syncconf wg0 <(wg-quick strip wg0)'
	[[ -z $(srv "$1" wg show wg0 peers) ]] || fail "$1: live peers survived the wipe"
	! srv "$1" grep -q '^\[Peer\]' /etc/wireguard/wg0.conf || fail "$1: blocks survived the wipe"
}

reconcile() {
	st=$(api POST "/api/admin/servers/$1/reconcile" '{}' -H "Authorization: Bearer $CTL_ADMIN")
}
# reconcile_ok ID: the admin reconcile answers 200 with its four counters.
reconcile_ok() {
	reconcile "$1"
	[[ $st == 200 ]] || fail "reconcile $1: $st $(cat "$RESP")"
	jq -e --arg s "$1" '.server_id == $s and ([.restored, .removed, .reserved, .released] |
		all(type == "number"))' "$RESP" >/dev/null || fail "reconcile $1 answer: $(cat "$RESP")"
}

audit_n() { db_sql "SELECT count(*) FROM audit WHERE action = '$1'"; }
reserved() {
	db_sql "SELECT ip FROM lease WHERE server_id = '$1' AND peer_id IS NULL ORDER BY ip" | paste -sd' '
}

reserved_is() { [[ $(reserved "$1") == "$2" ]]; }

db_pairs() {
	db_sql "SELECT pubkey || ' 10.7.0.' || host || '/32 fddd:2c4:2c4:2c4::' || host || '/128'
		FROM peers WHERE server_id = '$1' AND state = 1" | sort
}
live_pairs() { srv "$1" wg show wg0 allowed-ips | tr '\t' ' ' | sort; }
psks() { srv "$1" wg show wg0 preshared-keys | sort; }

# "NAME KEY V4 V6" of every pv block in wg0.conf, and what the DB says they must be.
conf_pv_blocks() {
	srv "$1" cat /etc/wireguard/wg0.conf | awk '
		/^# BEGIN_PEER pv[0-9]+$/ { name = $3; key = ""; ips = ""; next }
		name != "" && /^PublicKey = / { key = $3 }
		name != "" && /^AllowedIPs = / { ips = $3 " " $4 }
		name != "" && $0 == "# END_PEER " name { print name, key, ips; name = "" }' |
		tr -d ',' | sort
}
db_pv_blocks() {
	db_sql "SELECT name || ' ' || pubkey || ' 10.7.0.' || host || '/32 fddd:2c4:2c4:2c4::' || host || '/128'
		FROM peers WHERE server_id = '$1' AND state = 1" | sort
}

converged() {
	local id=$1 k foreign="" want
	shift
	for k in "$@"; do foreign+=$(live_pairs "$id" | grep "^$k " || true)$'\n'; done
	want=$({
		db_pairs "$id"
		printf '%s' "$foreign"
	} | grep -v '^$' | sort)
	[[ $(live_pairs "$id") == "$want" ]] || return 1
	[[ $(conf_pv_blocks "$id") == "$(db_pv_blocks "$id")" ]]
}
# Like converged, but says what differs ("<" the DB's, ">" the server's).
assert_converged() {
	local id=$1 k foreign=()
	converged "$@" && return 0
	for k in "${@:2}"; do foreign+=(-e "^$k "); done
	fail "$id: DB and server differ:
(key, addresses): $(diff <(db_pairs "$id") <(live_pairs "$id" | grep -v "${foreign[@]:-^$}") | grep '^[<>]' | head -n 6)
pv blocks: $(diff <(db_pv_blocks "$id") <(conf_pv_blocks "$id") | grep '^[<>]' | head -n 6)
its last log lines: $(grep -F "$id" "$CTL_LOG" | grep -v ' /api/' | grep -v ': restored pv' | tail -n 8)"
}
# wait_converged ID [FOREIGN_KEY…]: polls converged for up to WAIT_S seconds
# (default 60), then says what differs.
wait_converged() {
	local deadline=$((SECONDS + ${WAIT_S:-60}))
	until converged "$@"; do
		((SECONDS < deadline)) || assert_converged "$@"
		sleep 0.2
	done
}

# Health passes, counted per server by servers.checked_at changing:
# pass_mark ID… takes the current values.
declare -gA PASS_LAST PASS_N
pass_mark() {
	local id
	for id in "$@"; do
		PASS_LAST[$id]=$(db_sql "SELECT checked_at FROM servers WHERE id = '$id'")
		PASS_N[$id]=0
	done
}
pass_tick() {
	local now
	now=$(db_sql "SELECT checked_at FROM servers WHERE id = '$1'")
	[[ $now == "${PASS_LAST[$1]}" ]] || PASS_N[$1]=$((PASS_N[$1] + 1))
	PASS_LAST[$1]=$now
}

# within_one_pass WHAT CHECK ID…: polls `CHECK ID` for every ID until it
# holds.  The health pass running at the mark may end without the repair;
# the next one must bring it: CHECK must hold before that server's
# checked_at has changed three times since pass_mark (fails otherwise, or
# after WAIT_S seconds, default 90).
within_one_pass() {
	local what=$1 check=$2 deadline=$((SECONDS + ${WAIT_S:-90})) id seen left
	shift 2
	local pending=("$@")
	while ((${#pending[@]} > 0)); do
		left=()
		for id in "${pending[@]}"; do
			pass_tick "$id"
			seen=${PASS_N[$id]}
			"$check" "$id" >/dev/null 2>&1 && continue
			((seen < 3)) || fail "$id: $what: not done within one health period ($seen passes since the mark);
$(db_sql "SELECT 'up ' || up || ', checked_at ' || checked_at || ', state_since ' || state_since FROM servers WHERE id = '$id'")
its last log lines: $(grep -F "$id" "$CTL_LOG" | grep -v ' /api/' | tail -n 8)"
			left+=("$id")
		done
		pending=("${left[@]}")
		((${#pending[@]} > 0)) || return 0
		((SECONDS < deadline)) || fail "$what: not done after ${WAIT_S:-90} s on ${pending[*]}"
		sleep 0.2
	done
}
