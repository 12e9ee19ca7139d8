# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# tests/e2e/lib-agentless.sh: helpers for the agentless scenarios (sourced
# after lib.sh and fleet_up).  AL_BIN may point at another build of
# agentless-cli (the fault scenario uses an ASan build).
AL_BIN=${AL_BIN:-$PV_BUILD/agentless/agentless-cli}
[[ -x $AL_BIN ]] || fail "agentless-cli not built at $AL_BIN"

# agentless-cli in the controller namespace, with the fleet's files.
al() {
	ctl "$AL_BIN" --fleet "$FLEET_DIR/servers.json" --identity "$FLEET_DIR/id_ed25519" \
		--known-hosts "${AL_KNOWN_HOSTS:-$FLEET_DIR/known_hosts}" "$@"
}
newkey() { wg genkey | wg pubkey; }
conf() { srv "$1" cat /etc/wireguard/wg0.conf; }
conf_sum() { srv "$1" sha256sum /etc/wireguard/wg0.conf | cut -d' ' -f1; }
live_peers() { srv "$1" wg show wg0 peers | sort; }
# gen_batch N PREFIX FIRST_HOST: N "add" lines with fresh keys.
gen_batch() {
	local i
	for ((i = 0; i < $1; i++)); do
		echo "add $2$i $(newkey) $(($3 + i))"
	done
}
# The same lines as "remove" lines.
to_removes() { awk '{ print "remove", $2, $3 }'; }
# Asserts that every line of FILE (agentless-cli output) reports success.
all_ok() {
	local bad
	bad=$(grep -v ' ok ' "$1" || true)
	[[ -z $bad ]] || fail "edits failed: $bad"
}
# Asserts server ID holds exactly the peers of batch FILE, once each, in
# wg0.conf and on the live interface.
holds_exactly() {
	local id=$1 batch=$2 want
	want=$(awk '{ print $3 }' "$batch" | sort)
	[[ $(conf "$id" | awk '/^PublicKey = / { print $3 }' | sort) == "$want" ]] ||
		fail "$id: wg0.conf keys differ from the batch"
	[[ -z $(conf "$id" | grep '^# BEGIN_PEER' | sort | uniq -d) ]] || fail "$id: duplicate blocks"
	[[ $(live_peers "$id") == "$want" ]] || fail "$id: live peers differ from the batch"
}
