#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# agentless edits on a 15-server fleet, each checked by reading the server
# back (wg0.conf bytes and `wg show`):
#   ctl (203.0.113.2) --ssh/libssh2--> s1..s15 (203.0.113.11..25, sshd + wg0)
# - add then remove on one server: the exact wireguard-install.sh block, the
#   live peer with its PSK and addresses, mode 600, then the original bytes;
# - a re-run of the same add (same PSK) changes nothing (checksum);
# - hostile names and keys are refused with exit 2 and nothing sent;
# - add then remove on all 15 servers at once;
# - hand-made peers survive 100 of our edits byte for byte;
# - on a server with wg0 and wg1 (bootstrap --interfaces 2), add and remove
#   with --interface wg1 edit wg1.conf and wg1 only; an interface the fleet
#   file does not list for the server is a usage error (exit 2).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
fleet_up 15
# shellcheck source-path=SCRIPTDIR source=lib-agentless.sh
. "$(dirname "$0")/lib-agentless.sh"
T=$(e2e_tmp)
read -r id id2 _ <<<"$SERVER_IDS"

trace "add then remove on $id"
conf "$id" >"$T/orig.conf"
key=$(newkey)
(umask 077 && wg genpsk >"$T/psk")
psk=$(cat "$T/psk")
out=$(al add --server "$id" --name alice --pubkey "$key" --host 7 --psk-file "$T/psk" || true)
[[ $out == "$id alice ok changed "* ]] || fail "add: $out"
printf '# BEGIN_PEER alice\n[Peer]\nPublicKey = %s\nPresharedKey = %s\nAllowedIPs = 10.7.0.7/32, fddd:2c4:2c4:2c4::7/128\n# END_PEER alice\n' \
	"$key" "$psk" | cat "$T/orig.conf" - >"$T/want.conf"
conf "$id" | cmp - "$T/want.conf" || fail "wg0.conf is not the original plus the script's block"
[[ $(srv "$id" stat -c %a /etc/wireguard/wg0.conf) == 600 ]] || fail "wg0.conf lost mode 600"
[[ $(srv "$id" wg show wg0 allowed-ips) == "$key	10.7.0.7/32 fddd:2c4:2c4:2c4::7/128" ]] ||
	fail "live peer missing or wrong addresses"
[[ $(srv "$id" wg show wg0 preshared-keys) == "$key	$psk" ]] || fail "live PSK differs"
trace "dump reads the live peer back; no secret leaves the server"
al dump --server "$id" >"$T/dump" || fail "dump failed"
[[ $(head -1 "$T/dump") == "interface $(srv "$id" wg show wg0 public-key) 51820" ]] || fail "dump interface line"
[[ $(sed -n 2p "$T/dump") == "peer $key (none) 10.7.0.7/32,fddd:2c4:2c4:2c4::7/128 0 0 0" ]] ||
	fail "dump peer line: $(cat "$T/dump")"
[[ $(tail -n +3 "$T/dump") == "conf alice $key 10.7.0.7/32,fddd:2c4:2c4:2c4::7/128" ]] ||
	fail "dump conf line (wg0.conf's block): $(cat "$T/dump")"
al dump --server "$id" --json | jq -e --arg k "$key" '.peers[0].public_key == $k' >/dev/null ||
	fail "dump --json"
if grep -qF -e "$psk" -e "$(srv "$id" wg show wg0 private-key)" "$T/dump"; then fail "dump leaked a secret"; fi

trace "a re-run of the same add changes nothing"
sum=$(conf_sum "$id")
out=$(al add --server "$id" --name alice --pubkey "$key" --host 7 --psk-file "$T/psk" || true)
[[ $out == "$id alice ok unchanged "* ]] || fail "re-run: $out"
[[ $(conf_sum "$id") == "$sum" ]] || fail "re-run changed wg0.conf"
out=$(al add --server "$id" --name alice --pubkey "$(newkey)" --host 8 || true)
[[ $out == *"error"*"already exists"* ]] || fail "a second alice was not refused: $out"
[[ $(conf_sum "$id") == "$sum" ]] || fail "a refused add changed wg0.conf"

