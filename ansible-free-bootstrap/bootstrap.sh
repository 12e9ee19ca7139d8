#!/bin/sh
# SPDX-License-Identifier: MIT
# ansible-free-bootstrap/bootstrap.sh: turns a fresh Ubuntu 22.04+, Debian 11+,
# Rocky/AlmaLinux 9+ or Fedora server into a privatevpn fleet member, over a
# plain SSH session and without Ansible:
#   ssh root@HOST sh -s [-- --interfaces N] < bootstrap.sh > HOST.json
# It installs WireGuard, writes /etc/wireguard/wg0.conf in wireguard-install.sh's
# own layout (keeping an existing key and peers), enables forwarding and BBR,
# sets up the firewall (ufw, firewalld or an nftables table of its own), brings
# wg0 up and enables it at boot.  With --interfaces N (1..16) it does the same
# for wg1 .. wgN-1: wgK.conf on 10.(7+K).0.0/24 and fddd:2c4:2c4:(2c4+K)::/64,
# port wg0's + K, wg0's key (one server key: the clients of every interface
# dial the same public key).  wg0 is never renumbered.  It is idempotent: a
# second run changes nothing.  Every change is logged on stderr as "+ command"; stdout carries
# only the final JSON summary.  Documentation: docs/bootstrap.md.
#
# Environment:
#   PV_ENDPOINT=ADDR          public address clients dial (default: the one
#                             wg0.conf already names, else the address this
#                             SSH session reached)
#   PV_SSH_PORT=PORT          an extra TCP port to keep open for SSH
#   PV_INTERFACES=N           WireGuard interfaces, as --interfaces N (default 1)
#   PV_BOOTSTRAP_DRY_RUN=1    print the planned commands for a fresh server of
#                             this OS and change nothing
#   PV_DRY_RUN_FIREWALL=ufw|firewalld|nftables   firewall assumed by a dry run
#   PV_OS_RELEASE=PATH        read PATH instead of /etc/os-release
set -eu

WG_DIR=/etc/wireguard
DEFAULT_PORT=51820
N_IFACES=${PV_INTERFACES:-1}
SYSCTL_FILE=/etc/sysctl.d/99-privatevpn.conf
PV_ETC=/etc/privatevpn
NFT_FILE=$PV_ETC/firewall.nft
NFT_APPLIED=$PV_ETC/firewall.applied
NFT_UNIT=/etc/systemd/system/privatevpn-firewall.service

DRY=${PV_BOOTSTRAP_DRY_RUN:-0}
OS_RELEASE=${PV_OS_RELEASE:-/etc/os-release}
CHANGED=""
TMP=""
PUT_TMP=""

log() { printf 'bootstrap: %s\n' "$*" >&2; }
die() {
	printf 'bootstrap: error: %s\n' "$*" >&2
	exit 1
}

# Runs one command that changes the system, logging it first.  stdin is
# /dev/null: this script itself may be arriving on stdin (sh -s).  The lock
# (fd 9) is not passed on: daemons such as wireguard-go would keep it held.
cmd() {
	printf '+ %s\n' "$*" >&2
	[ "$DRY" = 1 ] && return 0
	"$@" </dev/null >&2 9>&- || die "command failed (exit $?): $*"
}

changed() {
	case " $CHANGED " in
	*" $1 "*) ;;
	*) CHANGED="${CHANGED:+$CHANGED }$1" ;;
	esac
}

have() { [ "$DRY" != 1 ] && command -v "$1" >/dev/null 2>&1; }

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() { rm -rf "${TMP:-}" "${PUT_TMP:-}"; }

# cksum is POSIX and in coreutils; cmp (diffutils) is missing on minimal Rocky.
same_file() { [ "$(cksum <"$1")" = "$(cksum <"$2" 2>/dev/null)" ]; }

