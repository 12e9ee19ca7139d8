#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Blocks the controller named (pv<N>) but does not know are removed, and a
# controller killed in the middle of a reconcile converges after a restart:
# - pv9001 (N unknown to the DB) on s1 before the controller starts: the
#   startup reconcile removes it at once (block and live peer), audit
#   reconcile.remove_stale, no reservation left for it;
# - pv9002 added while the controller runs: an admin reconcile right away
#   leaves it (it may be a push still in flight), a later one, once it is
#   older than the push timeout, removes it;
# - s2 holds 200 ACTIVE peers; it loses them all (blocks and live), gets a
#   stale pv9003 at an ACTIVE peer's address (as after restoring an old
#   image) and a hand-made peer; an admin reconcile of s2 is started while
#   another editor holds wg0.conf's edit lock there, and the controller is
#   killed with SIGKILL while that reconcile's SSH command waits on s2; the
#   lock is released (the orphaned edit goes on); after a restart both
#   servers converge: every ACTIVE
#   peer back with its PSK and byte-identical block, pv9003 gone, the
#   hand-made peer kept and reserved, no PENDING/REMOVING row.
#
#   hub ns (br0) ── ctl 203.0.113.2 (vpn-controller :8443 TLS; health pass only at start)
#               ├── s1 203.0.113.11 (sshd + wg0): pv9001, pv9002, 20 ACTIVE peers
#               └── s2 203.0.113.12 (sshd + wg0): 200 ACTIVE peers, drifted; pv9003, hand
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=converge-lib.sh
. "$(dirname "$0")/converge-lib.sh"
require curl openssl python3 sqlite3 jq xargs

fleet_up 2
read -r -a ids <<<"$SERVER_IDS"
s1=${ids[0]} s2=${ids[1]}
config='"health_interval_s": 3600, "push_timeout_ms": 6000, "connect_timeout_ms": 3000'
live_has() { grep -qxF "$2" <<<"$(srv "$1" wg show wg0 peers)"; }
gone() { [[ -z $(block "$1" "$2") ]] && ! live_has "$1" "$3"; }

# ---- stale at startup ----------------------------------------------------------------------
# wireguard-install.sh's layout is the controller's own: only the name says "ours".
read -r _ stale1 < <(wi_add "$s1" pv9001 7)
ctl_start "$config"
WAIT_S=30 wait_for gone "$s1" pv9001 "$stale1"
[[ $(audit_n reconcile.remove_stale) == 1 ]] || fail "expected one reconcile.remove_stale audit row"
grep -q "pv9001" "$CTL_LOG" || fail "no log line names the removed pv9001"
[[ $(reserved "$s1") == "" ]] || fail "a removed stale block left a reservation: $(reserved "$s1")"
trace "startup reconcile removed the stale pv9001"

# ---- stale while running: not before the push timeout, then removed --------------------------
read -r _ stale2 < <(wi_add "$s1" pv9002 8)
reconcile_ok "$s1"
jq -e '.removed == 0' "$RESP" >/dev/null || fail "a fresh pv9002 was removed at once: $(cat "$RESP")"
[[ -n $(block "$s1" pv9002) ]] || fail "a fresh pv9002 block was removed"
live_has "$s1" "$stale2" || fail "a fresh pv9002 was removed from the live interface"
stale_removed() {
	reconcile_ok "$s1"
	jq -e '.removed == 1' "$RESP" >/dev/null
}
WAIT_S=60 wait_for stale_removed
gone "$s1" pv9002 "$stale2" || fail "reconcile said removed but pv9002 is still on $s1"
[[ $(audit_n reconcile.remove_stale) == 2 ]] || fail "expected a second reconcile.remove_stale audit row"
trace "pv9002 survived the reconcile right after it appeared and went on a later one"