trace "hostile input is refused before anything is sent"
for name in $'x\n# END_PEER alice' 'a;reboot' '$(touch /pwned)' 'sixteen-chars-xx' '' 'a b'; do
	rc=0
	al add --server "$id" --name "$name" --pubkey "$key" --host 9 2>"$T/err" || rc=$?
	[[ $rc == 2 ]] || fail "name '$name' gave exit $rc, want 2"
	grep -q 'name' "$T/err" || fail "no name error for '$name'"
done
for bad in 'AAAA' "$key " "${key%?}A" "${key:0:42}B=" '$(reboot)'; do
	rc=0
	al add --server "$id" --name bob --pubkey "$bad" --host 9 2>/dev/null || rc=$?
	[[ $rc == 2 ]] || fail "key '$bad' gave exit $rc, want 2"
done
rc=0
printf 'add good %s 10\nadd b;d %s 11\n' "$(newkey)" "$(newkey)" | al batch --server "$id" 2>/dev/null || rc=$?
[[ $rc == 2 ]] || fail "a batch with a hostile line gave exit $rc, want 2"
[[ $(conf_sum "$id") == "$sum" ]] || fail "hostile input changed wg0.conf"

out=$(al remove --server "$id" --name alice --pubkey "$key" || true)
[[ $out == "$id alice ok changed "* ]] || fail "remove: $out"
conf "$id" | cmp - "$T/orig.conf" || fail "remove did not restore the original bytes"
[[ -z $(live_peers "$id") ]] || fail "live peer left after remove"
out=$(al remove --server "$id" --name alice --pubkey "$key" || true)
[[ $out == "$id alice ok unchanged "* ]] || fail "second remove: $out"

trace "add then remove on all 15 servers"
for s in $SERVER_IDS; do conf_sum "$s"; done >"$T/sums.before"
gen_batch 1 fleet 20 >"$T/one"
al batch --server all <"$T/one" >"$T/out" || true
[[ $(grep -c ' ok changed ' "$T/out") == 15 ]] || fail "fan-out add: $(cat "$T/out")"
for s in $SERVER_IDS; do holds_exactly "$s" "$T/one"; done
to_removes <"$T/one" | al batch --server all >"$T/out" || true
[[ $(grep -c ' ok changed ' "$T/out") == 15 ]] || fail "fan-out remove: $(cat "$T/out")"
for s in $SERVER_IDS; do conf_sum "$s"; done | cmp - "$T/sums.before" || fail "fan-out remove left changes"

trace "hand-made peers on $id2 survive 100 of our edits byte for byte"
hand=$(newkey)
srv "$id2" sh -c "cat >>/etc/wireguard/wg0.conf" <<EOC
# BEGIN_PEER oldphone
[Peer]
PublicKey = $(newkey)
PresharedKey = $(wg genpsk)
AllowedIPs = 10.7.0.2/32, fddd:2c4:2c4:2c4::2/128
# END_PEER oldphone

# the NAS, configured by hand
[Peer]
PublicKey=$hand
AllowedIPs = 10.7.0.250/32
PersistentKeepalive = 25
EOC
conf "$id2" >"$T/hand.conf"
gen_batch 50 p 100 >"$T/fifty"
al batch --server "$id2" <"$T/fifty" >"$T/out" || true
all_ok "$T/out"
grep -qxF -f "$T/hand.conf" <(conf "$id2") || fail "hand-made lines changed"
conf "$id2" | head -c "$(wc -c <"$T/hand.conf")" | cmp - "$T/hand.conf" || fail "prefix changed"
out=$(al add --server "$id2" --name nas --pubkey "$hand" --host 200 || true)
[[ $out == *"already exists"* ]] || fail "our add took the hand-made peer's key: $out"
out=$(al add --server "$id2" --name other --pubkey "$(newkey)" --host 2 || true)
[[ $out == *"already in use"* ]] || fail "our add took a hand-made peer's address: $out"
to_removes <"$T/fifty" | al batch --server "$id2" --sequential >"$T/out" || true
all_ok "$T/out"
conf "$id2" | cmp - "$T/hand.conf" || fail "100 edits changed hand-made bytes"