# Installs file $3 as $1 with mode $2 atomically (temp file in the same
# directory, sync, rename) when the content or mode differs.  Returns 0 when
# it changed the file, 1 when the file was already right; dies on failure.
# PUT_CONTENT tells whether the content changed (1) or at most the mode (0).
put_file() {
	path=$1 mode=$2 src=$3
	PUT_CONTENT=1
	if [ "$DRY" = 1 ]; then
		printf '+ write %s (mode %s)\n' "$path" "$mode" >&2
		return 0
	fi
	if [ -f "$path" ] && same_file "$src" "$path"; then
		PUT_CONTENT=0
		[ "$(stat -c %a "$path")" = "$mode" ] && return 1
		cmd chmod "$mode" "$path"
		return 0
	fi
	dir=${path%/*}
	[ -d "$dir" ] || cmd mkdir -p -m 755 "$dir"
	printf '+ write %s (mode %s)\n' "$path" "$mode" >&2
	PUT_TMP=$(mktemp "$dir/.${path##*/}.XXXXXX" 2>/dev/null) ||
		die "cannot write $path: cannot create a file in $dir (read-only or full?)"
	if ! { chmod "$mode" "$PUT_TMP" && cat "$src" >"$PUT_TMP" && sync "$PUT_TMP" 2>/dev/null; } ||
		! mv -f "$PUT_TMP" "$path"; then
		die "cannot write $path"
	fi
	PUT_TMP=""
	return 0
}

# --- operating system -----------------------------------------------------

os_field() {
	sed -n "s/^$1=//p" "$OS_RELEASE" | head -n 1 | tr -d "\"'" | tr -cd 'A-Za-z0-9._-'
}

# Sets OS_ID, OS_VERSION, PKG (apt|dnf) or refuses the OS.
detect_os() {
	[ -r "$OS_RELEASE" ] || die "cannot read $OS_RELEASE: unknown operating system"
	OS_ID=$(os_field ID)
	OS_VERSION=$(os_field VERSION_ID)
	major=${OS_VERSION%%.*}
	case $major in '' | *[!0-9]*) major=0 ;; esac
	case $OS_ID in
	ubuntu) min=22 PKG=apt ;;
	debian) min=11 PKG=apt ;;
	rocky | almalinux) min=9 PKG=dnf ;;
	fedora) min=36 PKG=dnf ;;
	*) min="" ;;
	esac
	if [ -z "$min" ] || [ "$major" -lt "$min" ]; then
		die "unsupported operating system '${OS_ID:-?} ${OS_VERSION:-?}' (from $OS_RELEASE); supported: Ubuntu 22.04+, Debian 11+, Rocky Linux 9+, AlmaLinux 9+, Fedora 36+"
	fi
	log "operating system: $OS_ID $OS_VERSION"
}

pkg_install() {
	case $PKG in
	apt)
		cmd env DEBIAN_FRONTEND=noninteractive apt-get update -q
		cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
		;;
	dnf) cmd dnf install -y -q "$@" ;;
	esac
	changed packages
}

install_packages() {
	missing=""
	if ! have wg || ! have wg-quick; then missing="wireguard-tools"; fi
	if [ "$FIREWALL" != firewalld ] && ! have nft; then missing="$missing nftables"; fi
	[ -z "$missing" ] && return 0
	# shellcheck disable=SC2086 # the package list is split on purpose
	pkg_install $missing
}

# systemd is the init system when /run/systemd/system exists (sd_booted()).
has_systemd() { [ "$DRY" = 1 ] || [ -d /run/systemd/system ]; }

# --- firewall detection ---------------------------------------------------

detect_firewall() {
	if [ "$DRY" = 1 ]; then
		FIREWALL=${PV_DRY_RUN_FIREWALL:-}
		if [ -z "$FIREWALL" ]; then
			case $OS_ID in
			ubuntu) FIREWALL=ufw ;;
			debian) FIREWALL=nftables ;;
			*) FIREWALL=firewalld ;;
			esac
		fi
		case $FIREWALL in ufw | firewalld | nftables) ;; *) die "PV_DRY_RUN_FIREWALL must be ufw, firewalld or nftables" ;; esac
	elif have ufw && ufw status 2>/dev/null | grep -q '^Status: active'; then
		FIREWALL=ufw
	elif have firewall-cmd && firewall-cmd --state >/dev/null 2>&1; then
		FIREWALL=firewalld
	else
		FIREWALL=nftables
	fi
	log "firewall: $FIREWALL"
}

