#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Hostile clients against a real controller, over HTTP and HTTPS (pv_abuse,
# tests/abuse/), each from its own loopback source addresses while a
# well-behaved client keeps asking /api/health from another address:
# - slowloris: 1,500 HTTP + 500 HTTPS requests sending one header byte per
#   second are all cut at the request deadline (evhttp's idle timeout alone
#   would keep them for ever);
# - idle connections beyond the per-address cap and beyond the total cap
#   (max_connections, which is also lowered to fit the descriptor limit) are
#   closed at once, with a log line; the well-behaved client still gets in;
# - out of descriptors (the limit lowered under the running controller with
#   prlimit): accepting pauses instead of spinning (CPU stays low), one log
#   line per episode, and /api/health answers again once the attack stops;
# - a client pipelining 64 MB of requests without reading a reply: the
#   controller stops reading (input watermark), RSS stays flat;
# - failed-auth floods (API key and admin token) turn into JSON 429s with
#   Retry-After for that address only; the log names the address, boundedly;
# - hostile bytes in paths, bodies and headers get 4xx JSON, never 500, and
#   no control byte reaches the log; a duplicate Content-Length is a 400.
# After each: health answers, open descriptors and RSS (/proc/PID) stay
# bounded, and the DB and the server's peers are unchanged.  The state files
# are 0600.
#
#   ctl ns: vpn-controller http 127.0.0.1:8080, https 0.0.0.0:8443
#           attackers from 127.0.0.2..127.0.0.99; good client from 127.0.0.1
#           and 203.0.113.2 (curl, test CA)
#   hub ns (br0) ── s1 203.0.113.11 (sshd + wg0)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
require curl openssl sqlite3 jq prlimit

ABUSE=$PV_BUILD/tests/abuse/pv_abuse
[[ -x $ABUSE ]] || fail "$ABUSE is not built"

fleet_up 1
read -r -a ids <<<"$SERVER_IDS"
s1=${ids[0]}
NOFILE=2048
REQ_TIMEOUT=3
PER_ADDR=40
AUTH_MAX=10
CTL_HTTPS_LISTEN="0.0.0.0:$CTL_PORT"
CTL_WRAP=(prlimit "--nofile=$NOFILE:$NOFILE" --)
LIMITS="\"request_timeout_s\": $REQ_TIMEOUT, \"max_connections_per_addr\": $PER_ADDR,
  \"auth_fail_max\": $AUTH_MAX, \"auth_fail_window_s\": 60, \"health_interval_s\": 5"
ctl_start "$LIMITS"

# Attackers' source addresses: "from A B" -> 127.0.0.A,…,127.0.0.B
from() { seq -s, -f "127.0.0.%g" "$1" "$2"; }
abuse() { ctl "$ABUSE" "$@"; }
http_health() { [[ $(ctl curl -sS -o /dev/null -w '%{http_code}' --max-time 20 \
	"http://127.0.0.1:$CTL_HTTP_PORT/api/health") == 200 ]]; }
health_ok() { # health_ok WHAT: both front ends answer a well-behaved client
	WAIT_S=40 wait_for api_ok GET /api/health || fail "$1: https health"
	WAIT_S=40 wait_for http_health || fail "$1: http health"
}
nfds() { find "/proc/$CTL_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$CTL_PID/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$CTL_PID/stat"; }
fig() { sed -n "s/.*\\<$1=\\([0-9]*\\).*/\\1/p" <<<"$2"; } # fig NAME "a=1 b=2"
state() {
	db_sql "SELECT * FROM users; SELECT * FROM peers; SELECT count(*) FROM audit;"
	srv "$s1" wg show wg0 peers | sort
}
fds_back() { (($(nfds) <= FD0 + 8)); }
check_bounded() { # after each attack: health, descriptors back, RSS bounded, state same
	health_ok "$1"
	WAIT_S=40 wait_for fds_back || fail "$1: $(nfds) descriptors open, $FD0 before"
	(($(rss_kb) < RSS0 + 40960)) || fail "$1: RSS grew from $RSS0 kB to $(rss_kb) kB"
	[[ $(state) == "$STATE0" ]] || fail "$1: DB or server state changed"
	trace "$1: health answers, $(nfds) descriptors, RSS $(rss_kb) kB, state unchanged"
}

# Some state that must survive: a user with a live peer.
key=$(admin_key alice pro)
pub=$(wg genkey | wg pubkey)
[[ $(api POST /api/provision "{\"server_id\":\"$s1\",\"public_key\":\"$pub\"}" \
	-H "X-API-Key: $key") == 200 ]] || fail "provision: $(cat "$RESP")"
