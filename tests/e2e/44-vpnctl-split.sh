#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Split tunnelling on the real fleet, with a controller handing out full
# tunnels (0.0.0.0/0, ::/0).  `connect --exclude` makes AllowedIPs exactly the
# complement (checked against Python's ipaddress, an independent
# implementation) of the excluded address, the endpoint and the controller; an
# excluded server is reached directly (nft counters in its namespace see the
# client's own address) while another one is reached through the tunnel (its
# counters see the tunnel server's address: the server masquerades); the API
# still answers.  `--include` sends only that address (and the tunnel subnets)
# through the tunnel; `--allow-lan` keeps the private ranges out except the
# tunnel's own subnet.
#
#   hub (br0) ── ctl 203.0.113.2 (vpn-controller, HTTPS, full-tunnel configs)
#             ── us-east-1 .11 (the tunnel), us-west-1 .12 (excluded), eu-west-1 .13
#             ── client sam .101 (Pro key)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=ctl-lib.sh
. "$(dirname "$0")/ctl-lib.sh"
# shellcheck source-path=SCRIPTDIR source=vpnctl-lib.sh
. "$(dirname "$0")/vpnctl-lib.sh"

require python3
vpnctl_setup 3
tmp=$(e2e_tmp)
vpnctl_full_tunnel
vpnctl_client sam pro
client_addr=$(cat "$FLEET_DIR/clients/sam/addr")
entry=us-east-1
entry_addr=$(srv_addr "$entry")
direct_addr=$(srv_addr us-west-1)
tunneled_addr=$(srv_addr eu-west-1)

# Named counters in a server's namespace: echo requests from the client
# itself (direct) and from the tunnel server (through the tunnel, masqueraded).
for id in us-west-1 eu-west-1; do
	srv "$id" nft -f - <<EOF || fail "nft counters on $id"
table inet pvtest {
	counter direct {}
	counter tunneled {}
	chain input {
		type filter hook input priority filter; policy accept;
		ip saddr $client_addr icmp type echo-request counter name direct
		ip saddr $entry_addr icmp type echo-request counter name tunneled
	}
}
EOF
done
count() { srv "$1" nft -j list counter inet pvtest "$2" | jq '.nftables[1].counter.packets'; }

# expected BASE KEEP EXCLUDE…: Python's ipaddress computes BASE minus each
# EXCLUDE (minus the KEEP networks, never taken out), sorted, one per line.
expected() {
	python3 - "$@" <<'EOF'
import ipaddress, sys
net = ipaddress.ip_network
base = [net(x) for x in sys.argv[1].split()]
keep = [net(x) for x in sys.argv[2].split()]
cut = [net(x) for x in sys.argv[3:]]
def minus(nets, x):
    out = []
    for n in nets:
        if n.version != x.version or not n.overlaps(x):
            out.append(n)
        elif not x.supernet_of(n):
            out.extend(n.address_exclude(x))
    return out
for x in cut:
    pieces = [x]
    for k in keep:
        pieces = minus(pieces, k)
    for p in pieces:
        base = minus(base, p)
for n in sorted(base, key=lambda n: (n.version, n.network_address, n.prefixlen)):
    print(n)
EOF
}
allowed() { cli sam wg show pvpn0 allowed-ips | cut -f2 | tr ' ' '\n' | grep -v '^$' | sort; }
keep="10.7.0.0/24 fddd:2c4:2c4:2c4::/64"

trace "connect --exclude $direct_addr: AllowedIPs is the exact complement"
vc sam connect "$entry" --exclude "$direct_addr" --json >"$tmp/exclude.json" || fail "connect --exclude failed"
want=$(expected "0.0.0.0/0 ::/0" "$keep" "$direct_addr/32" "$entry_addr/32" "$FLEET_CTL_ADDR/32" | sort)
[[ $(allowed) == "$want" ]] || fail "AllowedIPs: $(allowed | tr '\n' ' ') wanted $(tr '\n' ' ' <<<"$want")"
[[ $(wc -l <<<"$want") -gt 30 ]] || fail "the complement is suspiciously short: $want"

trace "the excluded server is reached directly, another one through the tunnel"
cli sam ping -c 2 -W 3 "$direct_addr" >/dev/null || fail "no ping to the excluded $direct_addr"
cli sam ping -c 2 -W 3 "$tunneled_addr" >/dev/null || fail "no ping to $tunneled_addr"
cli sam ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "no ping to 10.7.0.1 through the tunnel"
[[ $(count us-west-1 direct) == 2 && $(count us-west-1 tunneled) == 0 ]] ||
	fail "$direct_addr: direct $(count us-west-1 direct), tunneled $(count us-west-1 tunneled)"
[[ $(count eu-west-1 direct) == 0 && $(count eu-west-1 tunneled) == 2 ]] ||
	fail "$tunneled_addr: direct $(count eu-west-1 direct), tunneled $(count eu-west-1 tunneled)"
vc sam servers --json >"$tmp/servers.json" || fail "the API is not reachable beside the tunnel"

trace "connect --include $tunneled_addr: only it and the tunnel subnets go through the tunnel"
vc sam connect "$entry" --include "$tunneled_addr" --json >"$tmp/include.json" || fail "connect --include failed"
[[ $(allowed) == "$(printf '%s\n' 10.7.0.0/24 "$tunneled_addr/32" fddd:2c4:2c4:2c4::/64 | sort)" ]] ||
	fail "AllowedIPs with --include: $(allowed | tr '\n' ' ')"
cli sam ping -c 1 -W 3 "$direct_addr" >/dev/null || fail "no ping to $direct_addr"
cli sam ping -c 1 -W 3 "$tunneled_addr" >/dev/null || fail "no ping to $tunneled_addr"
[[ $(count us-west-1 direct) == 3 && $(count eu-west-1 tunneled) == 3 ]] ||
	fail "with --include: $direct_addr direct $(count us-west-1 direct), $tunneled_addr tunneled $(count eu-west-1 tunneled)"

trace "connect --allow-lan: private ranges stay local, except the tunnel's own subnet"
vc sam connect "$entry" --allow-lan --json >"$tmp/lan.json" || fail "connect --allow-lan failed"
want=$(expected "0.0.0.0/0 ::/0" "$keep" 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 169.254.0.0/16 \
	224.0.0.0/4 255.255.255.255/32 fc00::/7 fe80::/10 ff00::/8 "$entry_addr/32" "$FLEET_CTL_ADDR/32" | sort)
[[ $(allowed) == "$want" ]] || fail "AllowedIPs with --allow-lan: $(allowed | tr '\n' ' ')"
cli sam ping -c 1 -W 3 10.7.0.1 >/dev/null || fail "no ping to 10.7.0.1 with --allow-lan"

trace "bad split options are refused before anything happens"
rc=0
vc sam connect "$entry" --exclude 10.0.0.1/8 2>"$tmp/bad.err" || rc=$?
[[ $rc == 1 ]] || fail "--exclude 10.0.0.1/8 exited $rc"
grep -q "not an IP address or a network CIDR" "$tmp/bad.err" || fail "no clear message: $(cat "$tmp/bad.err")"

vc sam disconnect >/dev/null || fail "disconnect failed"
pass
