#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# agentless under faults, with agentless-cli built with ASan + UBSan (leaks
# and memory errors across reconnects fail the test):
#   ctl (203.0.113.2) --libssh2--> s1..s15 (203.0.113.11..25)
# - a swapped or unknown host key refuses the push, names the server and the
#   real SHA256 fingerprint, and changes nothing;
# - killing sshd's session process (by pid, in s1's namespace) in the middle
#   of 150 sequential adds: transparent reconnect, every edit lands once;
# - a `fleet stop`ped server fails within its timeout while the other 14
#   proceed, and works again after `fleet start`.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require cmake cc ssh-keygen
T=$(e2e_tmp)
src=$(cd "$(dirname "$0")/../.." && pwd)
trace "building agentless-cli with -fsanitize=address,undefined"
cmake -S "$src" -B "$T/asan" -DPV_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug \
	>"$T/asan-build.log" 2>&1 || fail "ASan configure failed ($T/asan-build.log)"
cmake --build "$T/asan" --target agentless-cli -j2 >>"$T/asan-build.log" 2>&1 ||
	fail "ASan build failed ($T/asan-build.log)"
export AL_BIN=$T/asan/agentless/agentless-cli
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

fleet_up 15
# shellcheck source-path=SCRIPTDIR source=lib-agentless.sh
. "$(dirname "$0")/lib-agentless.sh"
read -r id id2 id3 _ <<<"$SERVER_IDS"
# Every run's stderr goes to one log, checked for sanitizer reports at the end.
alx() { al "$@" 2>>"$T/stderr.log"; }

trace "a swapped host key refuses the push"
addr=$(srv_addr "$id")
addr2=$(srv_addr "$id2")
fp=$(ssh-keygen -lf <(grep "^$addr " "$FLEET_DIR/known_hosts") | awk '{ print $2 }')
[[ $fp == SHA256:* ]] || fail "no fingerprint for $addr"
key2=$(awk -v a="$addr2" '$1 == a { print $2, $3 }' "$FLEET_DIR/known_hosts")
awk -v a="$addr" -v k="$key2" '$1 == a { print a, k; next } { print }' "$FLEET_DIR/known_hosts" >"$T/kh.swapped"
grep -v "^$addr " "$FLEET_DIR/known_hosts" >"$T/kh.unknown"
sum=$(conf_sum "$id")
rc=0
out=$(AL_KNOWN_HOSTS=$T/kh.swapped alx add --server "$id" --name mallory --pubkey "$(newkey)" --host 9) || rc=$?
[[ $rc == 1 && $out == *"host key"*"server $id"*"HOST KEY CHANGED"*"$fp"* ]] ||
	fail "swapped key not refused with the fingerprint (exit $rc): $out"
out=$(AL_KNOWN_HOSTS=$T/kh.unknown alx add --server "$id" --name mallory --pubkey "$(newkey)" --host 9) || true
[[ $out == *"host key $fp is not in"* ]] || fail "unknown key not refused: $out"
[[ $(conf_sum "$id") == "$sum" ]] || fail "a refused push changed wg0.conf"

trace "killing sshd's session process mid-run reconnects transparently"
ns=$("$FLEET" ns "$FLEET_DIR" "$id")
session_pids() {
	local p
	for p in $(ip netns pids "$ns"); do
		[[ $({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null) != "sshd: root@notty"* ]] || echo "$p"
	done
}
gen_batch 150 k 2 >"$T/adds"
alx batch --server "$id" --sequential <"$T/adds" >"$T/out" &
cli_pid=$!
on_exit "kill $cli_pid 2>/dev/null"
WAIT_S=60 wait_for sh -c "[ \$($FLEET exec $FLEET_DIR $id -- grep -c '^# BEGIN_PEER' /etc/wireguard/wg0.conf) -ge 30 ]"
victims=$(session_pids)
[[ -n $victims ]] || fail "no sshd session process found in $ns"
trace "killing sshd session pid(s) $victims"
# shellcheck disable=SC2086 # one pid per word
kill $victims
wait "$cli_pid" || fail "agentless-cli failed after the reconnect: $(grep -v ' ok ' "$T/out" | head -3)"
all_ok "$T/out"
[[ $(wc -l <"$T/out") == 150 ]] || fail "expected 150 results"
grep -q ' retried ' "$T/out" || fail "no edit reports the re-send after the kill"
holds_exactly "$id" "$T/adds"
for p in $victims; do [[ ! -e /proc/$p ]] || fail "killed session $p still alive"; done

trace "a stopped server fails within its timeout; the other 14 proceed"
srv_stop "$id3"
gen_batch 1 s 200 >"$T/one"
timeout=4000
alx --timeout-ms "$timeout" --connect-timeout-ms 2000 batch --server all <"$T/one" >"$T/out" || true
[[ $(grep -c ' ok changed ' "$T/out") == 14 ]] || fail "the 14 live servers did not all succeed: $(cat "$T/out")"
line=$(grep "^$id3 " "$T/out")
[[ $line == "$id3 s0 error "*@(timed out|unreachable)* ]] || fail "stopped server: $line"
ms=$(awk '{ print int($4) }' <<<"$line")
((ms <= timeout + 1000)) || fail "stopped server took $ms ms, beyond its $timeout ms deadline"
while read -r s _ _ _ t; do
	((${t%.*} < timeout)) || fail "$s waited for the stopped server ($t ms)"
done < <(grep ' ok ' "$T/out")
srv_start "$id3"
grep "^$id3" <(alx batch --server "$id3" <"$T/one") | grep ' ok changed ' >/dev/null ||
	fail "$id3 did not take the edit after fleet start"

trace "no sanitizer reports"
if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' "$T/stderr.log"; then
	fail "sanitizer errors above"
fi
pass
