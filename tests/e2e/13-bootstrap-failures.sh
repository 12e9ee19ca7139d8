#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Broken cases fail loudly (non-zero exit, a clear message, no JSON on stdout)
# and change nothing: a read-only /etc/wireguard, an unknown OS and a too old
# one (the server's real /etc/os-release, private to it), a malformed server
# key or port in an existing wg0.conf, a non-root user.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

fleet_up 1
id=$SERVER_IDS
tmp=$(e2e_tmp)

# expect_failure WHAT MESSAGE: the bootstrap fails with MESSAGE on stderr.
expect_failure() {
	local rc=0
	srv_bootstrap "$id" >"$tmp/out" || rc=$?
	cp "$tmp/bootstrap-$id.log" "$tmp/err"
	((rc != 0)) || fail "$1: bootstrap succeeded"
	grep -qF "bootstrap: error: $2" "$tmp/err" || fail "$1: expected '$2' on stderr, got: $(cat "$tmp/err")"
	[[ ! -s $tmp/out ]] || fail "$1: printed a summary on failure: $(cat "$tmp/out")"
	trace "$1: exit $rc, $(grep 'bootstrap: error' "$tmp/err")"
}
state() {
	srv "$id" sh -c 'ls -l --time-style=full-iso /etc/wireguard; cat /etc/wireguard/wg0.conf 2>/dev/null | sha256sum;
		wg show wg0 public-key 2>&1; nft list table inet privatevpn 2>&1 | sha256sum'
}

# Read-only /etc/wireguard on a fresh server (wg0 down, no wg0.conf).
srv "$id" sh -c 'wg-quick down wg0 2>/dev/null && rm /etc/wireguard/wg0.conf &&
	mount -o remount,ro /etc/wireguard'
before=$(state)
expect_failure "read-only /etc/wireguard" "cannot write /etc/wireguard/wg0.conf"
[[ $(state) == "$before" ]] || fail "read-only case changed the server"
srv "$id" mount -o remount,rw /etc/wireguard
summary=$(srv_bootstrap "$id") || fail "bootstrap after making it writable"
jq -e '.changed | index("wg0.conf")' <<<"$summary" >/dev/null || fail "no new wg0.conf: $summary"

# Unknown and too old operating systems, through the server's own
# /etc/os-release (its /etc is a private overlay: check before touching it).
[[ $(srv "$id" findmnt -n -o FSTYPE /etc) == overlay ]] || fail "server /etc is not private; refusing to edit it"
set_os() { srv "$id" sh -c 'rm -f /etc/os-release && cat > /etc/os-release'; }
before=$(state)
printf 'NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\n' | set_os
expect_failure "unknown OS" "unsupported operating system 'arch ?'"
printf 'NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="20.04"\n' | set_os
expect_failure "Ubuntu 20.04" "unsupported operating system 'ubuntu 20.04'"
printf 'NAME="Rocky Linux"\nID="rocky"\nVERSION_ID="8.9"\n' | set_os
expect_failure "Rocky 8" "unsupported operating system 'rocky 8.9'"
srv "$id" rm /etc/os-release
expect_failure "no os-release" "cannot read /etc/os-release"
[[ $(state) == "$before" ]] || fail "refused OS changed the server"
srv "$id" ln -s ../usr/lib/os-release /etc/os-release

# A malformed ListenPort is refused, not guessed.
srv "$id" sed -i 's|^ListenPort = 51820$|ListenPort = 99999|' /etc/wireguard/wg0.conf
before=$(state)
expect_failure "malformed port" "/etc/wireguard/wg0.conf has a malformed ListenPort '99999'"
[[ $(state) == "$before" ]] || fail "malformed port case changed the server"
srv "$id" sed -i 's|^ListenPort = 99999$|ListenPort = 51820|' /etc/wireguard/wg0.conf

# A malformed key is never replaced (that would cut off every client).
srv "$id" sed -i 's|^PrivateKey = .*|PrivateKey = not-a-key|' /etc/wireguard/wg0.conf
before=$(state)
expect_failure "malformed key" "/etc/wireguard/wg0.conf has a malformed PrivateKey"
[[ $(state) == "$before" ]] || fail "malformed key case changed the server"

# Not root.
rc=0
err=$(ctl env -i PATH=/usr/bin:/bin setpriv --reuid=65534 --regid=65534 --clear-groups \
	sh -s <"$BOOTSTRAP" 2>&1 >/dev/null) || rc=$?
if ((rc == 0)) || [[ $err != *"bootstrap: error: must run as root"* ]]; then
	fail "non-root: rc=$rc $err"
fi

pass