read -r _ _ id3 _ <<<"$SERVER_IDS"
trace "--interface wg1 edits $id3's second interface, and only one the fleet file lists"
srv_ssh "$id3" sh -s -- --interfaces 2 <"$BOOTSTRAP" >/dev/null 2>"$T/bootstrap2.log" ||
	fail "bootstrap --interfaces 2 on $id3: $(cat "$T/bootstrap2.log")"
jq --arg id "$id3" '(.servers[] | select(.id == $id) | .wireguard) |= {host: .host, interfaces: [
	{interface: "wg0", port: 51820, ipv4: "10.7.0.0/24", ipv6: "fddd:2c4:2c4:2c4::/64"},
	{interface: "wg1", port: 51821, ipv4: "10.8.0.0/24", ipv6: "fddd:2c4:2c4:2c5::/64"}]}' \
	"$FLEET_DIR/servers.json" >"$T/servers2.json"
al2() { al --fleet "$T/servers2.json" "$@"; }
conf1() { srv "$id3" cat /etc/wireguard/wg1.conf; }
conf1 >"$T/orig1.conf"
sum0=$(conf_sum "$id3")
key=$(newkey)
out=$(al2 add --server "$id3" --interface wg1 --name carol --pubkey "$key" --host 7 --psk-file "$T/psk" || true)
[[ $out == "$id3 carol ok changed "* ]] || fail "add on wg1: $out"
printf '# BEGIN_PEER carol\n[Peer]\nPublicKey = %s\nPresharedKey = %s\nAllowedIPs = 10.8.0.7/32, fddd:2c4:2c4:2c5::7/128\n# END_PEER carol\n' \
	"$key" "$psk" | cat "$T/orig1.conf" - | cmp - <(conf1) || fail "wg1.conf is not the original plus the block"
[[ $(srv "$id3" wg show wg1 allowed-ips) == "$key	10.8.0.7/32 fddd:2c4:2c4:2c5::7/128" ]] ||
	fail "live peer on wg1 missing or wrong addresses"
[[ $(conf_sum "$id3") == "$sum0" && -z $(live_peers "$id3") ]] || fail "an edit on wg1 touched wg0"
for bad in "--interface" "--interface wg2" "--interface wg0.conf"; do
	rc=0
	# shellcheck disable=SC2086 # the option and its value, split on purpose
	al2 add --server "$id3" --name dave --pubkey "$(newkey)" --host 8 $bad 2>"$T/err" || rc=$?
	[[ $rc == 2 ]] || fail "add $bad gave exit $rc, want 2"
done
grep -qF -- "--interface wg0.conf: server $id3 has no such interface ($T/servers2.json: wg0 wg1)" "$T/err" ||
	fail "no clear usage error: $(cat "$T/err")"
rc=0
al add --server "$id3" --interface wg1 --name dave --pubkey "$(newkey)" --host 8 2>"$T/err" || rc=$?
[[ $rc == 2 ]] || fail "wg1 on a fleet file listing only wg0 gave exit $rc, want 2"
rc=0
printf 'add erin %s 9\n' "$(newkey)" | al2 batch --server "$id3" --interface wg1 2>"$T/err" || rc=$?
[[ $rc == 2 ]] || fail "batch --interface gave exit $rc, want 2"
out=$(al2 remove --server "$id3" --interface wg1 --name carol --pubkey "$key" || true)
[[ $out == "$id3 carol ok changed "* ]] || fail "remove on wg1: $out"
conf1 | cmp - "$T/orig1.conf" || fail "remove on wg1 did not restore wg1.conf"
[[ -z $(srv "$id3" wg show wg1 peers) ]] || fail "live peer left on wg1"
pass