STATE0=$(state)
FD0=$(nfds)
RSS0=$(rss_kb)
grep -q "connection limits: 1984 in total, $PER_ADDR per address" "$CTL_LOG" ||
	fail "the cap must be the descriptor limit less the headroom: $(grep 'connection limits' "$CTL_LOG")"
for f in "$CTL_DB" "$CTL_DB-wal" "$CTL_DB-shm"; do
	[[ $(stat -c %a "$f") == 600 ]] || fail "$f is mode $(stat -c %a "$f"), not 600"
done
trace "baseline: $FD0 descriptors, RSS $RSS0 kB; state files 0600"

# ---- slowloris ----------------------------------------------------------------
slow() { # slow WHAT N FROM… ARGS: every slow request is cut at the deadline
	local what=$1 out
	shift
	abuse "$@" >"$CTL_T/slow.out" &
	local pid=$!
	health_ok "$what (during)"
	wait "$pid"
	out=$(cat "$CTL_T/slow.out")
	trace "$what: $out"
	(($(fig opened "$out") >= 400)) || fail "$what: too few connections opened: $out"
	(($(fig open_at_end "$out") == 0)) || fail "$what: slow requests outlived the deadline: $out"
	check_bounded "$what"
}
slow "slowloris http" --from "$(from 2 41)" slow 127.0.0.1 "$CTL_HTTP_PORT" 1500 25
slow "slowloris https" --tls --from "$(from 42 61)" slow 127.0.0.1 "$CTL_PORT" 500 25

# ---- idle connections beyond the caps ----------------------------------------
out=$(abuse --from 127.0.0.62 idle 127.0.0.1 "$CTL_HTTP_PORT" 200 1)
trace "idle, one address: $out"
(($(fig kept "$out") <= PER_ADDR)) || fail "per-address cap not applied: $out"
(($(fig kept "$out") >= PER_ADDR / 2)) || fail "per-address cap refused too much: $out"
grep -q "over the per-address cap" "$CTL_LOG" || fail "no log line for per-address refusals"
check_bounded "idle over the per-address cap"

# ---- out of descriptors ------------------------------------------------------
low=$(($(nfds) + 24))
prlimit --pid "$CTL_PID" "--nofile=$low:$NOFILE"
fd_lines() { grep -c -e "out of file descriptors" -e "accept" "$CTL_LOG" || true; }
episodes0=$(fd_lines)
t0=$SECONDS cpu0=$(cpu_ticks)
out=$(abuse --from "$(from 2 11)" idle 127.0.0.1 "$CTL_HTTP_PORT" 300 6)
cpu=$(($(cpu_ticks) - cpu0)) wall=$((SECONDS - t0))
episodes=$(($(fd_lines) - episodes0))
trace "descriptor limit $low: $out; $cpu ticks of CPU in ${wall}s; $episodes log episodes"
((episodes >= 1)) || fail "running out of descriptors was not logged"
# Once per episode; an episode ends when a descriptor frees (at most every pause, 0.25 s).
((episodes <= 4 * (wall + 1))) || fail "out-of-descriptor log lines flood: $episodes in ${wall}s"
# A spinning accept loop burns a whole core (100 ticks per second).
((cpu < 50 * (wall + 1))) || fail "accept loop spun: $cpu ticks in ${wall}s"
health_ok "after running out of descriptors"
prlimit --pid "$CTL_PID" "--nofile=$NOFILE:$NOFILE"
check_bounded "out of descriptors"

# ---- pipelining without reading ----------------------------------------------
for front in "http $CTL_HTTP_PORT" "https $CTL_PORT"; do
	read -r name port <<<"$front"
	tls=()
	[[ $name == http ]] || tls=(--tls)
	out=$(abuse "${tls[@]}" --from 127.0.0.70 pipeline 127.0.0.1 "$port" $((64 << 20)) 20)
	trace "pipeline $name: $out, RSS $(rss_kb) kB"
	(($(fig sent "$out") < 16 << 20)) || fail "pipeline $name: the controller kept reading: $out"
	check_bounded "pipelining $name"
done

# ---- failed-auth floods -------------------------------------------------------
flood() { # flood WHAT FROM PATH BODY
	local out
	out=$(abuse --from "$2" flood 127.0.0.1 "$CTL_HTTP_PORT" 200 "$3" "$4")
	trace "$1: $out"
	(($(fig 4xx "$out") == 200)) || fail "$1: every request must fail: $out"
	(($(fig 429 "$out") >= 200 - AUTH_MAX - 1)) || fail "$1: not rate-limited: $out"
	(($(fig retry_after "$out") == $(fig 429 "$out"))) || fail "$1: 429 without Retry-After"
	(($(fig json_429 "$out") == $(fig 429 "$out"))) || fail "$1: 429 without JSON body"
	n=$(grep -c "auth failure from $2 " "$CTL_LOG" || true)
	((n >= 1 && n <= AUTH_MAX)) || fail "$1: $n auth-failure log lines for $2"
}
flood "bad API keys" 127.0.0.80 /api/revoke '{"all":true}'
flood "bad admin tokens" 127.0.0.81 /api/generate-api-key '{"user_id":"mallory","tier":"pro"}'
[[ $(api GET /api/servers '' -H "X-API-Key: $key") == 200 ]] ||
	fail "a good key from another address must still work: $(cat "$RESP")"