valid_port() {
	case $1 in '' | *[!0-9]*) return 1 ;; esac
	[ "${#1}" -le 5 ] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]
}

# The TCP ports sshd serves: this session's port, sshd's configured ports and
# PV_SSH_PORT, so the firewall never locks the operator out.
ssh_ports() {
	{
		[ -z "${SSH_CONNECTION:-}" ] || printf '%s\n' "$SSH_CONNECTION" | awk '{ print $4 }'
		[ -z "${PV_SSH_PORT:-}" ] || printf '%s\n' "$PV_SSH_PORT"
		if have sshd; then sshd -T 2>/dev/null </dev/null | awk '$1 == "port" { print $2 }'; fi
		echo 22
	} | grep -E '^[0-9]{1,5}$' | sort -n -u | tr '\n' ' ' | sed 's/ $//'
}

# --- interfaces -------------------------------------------------------------

# Selects interface K (0-based): wgK, its config file, its subnets (wg0's,
# 10.7.0.0/24 and fddd:2c4:2c4:2c4::/64, one step per interface), its port
# once setup_conf chose it, and the forms the firewall and summary print.
select_iface() {
	IFACE=wg$1
	CONF=$WG_DIR/$IFACE.conf
	NET4=10.$((7 + $1)).0.0/24
	ADDR4=10.$((7 + $1)).0.1/24
	g6=$(printf '%x' $((0x2c4 + $1)))
	NET6=fddd:2c4:2c4:$g6::/64
	ADDR6=fddd:2c4:2c4:$g6::1/64
	eval "PORT=\${PORT_$1:-}"
	# shellcheck disable=SC2034 # read through each_value's eval
	IFACE_Q="\"$IFACE\""
	# shellcheck disable=SC2034 # read through each_value's eval
	WG_UNIT="wg-quick@$IFACE.service"
	# shellcheck disable=SC2034 # read through each_value's eval
	IFACE_JSON=$(printf '{"interface":"%s","listen_port":%s,"address4":"%s","address6":"%s"}' \
		"$IFACE" "${PORT:-0}" "$ADDR4" "$ADDR6")
}

parse_args() {
	while [ $# -gt 0 ]; do
		case $1 in
		--interfaces)
			[ $# -ge 2 ] || die "--interfaces needs a number (1-16)"
			N_IFACES=$2
			shift 2
			;;
		--interfaces=*)
			N_IFACES=${1#--interfaces=}
			shift
			;;
		*) die "unknown argument '$1' (usage: sh -s [-- --interfaces N] < bootstrap.sh)" ;;
		esac
	done
	case $N_IFACES in '' | *[!0-9]*) die "--interfaces must be a number 1-16, got '$N_IFACES'" ;; esac
	if [ "${#N_IFACES}" -gt 2 ] || [ "$N_IFACES" -lt 1 ] || [ "$N_IFACES" -gt 16 ]; then
		die "--interfaces must be 1-16, got '$N_IFACES'"
	fi
}

# Runs "$@" once per interface, with K (k) = 0 .. N_IFACES-1 selected.
each_iface() {
	k=0
	while [ "$k" -lt "$N_IFACES" ]; do
		select_iface "$k"
		"$@"
		k=$((k + 1))
	done
}

# every interface's value of select_iface's variable VAR, SEP-separated: each_value SEP VAR
each_value() {
	out="" j=0
	while [ "$j" -lt "$N_IFACES" ]; do
		select_iface "$j"
		v=""
		eval "v=\$$2"
		out="${out:+$out$1}$v"
		j=$((j + 1))
	done
	printf '%s' "$out"
}

# --- wgK.conf -------------------------------------------------------------

conf_value() {
	[ -f "$CONF" ] || return 0
	sed -n "s/^$1[[:space:]]*=[[:space:]]*//p" "$CONF" | head -n 1 | tr -d '[:space:]'
}