# ---- kill -9 in the middle of a reconcile ----------------------------------------------------------
key=$(admin_key stale pro)
out=$CTL_T/out
mkdir -p "$out"
codes=$({
	for i in $(seq 1 200); do echo "$s2 d$i"; done
	for i in $(seq 1 20); do echo "$s1 e$i"; done
} | provision_many 16 | sort | uniq -c)
[[ $(echo $codes) == "220 200" ]] || fail "provisions: $codes"
for f in "$out"/*.json; do jq -r .config "$f"; done | awk '/^(PrivateKey|PresharedKey) = / { print $3 }' >>"$CTL_SEEN"
assert_converged "$s1"
assert_converged "$s2"
before_psks=$(psks "$s2")
before_blocks=$(active_blocks "$s2")
before_rows=$(db_sql "SELECT id, name, pubkey, host, state FROM peers ORDER BY id")

wipe_peers "$s2"
# As after restoring an old image: a block of a peer revoked since, at an
# address an ACTIVE peer holds now (.2), and a hand-made peer at a free one.
read -r _ stale3 < <(wi_add "$s2" pv9003 2)
read -r hand_octet hand_key < <(wi_add "$s2" hand 250)
s2_ns=$("$FLEET" ns "$FLEET_DIR" "$s2")
# True while one of the controller's batches runs on s2: the remote script
# lives as long as its SSH session, so what tells a batch in progress is the
# batch's own `flock -w 8 9` on the edit lock (the holder below runs
# `flock -o LOCK sleep 600`, another command line).
remote_running() {
	local p
	for p in $(ip netns pids "$s2_ns"); do
		[[ $({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null) != "flock -w 8 9 " ]] || return 0
	done
	return 1
}
! remote_running || fail "a remote command already runs on $s2"
# Another editor holds wg0.conf's edit lock (as the bootstrap does while it
# runs), so the reconcile's repair batch waits on the server: the kill lands
# while the reconcile is in flight, every run.  flock -o keeps the lock in
# flock itself, so killing it releases the lock (fleet exec execs into
# flock: $! is flock's pid).
lock=/etc/wireguard/.wg0.privatevpn.lock
"$FLEET" exec "$FLEET_DIR" "$s2" -- flock -o "$lock" sleep 600 &
locker=$!
held() { ! srv "$s2" flock -n "$lock" true; }
WAIT_S=10 wait_for held
on_exit "kill $locker 2>/dev/null"
(
	reconcile "$s2" || true
	echo "${st:-000}"
) >"$CTL_T/reconcile.st" 2>/dev/null &
rec=$!
WAIT_S=30 wait_for remote_running
kill -KILL "$CTL_PID"
wait "$CTL_PID" || true
CTL_PID=""
kill "$locker"
wait "$locker" 2>/dev/null || true
! kill -0 "$locker" 2>/dev/null || fail "the lock holder on $s2 survived"
wait "$rec" || true
trace "controller killed while its reconcile of $s2 ran there (admin call: '$(cat "$CTL_T/reconcile.st")')"
[[ $(cat "$CTL_T/reconcile.st") != 200 ]] || fail "the reconcile answered before the kill: nothing was tested"

ctl_start "$config"
wait_converged "$s2" "$hand_key"
assert_converged "$s1"
[[ $(psks "$s2" | grep -v "^$hand_key	") == "$before_psks" ]] || fail "restored PSKs differ"
[[ $(active_blocks "$s2") == "$before_blocks" ]] || fail "restored blocks are not byte-identical"
[[ $(db_sql "SELECT id, name, pubkey, host, state FROM peers ORDER BY id") == "$before_rows" ]] ||
	fail "the DB's peers changed"
gone "$s2" pv9003 "$stale3" || fail "the stale pv9003 survived the restart"
[[ $(reserved "$s2") == "$hand_octet" ]] || fail "hand-made .$hand_octet not reserved: '$(reserved "$s2")'"
[[ $(db_sql "SELECT count(*) FROM peers WHERE state != 1") == 0 ]] || fail "unsettled rows after the restart"
[[ -z $(db_dups) ]] || fail "an address is held twice: $(db_dups)"
trace "after the restart: 200 peers back byte for byte, pv9003 gone, the hand-made peer reserved"

check_log_clean
ctl_stop
pass