st=$(ctl curl -sS -o "$RESP" -w '%{http_code}' --interface 127.0.0.80 -H "X-API-Key: $key" \
	"http://127.0.0.1:$CTL_HTTP_PORT/api/servers")
[[ $st == 429 ]] || fail "the flooding address must be blocked even with a good key: $st"
check_bounded "failed-auth floods"

# ---- hostile bytes -----------------------------------------------------------
raw() { # raw EXPECTED-STATUS WHAT: stdin is one raw HTTP request; the reply must be JSON
	local reply st
	reply=$(abuse --from 127.0.0.90 send 127.0.0.1 "$CTL_HTTP_PORT" 5 | tr -d '\r')
	st=$(head -1 <<<"$reply" | cut -d' ' -f2)
	[[ $st == "$1" ]] || fail "$2: status $st, expected $1: $(head -c 400 <<<"$reply")"
	sed '1,/^$/d' <<<"$reply" | jq -e '.error and .code' >/dev/null ||
		fail "$2: the reply is not a JSON error: $(head -c 400 <<<"$reply")"
}
req() { printf '%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n%s' "$1" "$2" "$3" "$4"; }
long=/api/$(printf 'a%.0s' {1..57})
req GET $'/api/\xff\xfe\x80' '' '' | raw 404 "raw non-UTF-8 bytes in the path"
req GET "$long"$'\xc3\xa9\xc3\xa9' '' '' | raw 404 "a path cut inside a UTF-8 character"
req GET $'/api/\x1b[31mred\x7f' '' '' | raw 404 "control bytes in the path"
post() { # post BODY: a raw JSON POST to /api/provision, Content-Length in bytes
	req POST /api/provision "Content-Type: application/json"$'\r\n'"Content-Length: $(printf %s "$1" | wc -c)"$'\r\n' "$1"
}
post "$(printf '{"a%s":1}' "$(printf '\xc3\xa9%.0s' {1..40})")" |
	raw 400 "a field name cut inside a UTF-8 character"
post $'{"server_id":"\xff\xfe"}' | raw 400 "raw non-UTF-8 bytes in a body"
post $'{"server_id":"a\x01\x1b"}' | raw 400 "control bytes in a body"
# Without the check this one reaches authentication (401).
req POST /api/provision $'Content-Length: 17\r\nContent-Length: 17\r\n' '{"server_id":"x"}' |
	raw 400 "a duplicate Content-Length"
req GET /api/servers $'X-API-Key: \x01\x02\xff\x1b\r\n' '' | raw 401 "control bytes in a header"
! grep -qP '[\x00-\x08\x0b-\x1f\x7f]' "$CTL_LOG" || fail "a control byte reached the log"
grep -qF 'GET /api/\xff\xfe\x80 404' "$CTL_LOG" || fail "the raw path is not logged escaped"
check_bounded "hostile bytes"

# ---- the total cap (a restart with a small one) --------------------------------
# The cap is the subject here, not the deadline: a long one, so a slow machine
# still holds the connections when they are counted.
ctl_restart "${LIMITS/\"request_timeout_s\": $REQ_TIMEOUT/\"request_timeout_s\": 30}, \"max_connections\": 100"
out=$(abuse --from "$(from 2 11)" idle 127.0.0.1 "$CTL_HTTP_PORT" 300 1)
trace "idle, 10 addresses, max_connections 100: $out"
(($(fig kept "$out") <= 100)) || fail "total cap not applied: $out"
(($(fig kept "$out") >= 50)) || fail "total cap refused too much: $out"
health_ok "idle over the total cap"
ctl_stop
grep -qE "connections refused: [0-9]{3} over the total cap \(100\)" "$CTL_LOG" ||
	fail "no log line for total-cap refusals: $(grep 'connections refused' "$CTL_LOG")"
# Every answered request has its access line; everything else must stay small.
other=$(grep -cvE ' [0-9]{3} [0-9]+\.[0-9]{3}ms ' "$CTL_LOG" || true)
((other < 500)) || fail "$other log lines besides access lines"
trace "log: $other lines besides access lines"
pass
