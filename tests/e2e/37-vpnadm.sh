#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vpnadm, the operators' CLI, against a real controller over real HTTPS on a
# 2-server fleet, run in the controller's namespace with its own config dir:
# - login takes the token from stdin or VPNADM_TOKEN (never argv), checks it
#   and stores it 0600; a wrong token is exit 2 and stores nothing;
# - users / user show / issue-key / rotate-key / tier / disable do what the
#   admin API says (checked against the DB and with the keys themselves);
# - servers lists the fleet; --json everywhere parses; `--help` works on
#   every command of the table; usage errors are exit 1 and send nothing.
#
#   hub ns (br0) ── ctl 203.0.113.2 (vpn-controller :8443 TLS, vpnadm)
#               └── s1, s2 Basic 203.0.113.11..12 (sshd + wg0)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
require curl openssl python3 sqlite3 jq script
VPNADM=$PV_BUILD/client-cli/vpnadm
[[ -x $VPNADM ]] || fail "vpnadm not built at $VPNADM"

fleet_up 2
read -r -a ids <<<"$SERVER_IDS"
ctl_start
URL=https://$FLEET_CTL_ADDR:$CTL_PORT
ADM_CONF=$CTL_T/xdg-adm
adm() { ctl env XDG_CONFIG_HOME="$ADM_CONF" "$VPNADM" "$@"; }
rc() { # rc CODE CMD… : CMD must exit with CODE
	local want=$1 got=0
	shift
	"$@" >"$CTL_T/out" 2>"$CTL_T/err" || got=$?
	((got == want)) || fail "$* exited $got, expected $want: $(cat "$CTL_T/err")"
}
key_status() { api GET /api/servers '' -H "X-API-Key: $1"; }

