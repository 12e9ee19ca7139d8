#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The OS branches that cannot really run here are checked through the dry run
# (PV_BOOTSTRAP_DRY_RUN=1, PV_OS_RELEASE=fixture): per OS the planned commands
# use the right package manager (apt vs dnf) and firewall (ufw vs firewalld vs
# nftables), and the dry run changes nothing: it runs in a mount namespace
# where everything but a scratch /tmp is read-only.  The script comes on
# stdin, as over SSH, because the checkout itself may live under /tmp.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require unshare jq

scratch=$(e2e_tmp)/scratch
mkdir -p "$scratch"

# plan OS_ID VERSION [VAR=VALUE…]: dry run for that os-release; sets $out
# (stdout, the summary) and $plan (stderr, the planned commands).
plan() {
	local os=$1 version=$2
	shift 2
	printf 'NAME="%s"\nID=%s\nVERSION_ID="%s"\n' "$os" "$os" "$version" >"$scratch/os-release"
	# shellcheck disable=SC2016 # expanded by the sandbox's shell
	out=$(unshare -m --propagation private sh -c '
		mount --bind "$1" /tmp && mount -o remount,bind,ro / && shift &&
		exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin PV_BOOTSTRAP_DRY_RUN=1 \
			PV_OS_RELEASE=/tmp/os-release "$@"' sandbox "$scratch" "$@" sh -s \
		<"$BOOTSTRAP" 2>"$E2E_TMP/plan") || fail "$os $version: dry run failed: $(cat "$E2E_TMP/plan")"
	plan=$(cat "$E2E_TMP/plan")
	if [[ $(wc -l <<<"$out") != 1 ]] || ! jq -e '.dry_run == true' <<<"$out" >/dev/null; then
		fail "$os $version: stdout is not one summary line: $out"
	fi
	! grep -q -v -e '^bootstrap: ' -e '^+ ' <<<"$plan" || fail "$os $version: the dry run ran something: $plan"
	[[ $(ls "$scratch") == "os-release" ]] || fail "$os $version: left files behind: $(ls "$scratch")"
	trace "$os $version $*: $(jq -c '{os, firewall, changed}' <<<"$out")"
}
has() { grep -qxF -- "+ $1" <<<"$plan" || fail "plan lacks '+ $1':"$'\n'"$plan"; }
lacks() { ! grep -qF -- "$1" <<<"$plan" || fail "plan should not mention '$1':"$'\n'"$plan"; }
summary_is() { jq -e "$1" <<<"$out" >/dev/null || fail "summary: $out (wanted $1)"; }

APT="env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends"
common() {
	has "wg genkey"
	has "write /etc/wireguard/wg0.conf (mode 600)"
	has "write /etc/sysctl.d/99-privatevpn.conf (mode 644)"
	has "sysctl -q -w net.ipv4.ip_forward=1"
	has "systemctl enable wg-quick@wg0.service"
	has "systemctl start wg-quick@wg0.service"
	lacks "wg-quick up"
}
ufw_branch() {
	has "ufw allow 22/tcp"
	has "ufw allow 51820/udp"
	has "ufw reject 51820/tcp"
	has "ufw route allow in on wg0"
	lacks "firewall-cmd"
	summary_is '.firewall == "ufw"'
}
firewalld_branch() {
	has "firewall-cmd --permanent --add-port=22/tcp"
	has "firewall-cmd --permanent --add-port=51820/udp"
	has 'firewall-cmd --permanent --add-rich-rule=rule port port="51820" protocol="tcp" reject type="tcp-reset"'
	has "firewall-cmd --permanent --zone=trusted --add-source=10.7.0.0/24"
	has "firewall-cmd --permanent --add-masquerade"
	has "firewall-cmd --reload"
	lacks "ufw"
	lacks "nft -f"
	summary_is '.firewall == "firewalld"'
}
nft_branch() {
	has "write /etc/privatevpn/firewall.nft (mode 600)"
	has "nft -f /etc/privatevpn/firewall.nft"
	has "systemctl enable privatevpn-firewall.service"
	lacks "ufw"
	lacks "firewall-cmd"
	summary_is '.firewall == "nftables"'
}
apt_only() { lacks "dnf"; }
dnf_only() { lacks "apt-get"; }

plan ubuntu 22.04
common
apt_only
has "$APT wireguard-tools nftables"
ufw_branch
summary_is '.os == "ubuntu 22.04" and (.changed | index("packages") and index("firewall") and index("boot"))'

plan ubuntu 24.04 PV_DRY_RUN_FIREWALL=nftables PV_SSH_PORT=2222
common
apt_only
nft_branch

plan ubuntu 24.04 PV_SSH_PORT=2222
has "ufw allow 22/tcp"
has "ufw allow 2222/tcp"

plan debian 11
common
apt_only
has "$APT wireguard-tools nftables"
nft_branch
summary_is '.os == "debian 11"'

plan debian 12 PV_DRY_RUN_FIREWALL=ufw
apt_only
ufw_branch

plan rocky 9.3
common
dnf_only
has "dnf install -y -q wireguard-tools"
firewalld_branch
summary_is '.os == "rocky 9.3"'

plan almalinux 9.4
common
dnf_only
has "dnf install -y -q wireguard-tools"
firewalld_branch

plan fedora 40
common
dnf_only
firewalld_branch

plan fedora 40 PV_DRY_RUN_FIREWALL=nftables
dnf_only
has "dnf install -y -q wireguard-tools nftables"
nft_branch

# Three interfaces (PV_INTERFACES, as --interfaces 3): every step for wg0, wg1, wg2, and each
# firewall opens every port and trusts or masquerades every subnet.
three() {
	local k
	for k in 0 1 2; do
		has "write /etc/wireguard/wg$k.conf (mode 600)"
		has "systemctl enable wg-quick@wg$k.service"
		has "systemctl start wg-quick@wg$k.service"
	done
	lacks "wg3"
	summary_is '[.interfaces[] | [.interface, .listen_port, .address4, .address6]] ==
		[["wg0", 51820, "10.7.0.1/24", "fddd:2c4:2c4:2c4::1/64"],
		 ["wg1", 51821, "10.8.0.1/24", "fddd:2c4:2c4:2c5::1/64"],
		 ["wg2", 51822, "10.9.0.1/24", "fddd:2c4:2c4:2c6::1/64"]]'
}
plan ubuntu 24.04 PV_INTERFACES=3
three
for port in 51820 51821 51822; do
	has "ufw allow $port/udp"
	has "ufw reject $port/tcp"
done
has "ufw route allow in on wg2"
plan rocky 9.3 PV_INTERFACES=3
three
for k in 0 1 2; do
	has "firewall-cmd --permanent --add-port=5182$k/udp"
	has "firewall-cmd --permanent --zone=trusted --add-source=10.$((7 + k)).0.0/24"
	has "firewall-cmd --permanent --zone=trusted --add-source=fddd:2c4:2c4:2c$((4 + k))::/64"
done
plan debian 12 PV_DRY_RUN_FIREWALL=nftables PV_INTERFACES=3
three

plan debian 12 PV_ENDPOINT=vpn.example.com
summary_is '.endpoint == "vpn.example.com"'
plan debian 12 PV_ENDPOINT=2001:db8::7
summary_is '.endpoint == "[2001:db8::7]"'

# Refusals hold in a dry run too.  refused OS_RELEASE_TEXT MESSAGE [VAR=VALUE…]
refused() {
	local err
	printf '%b' "$1" >"$scratch/os-release"
	if err=$(env -i PATH="$PATH" PV_BOOTSTRAP_DRY_RUN=1 PV_OS_RELEASE="$scratch/os-release" "${@:3}" \
		sh "$BOOTSTRAP" 2>&1 >/dev/null); then
		fail "dry run accepted $1 ${*:3}"
	fi
	[[ $err == *"$2"* ]] || fail "expected '$2', got: $err"
	rm -f "$scratch/os-release"
}
refused 'ID=centos\nVERSION_ID="7"\n' "unsupported operating system 'centos 7'"
refused 'ID=debian\nVERSION_ID="12"\n' "PV_DRY_RUN_FIREWALL must be ufw, firewalld or nftables" PV_DRY_RUN_FIREWALL=pf
refused 'ID=debian\nVERSION_ID="12"\n' "endpoint 'x;reboot' is not an address or host name" 'PV_ENDPOINT=x;reboot'
refused 'ID=debian\nVERSION_ID="12"\n' "cannot read /nonexistent" PV_OS_RELEASE=/nonexistent
refused 'ID=debian\nVERSION_ID="12"\n' "PV_SSH_PORT must be a TCP port (1-65535), got '70000'" PV_SSH_PORT=70000
refused 'ID=debian\nVERSION_ID="12"\n' "--interfaces must be 1-16, got '17'" PV_INTERFACES=17
refused 'ID=debian\nVERSION_ID="12"\n' "--interfaces must be a number 1-16, got 'x'" PV_INTERFACES=x

pass