valid_key() {
	case $1 in
	*[!A-Za-z0-9+/=]*) return 1 ;;
	???????????????????????????????????????????=) return 0 ;;
	*) return 1 ;;
	esac
}

choose_endpoint() {
	ep=${PV_ENDPOINT:-}
	[ -n "$ep" ] || { [ -f "$CONF" ] && ep=$(sed -n 's/^# ENDPOINT //p' "$CONF" | head -n 1); }
	[ -n "$ep" ] || ep=$(printf '%s\n' "${SSH_CONNECTION:-}" | awk '{ print $3 }')
	[ -n "$ep" ] || { [ "$DRY" = 1 ] && ep=PUBLIC-ADDRESS; }
	# wireguard-install.sh writes "Endpoint = ENDPOINT:PORT": an IPv6 address
	# needs its brackets in the comment already.
	case $ep in \[*) ;; *:*) ep="[$ep]" ;; esac
	case $ep in
	'') die "cannot tell the public endpoint (no '# ENDPOINT' in $CONF, not run over SSH); set PV_ENDPOINT" ;;
	*[!0-9A-Za-z.:\[\]-]*) die "endpoint '$ep' is not an address or host name" ;;
	esac
	ENDPOINT=$ep
}

# Produces the desired wg0.conf on stdout: wireguard-install.sh's header with
# our [Interface] values, then any other [Interface] lines and everything from
# the first peer on, exactly as they were.
render_conf() {
	cat <<EOF
# Do not alter the commented lines
# They are used by wireguard-install
# ENDPOINT $ENDPOINT

[Interface]
Address = $ADDR4, $ADDR6
PrivateKey = $KEY
ListenPort = $PORT
EOF
	# Another interface's leftovers must not be taken for this file's lines.
	rm -f "$TMP/extra" "$TMP/rest"
	if [ -f "$CONF" ]; then
		awk -v extra="$TMP/extra" -v rest="$TMP/rest" '
			/^# BEGIN_PEER / || /^\[Peer\]/ { peers = 1 }
			peers { print > rest; next }
			/^\[Interface\]/ { iface = 1; next }
			iface && !/^(Address|PrivateKey|ListenPort)[ \t]*=/ && !/^[ \t]*$/ { print > extra }
		' "$CONF"
		[ ! -f "$TMP/extra" ] || cat "$TMP/extra"
		echo
		[ ! -f "$TMP/rest" ] || cat "$TMP/rest"
	else
		echo
	fi
}

# Takes the lock that agentless/remote.sh holds while it edits wgK.conf, so a
# peer the controller adds meanwhile is never lost.  Held until exit or the
# next interface's lock (fd 9 is reopened: writing a file and applying it to
# the live interface are each done under that interface's lock).
lock_conf() {
	[ "$DRY" = 1 ] && return 0
	[ -d "$WG_DIR" ] || cmd mkdir -p -m 700 "$WG_DIR"
	lock=$WG_DIR/.$IFACE.privatevpn.lock
	# A failed redirection on exec would end the shell without our message.
	(: >>"$lock") 2>/dev/null ||
		die "cannot write $CONF: cannot create its lock file $lock (read-only or full?)"
	exec 9>>"$lock"
	have flock || die "flock not found (util-linux)"
	flock -w 60 9 || die "$CONF is locked by another editor for 60 s"
}