# ---- help and usage ----------------------------------------------------------------
mapfile -t cmds < <("$VPNADM" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ {
	print ($2 ~ /^[a-z-]+$/ && ($1 == "user" || $1 == "server")) ? $1 " " $2 : $1 }')
((${#cmds[@]} == 18)) || fail "vpnadm --help lists ${#cmds[@]} commands: ${cmds[*]}"
for c in "${cmds[@]}"; do
	# shellcheck disable=SC2086 # two-word commands split on purpose
	out=$("$VPNADM" $c --help) || fail "vpnadm $c --help failed"
	[[ $out == "Usage: vpnadm $c "* ]] || fail "vpnadm $c --help: $out"
done
rc 1 "$VPNADM" user
rc 1 "$VPNADM" user frobnicate
rc 1 "$VPNADM" users --limit 0
rc 1 "$VPNADM" user tier u1 gold
grep -q "TIER must be basic or pro" "$CTL_T/err" || fail "bad tier message: $(cat "$CTL_T/err")"
rc 1 "$VPNADM" user show 'u1;rm'
trace "--help on every command of the table; usage errors exit 1"

# ---- login -----------------------------------------------------------------------
echo "wrong-token-0123456789abcdef" | rc 2 adm login "$URL" --cacert "$CTL_T/ca.pem"
[[ ! -e $ADM_CONF/vpnadm/config.json ]] || fail "a refused login stored a config"
rc 2 adm users
echo "$CTL_ADMIN" | rc 0 adm login "$URL" --cacert "$CTL_T/ca.pem"
[[ $(stat -c %a "$ADM_CONF/vpnadm/config.json") == 600 ]] || fail "config is not 0600"
[[ $(jq -r .admin_token "$ADM_CONF/vpnadm/config.json") == "$CTL_ADMIN" ]] || fail "token not stored"
rm -r "$ADM_CONF"
ctl env VPNADM_TOKEN="$CTL_ADMIN" XDG_CONFIG_HOME="$ADM_CONF" "$VPNADM" login "$URL" \
	--cacert "$CTL_T/ca.pem" </dev/null >/dev/null || fail "login with VPNADM_TOKEN"
trace "login: stdin or VPNADM_TOKEN, checked, stored 0600; a wrong token is exit 2"

# ---- users ------------------------------------------------------------------------
k_u1=$(admin_key u1 basic)
for u in u2 u3 u4 u5; do admin_key "$u" basic >/dev/null; done
st=$(api POST /api/provision "{\"server_id\":\"${ids[0]}\",\"device\":\"laptop\"}" -H "X-API-Key: $k_u1")
[[ $st == 200 ]] || fail "provision u1: $st"
remember_secrets
rc 0 adm user issue-key u9 pro
k9=$(cat "$CTL_T/out")
[[ $k9 == "$(seed_key u9 pro)" ]] || fail "issue-key printed '$k9'"
[[ $(key_status "$k9") == 200 ]] || fail "the issued key does not work"
rc 0 adm users --json
[[ $(jq -r '[.users[].user_id] | join(" ")' "$CTL_T/out") == \
	"$(db_sql "SELECT id FROM users ORDER BY id" | paste -sd' ')" ]] ||
	fail "users --json: $(cat "$CTL_T/out")"
rc 0 adm users --limit 2 --json
jq -e '(.users | length) == 2 and .next_cursor == "u2"' "$CTL_T/out" >/dev/null ||
	fail "users --limit 2: $(cat "$CTL_T/out")"
rc 0 adm users --limit 2 --cursor u2
[[ $(awk 'NR > 1 { print $1 }' "$CTL_T/out" | paste -sd' ') == "u3 u4" ]] || fail "page after u2: $(cat "$CTL_T/out")"
rc 0 adm users
[[ $(awk '$1 == "u1" { print $2, $3, $4, $5, $6 }' "$CTL_T/out") == "basic yes 0 1 1" ]] ||
	fail "users table row of u1: $(cat "$CTL_T/out")"
rc 0 adm user show u1
grep -q "^User u1: basic tier, active, key generation 0" "$CTL_T/out" || fail "user show: $(cat "$CTL_T/out")"
grep -qE "^pv[0-9]+ +laptop +${ids[0]} +10\.7\.0\.[0-9]+ +fddd:2c4:2c4:2c4::[0-9]+ +active\$" "$CTL_T/out" ||
	fail "user show peer row: $(cat "$CTL_T/out")"
rc 1 adm user show nobody
grep -q "unknown user nobody" "$CTL_T/err" || fail "unknown user: $(cat "$CTL_T/err")"
trace "users pages and tables match the DB; user show lists the peer; unknown user is exit 1"

rc 0 adm user rotate-key u9
k9b=$(cat "$CTL_T/out")
[[ $k9b == "$(seed_key u9 pro "$CTL_SECRET" 1)" ]] || fail "rotate-key printed '$k9b'"
[[ $(key_status "$k9") == 401 ]] || fail "the key before rotate-key still works"
[[ $(key_status "$k9b") == 200 ]] || fail "the rotated key does not work"
rc 0 adm user tier u9 basic --json
jq -e '.tier == "basic" and .key_generation == 2' "$CTL_T/out" >/dev/null || fail "user tier: $(cat "$CTL_T/out")"
[[ $(key_status "$(jq -r .api_key "$CTL_T/out")") == 200 ]] || fail "the key after user tier"
rc 0 adm user disable u1
[[ $(cat "$CTL_T/out") == "u1: done, 1 peers revoked" ]] || fail "user disable: $(cat "$CTL_T/out")"
[[ $(db_sql "SELECT active FROM users WHERE id = 'u1'") == 0 ]] || fail "u1 still active"
[[ $(db_sql "SELECT count(*) FROM peers WHERE user_id = 'u1'") == 0 ]] || fail "u1's peer left"
[[ $(db_sql "SELECT action FROM audit ORDER BY id DESC LIMIT 1") == disable-user ]] || fail "no audit row"
trace "rotate-key, tier and disable through vpnadm: keys, DB and audit as the API says"

# ---- servers ------------------------------------------------------------------------
rc 0 adm servers
(($(wc -l <"$CTL_T/out") == FLEET_N + 1)) || fail "servers table: $(cat "$CTL_T/out")"
for id in "${ids[@]}"; do
	load="$(db_sql "SELECT count(*) FROM peers WHERE server_id = '$id'")/253"
	grep -qE "^$id +.+ +basic +up +$load +[0-9]+ +[0-9]+ +[0-9.]+ [KMG]?i?B +[0-9.]+ [KMG]?i?B +[0-9]+s ago\$" "$CTL_T/out" ||
		fail "servers table row of $id: $(cat "$CTL_T/out")"
done
! grep -q $'\033' "$CTL_T/out" || fail "colour escapes on a pipe"
# On a terminal (script(1) gives it one) the state is coloured: up in green.
ctl env XDG_CONFIG_HOME="$ADM_CONF" script -qec "$VPNADM servers" /dev/null >"$CTL_T/tty" ||
	fail "vpnadm servers on a terminal"
grep -q $'\033\\[32mup\033\\[0m' "$CTL_T/tty" || fail "no green 'up' on a terminal: $(cat -v "$CTL_T/tty")"
rc 0 adm servers --json
jq -e --argjson n "$FLEET_N" '(.servers | length) == $n and all(.servers[]; .status == "up" and
	(.public_key | length) == 44 and .checked_at > 0 and (.active_peers | type) == "number" and
	(.rx_bytes | type) == "number" and .state_since > 0)' "$CTL_T/out" >/dev/null ||
	fail "servers --json: $(cat "$CTL_T/out")"
trace "servers: the fleet with state, no colour on a pipe; --json parses"

# The token never reached argv or the log.
! grep -qF -- "$CTL_ADMIN" "$CTL_LOG" || fail "the admin token is in the controller log"
check_log_clean
pass
