#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two fleets brought up at the same time do not collide: distinct namespaces
# and host keys, the same addresses inside each without interference (each
# controller reaches only its own servers), and each tears down only its own.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require ip ssh jq

other=$(e2e_tmp)/other
on_exit "\"\$FLEET\" down \"$other\""
"$FLEET" up -n 2 "$other" 2>"$(e2e_tmp)/other.log" &
other_pid=$!
fleet_up 2
wait "$other_pid" || fail "the second fleet failed: $(cat "$(e2e_tmp)/other.log")"
other_id=$(sed -n 's/^FLEET_ID=//p' "$other/env")
trace "fleets $FLEET_ID and $other_id"
[[ $other_id != "$FLEET_ID" ]] || fail "both runs got id $FLEET_ID"

id=${SERVER_IDS%% *}
[[ $(srv_addr "$id") == $("$FLEET" addr "$other" "$id") ]] || fail "addresses should repeat across runs"
[[ $(cat "$FLEET_KNOWN_HOSTS") != $(cat "$other/known_hosts") ]] || fail "host keys repeat across runs"
mine=$(jq -r .server_public_key "$FLEET_DIR/bootstrap/$id.json")
theirs=$(jq -r .server_public_key "$other/bootstrap/$id.json")
[[ $mine != "$theirs" ]] || fail "WireGuard keys repeat across runs"
# Over ssh each controller reaches its own server (host key pinned per run).
[[ $(srv_ssh "$id" wg show wg0 public-key) == "$mine" ]] || fail "our ssh reached a foreign server"
[[ $("$FLEET" ssh "$other" "$id" -- wg show wg0 public-key) == "$theirs" ]] ||
	fail "the other run's ssh reached a foreign server"

"$FLEET" down "$other"
[[ -z $(ip netns list | awk -v p="$other_id-" 'index($1, p) == 1') ]] || fail "the other fleet leaked"
[[ $(srv "$id" wg show wg0 public-key) == "$mine" ]] || fail "tearing down the other run hurt ours"
pass