# shellcheck disable=SC2317 # called through each_iface
setup_conf() {
	lock_conf
	KEY=""
	[ "$DRY" = 1 ] || KEY=$(conf_value PrivateKey)
	if [ "$IFACE" != wg0 ]; then
		[ -z "$KEY" ] || [ "$KEY" = "$WG0_KEY" ] ||
			log "$CONF: its key is replaced by wg0's (one server key for every interface)"
		KEY=$WG0_KEY
	elif [ -n "$KEY" ]; then
		valid_key "$KEY" || die "$CONF has a malformed PrivateKey; refusing to replace a server key"
		log "keeping the existing server key of $CONF"
	elif [ "$DRY" = 1 ]; then
		printf '+ wg genkey\n' >&2
		KEY="DRY-RUN-KEY"
	else
		have wg || die "wg not found after installing wireguard-tools"
		printf '+ wg genkey (new server key)\n' >&2
		KEY=$(umask 077 && wg genkey) || die "wg genkey failed"
	fi
	PORT=""
	[ "$DRY" = 1 ] || PORT=$(conf_value ListenPort)
	if [ -z "$PORT" ]; then
		PORT=$((${WG0_PORT:-$DEFAULT_PORT} + k))
	elif ! valid_port "$PORT"; then
		die "$CONF has a malformed ListenPort '$PORT'"
	fi
	[ "$IFACE" != wg0 ] || choose_endpoint
	render_conf >"$TMP/conf"
	eval "CONF_CHANGED_$k=0 PORT_$k=$PORT"
	if put_file "$CONF" 600 "$TMP/conf"; then
		eval "CONF_CHANGED_$k=$PUT_CONTENT"
		changed "$IFACE.conf"
	fi
	if [ "$IFACE" = wg0 ]; then
		WG0_KEY=$KEY WG0_PORT=$PORT
	fi
}

# --- sysctl ---------------------------------------------------------------

sysctl_wanted() {
	echo "net.ipv4.ip_forward = 1"
	[ ! -d /proc/sys/net/ipv6 ] || echo "net.ipv6.conf.all.forwarding = 1"
	# fq exists only where the kernel has it (not inside a network namespace).
	[ ! -e /proc/sys/net/core/default_qdisc ] || echo "net.core.default_qdisc = fq"
	if grep -qw bbr /proc/sys/net/ipv4/tcp_available_congestion_control 2>/dev/null ||
		modinfo tcp_bbr >/dev/null 2>&1; then
		echo "net.ipv4.tcp_congestion_control = bbr"
	fi
}

setup_sysctl() {
	sysctl_wanted >"$TMP/sysctl"
	{
		echo "# privatevpn: written by ansible-free-bootstrap; forwarding for wg0, BBR + fq"
		cat "$TMP/sysctl"
	} >"$TMP/sysctl.conf"
	if put_file "$SYSCTL_FILE" 644 "$TMP/sysctl.conf"; then changed sysctl; fi
	while read -r key _ value; do
		cur=$(tr -d '[:space:]' <"/proc/sys/$(echo "$key" | tr . /)" 2>/dev/null || true)
		if [ "$DRY" = 1 ] || [ "$cur" != "$value" ]; then
			cmd sysctl -q -w "$key=$value"
			changed sysctl
		fi
	done <"$TMP/sysctl"
}

# --- firewall -------------------------------------------------------------

# Our own nftables table.  TCP on the WireGuard port is answered with a reset
# on purpose: vpnctl measures latency as the connect-refused round trip.
nft_rules() {
	nat_only=$1
	cat <<EOF
#!/usr/sbin/nft -f
# privatevpn firewall, written by ansible-free-bootstrap (edits are overwritten).
table inet privatevpn
delete table inet privatevpn
table inet privatevpn {
EOF
	if [ "$nat_only" = 0 ]; then
		cat <<EOF
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
		ct state invalid drop
		icmp type echo-request accept
		meta l4proto ipv6-icmp accept
		tcp dport { $(echo "$SSH_PORTS" | sed 's/ /, /g') } accept
		udp dport $(nft_set "$(each_value ' ' PORT)") accept
		tcp dport $(nft_set "$(each_value ' ' PORT)") reject with tcp reset
		iifname $(nft_set "$(each_value ' ' IFACE_Q)") accept
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname $(nft_set "$(each_value ' ' IFACE_Q)") accept
	}
EOF
	fi
	cat <<EOF
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
$(each_iface nft_masquerade)
	}
}
EOF
}

# One value as it is, several as an nft anonymous set "{ a, b }".
nft_set() {
	case $1 in
	*" "*) printf '{ %s }' "$(echo "$1" | sed 's/ /, /g')" ;;
	*) printf '%s' "$1" ;;
	esac
}

