#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# agentless under load on one server:
#   ctl (203.0.113.2) --libssh2--> s1 (203.0.113.11, sshd + wg0)
# - 200 adds submitted at once all land: 200 blocks, 200 live peers, no
#   duplicates, no lost edit; then 200 concurrent removes restore the bytes;
# - no PSK is ever in any process's argv on the server: /proc/*/cmdline is
#   swept while edits run (until the sweep has seen our remote processes),
#   then every PSK in wg0.conf is searched for in what was seen.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
fleet_up 1
# shellcheck source-path=SCRIPTDIR source=lib-agentless.sh
. "$(dirname "$0")/lib-agentless.sh"
T=$(e2e_tmp)
id=${SERVER_IDS%% *}
conf "$id" >"$T/orig.conf"

trace "200 concurrent adds to $id"
gen_batch 200 c 2 >"$T/adds"
# Host numbers 2..201: all inside 2..254.
al batch --server "$id" <"$T/adds" >"$T/out" || true
[[ $(grep -c ' ok changed ' "$T/out") == 200 ]] || fail "not all adds landed: $(grep -v ' ok ' "$T/out" | head -5)"
holds_exactly "$id" "$T/adds"
[[ $(conf "$id" | grep -c '^# BEGIN_PEER') == 200 ]] || fail "block count is not 200"
[[ $(conf "$id" | grep -c '^# END_PEER') == 200 ]] || fail "END_PEER count is not 200"

trace "200 concurrent removes restore the original bytes"
to_removes <"$T/adds" | al batch --server "$id" >"$T/out" || true
[[ $(grep -c ' ok changed ' "$T/out") == 200 ]] || fail "not all removes landed"
conf "$id" | cmp - "$T/orig.conf" || fail "removes did not restore wg0.conf"
[[ -z $(live_peers "$id") ]] || fail "live peers left"

trace "no PSK in any argv on the server while edits run"
ns=$("$FLEET" ns "$FLEET_DIR" "$id")
: >"$T/argv"
(
	# Every process of the server's network namespace, again and again:
	# the remote script's children live a few milliseconds each.
	while [[ ! -e $T/stop ]]; do
		for p in $(ip netns pids "$ns"); do
			{ tr '\0' ' ' <"/proc/$p/cmdline" && echo; } 2>/dev/null
		done >>"$T/argv"
	done
) &
sweeper=$!
on_exit "kill $sweeper 2>/dev/null"
round=0
# Keep editing until the sweep has provably seen our remote processes.
until grep -q 'wg addconf wg0\|flock -w 8 9\|wg show wg0 peers' "$T/argv"; do
	((round < 40)) || fail "the sweep never saw the remote edit processes"
	gen_batch 10 "r${round}x" 2 >"$T/b"
	al batch --server "$id" --sequential <"$T/b" >"$T/out" || true
	all_ok "$T/out"
	to_removes <"$T/b" | al batch --server "$id" >"$T/out" || true
	round=$((round + 1))
done
gen_batch 20 keep 2 >"$T/b"
al batch --server "$id" --sequential <"$T/b" >"$T/out" || true
all_ok "$T/out"
touch "$T/stop"
wait "$sweeper" || true
trace "swept $(wc -l <"$T/argv") command lines over $round rounds"
conf "$id" | awk '/^PresharedKey = / { print $3 }' >"$T/psks"
[[ $(wc -l <"$T/psks") == 20 ]] || fail "expected 20 PSKs in wg0.conf"
if grep -qF -f "$T/psks" "$T/argv"; then fail "a PSK appeared in a server argv"; fi
pass