# shellcheck disable=SC2317 # called through each_iface
nft_masquerade() {
	printf '\t\tip saddr %s ip daddr != %s masquerade\n' "$NET4" "$NET4"
	printf '\t\tip6 saddr %s ip6 daddr != %s masquerade\n' "$NET6" "$NET6"
}

nft_unit() {
	cat <<EOF
[Unit]
Description=privatevpn firewall (nftables table inet privatevpn)
After=nftables.service
Before=network-pre.target $(each_value ' ' WG_UNIT)
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=$NFT_BIN -f $NFT_FILE
ExecStop=$NFT_BIN delete table inet privatevpn

[Install]
WantedBy=multi-user.target
EOF
}

# Loads our table when the file changed or the live table drifted from what
# was loaded last time; persists it with a unit where systemd runs.
setup_nft() {
	NFT_BIN=$(command -v nft 2>/dev/null || echo /usr/sbin/nft)
	nft_rules "$1" >"$TMP/firewall.nft"
	file_changed=0
	if put_file "$NFT_FILE" 600 "$TMP/firewall.nft"; then file_changed=1; fi
	live=""
	[ "$DRY" = 1 ] || live=$(nft list table inet privatevpn 2>/dev/null || true)
	printf '%s\n' "$live" >"$TMP/live"
	if [ "$file_changed" = 1 ] || [ -z "$live" ] || ! same_file "$TMP/live" "$NFT_APPLIED"; then
		cmd nft -f "$NFT_FILE"
		if [ "$DRY" != 1 ]; then
			nft list table inet privatevpn >"$TMP/applied" || die "nft list table inet privatevpn failed"
			put_file "$NFT_APPLIED" 600 "$TMP/applied" || true
		fi
		changed firewall
	fi
	if has_systemd; then
		nft_unit >"$TMP/unit"
		if put_file "$NFT_UNIT" 644 "$TMP/unit"; then
			cmd systemctl daemon-reload
			changed firewall
		fi
		if [ "$DRY" = 1 ] || ! systemctl is-enabled --quiet privatevpn-firewall.service 2>/dev/null; then
			cmd systemctl enable privatevpn-firewall.service
			changed firewall
		fi
	fi
}

ufw_rule() {
	if [ "$DRY" = 1 ] || ! ufw show added 2>/dev/null | grep -qxF "ufw $*"; then
		cmd ufw "$@"
		changed firewall
	fi
}

# shellcheck disable=SC2317 # called through each_iface
ufw_iface() {
	ufw_rule allow "$PORT/udp"
	ufw_rule reject "$PORT/tcp"
	ufw_rule route allow in on "$IFACE"
}

setup_ufw() {
	for p in $SSH_PORTS; do ufw_rule allow "$p/tcp"; done
	each_iface ufw_iface
	# ufw has no command for NAT: masquerade with a nat-only table of ours.
	setup_nft 1
}

# firewall-cmd --permanent --query-X / --add-X pairs, applied by one reload.
firewalld_ensure() {
	what=$1
	shift
	if [ "$DRY" = 1 ] || ! firewall-cmd --permanent "$@" "--query-$what" >/dev/null 2>&1; then
		cmd firewall-cmd --permanent "$@" "--add-$what"
		FW_RELOAD=1
	fi
}

# shellcheck disable=SC2317 # called through each_iface
firewalld_iface() {
	firewalld_ensure "port=$PORT/udp"
	firewalld_ensure "rich-rule=rule port port=\"$PORT\" protocol=\"tcp\" reject type=\"tcp-reset\""
	firewalld_ensure "source=$NET4" --zone=trusted
	firewalld_ensure "source=$NET6" --zone=trusted
}

setup_firewalld() {
	FW_RELOAD=0
	for p in $SSH_PORTS; do firewalld_ensure "port=$p/tcp"; done
	each_iface firewalld_iface
	firewalld_ensure masquerade
	if [ "$FW_RELOAD" = 1 ]; then
		cmd firewall-cmd --reload
		changed firewall
	fi
}

setup_firewall() {
	SSH_PORTS=$(ssh_ports)
	log "keeping SSH open on TCP $SSH_PORTS"
	case $FIREWALL in
	ufw) setup_ufw ;;
	firewalld) setup_firewalld ;;
	nftables) setup_nft 0 ;;
	esac
}

# --- interface ------------------------------------------------------------

iface_up() { [ "$DRY" != 1 ] && ip link show dev "$IFACE" >/dev/null 2>&1; }

# Applies a changed wgK.conf to the running interface without a restart.
sync_iface() {
	printf '+ wg syncconf %s <(wg-quick strip %s)\n' "$IFACE" "$IFACE" >&2
	[ "$DRY" = 1 ] && return 0
	(umask 077 && wg-quick strip "$IFACE" >"$TMP/stripped") </dev/null 9>&- ||
		die "wg-quick strip $IFACE failed"
	wg syncconf "$IFACE" "$TMP/stripped" </dev/null 9>&- || die "wg syncconf $IFACE failed"
	for a in $ADDR4 $ADDR6; do
		ip -o addr show dev "$IFACE" | grep -qF " $a " || cmd ip addr add "$a" dev "$IFACE"
	done
	changed "$IFACE"
}

# shellcheck disable=SC2317 # called through each_iface
setup_iface() {
	if has_systemd; then
		if [ "$DRY" = 1 ] || ! systemctl is-enabled --quiet "wg-quick@$IFACE.service" 2>/dev/null; then
			cmd systemctl enable "wg-quick@$IFACE.service"
			changed boot
		fi
	fi
	conf_changed=0
	eval "conf_changed=\$CONF_CHANGED_$k"
	if iface_up; then
		[ "$conf_changed" = 0 ] || { lock_conf && sync_iface; }
	elif has_systemd; then
		cmd systemctl start "wg-quick@$IFACE.service"
		changed "$IFACE"
	else
		cmd wg-quick up "$IFACE"
		changed "$IFACE"
	fi
}

# --- summary --------------------------------------------------------------

public_key() {
	if [ "$DRY" = 1 ]; then
		echo ""
	else
		printf '%s\n' "$KEY" | wg pubkey || die "wg pubkey failed"
	fi
}

# Every string below is one this script checked or chose (base64 key,
# [A-Za-z0-9._-] OS fields, validated endpoint), so printf is safe JSON.
# The top-level fields are wg0's, as before several interfaces; "interfaces"
# lists every one, wg0 first.
summary() {
	KEY=$WG0_KEY
	pub=$(public_key)
	list=""
	for c in $CHANGED; do list="${list:+$list,}\"$c\""; done
	ifaces=$(each_value , IFACE_JSON)
	select_iface 0
	printf '{"server_public_key":"%s","listen_port":%s,"address4":"%s","address6":"%s",' \
		"$pub" "$PORT" "$ADDR4" "$ADDR6"
	printf '"endpoint":"%s","interface":"%s","os":"%s %s","firewall":"%s",' \
		"$ENDPOINT" "$IFACE" "$OS_ID" "$OS_VERSION" "$FIREWALL"
	printf '"interfaces":[%s],' "$ifaces"
	printf '"dry_run":%s,"changed":[%s]}\n' "$([ "$DRY" = 1 ] && echo true || echo false)" "$list"
}

main() {
	[ "$DRY" = 1 ] || [ "$(id -u)" = 0 ] || die "must run as root"
	umask 022
	TMP=$(mktemp -d 2>/dev/null) || die "cannot create a temporary directory"
	trap cleanup EXIT
	trap 'exit 1' INT TERM HUP
	if [ -n "${PV_SSH_PORT:-}" ] && ! valid_port "$PV_SSH_PORT"; then
		die "PV_SSH_PORT must be a TCP port (1-65535), got '$PV_SSH_PORT'"
	fi
	parse_args "$@"
	detect_os
	# wg-quick falls back to wireguard-go without the kernel module.
	[ -e /sys/module/wireguard ] || export WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1
	detect_firewall
	install_packages
	each_iface setup_conf
	setup_sysctl
	setup_firewall
	each_iface setup_iface
	summary
	log "done; changed: ${CHANGED:-nothing}"
}

main "$@"
exit 0
