#!/bin/sh
# Installs every Debian package privatevpn needs to build, test, benchmark
# and run its demo.  Idempotent: does nothing when all are present.  Used by
# the README's commands and by CI alike.  prometheus is there for promtool
# (tests check /metrics with it); installing it starts no server here.
set -eu

PKGS="cmake make gcc pkg-config
libssh2-1-dev libevent-dev libjansson-dev libssl-dev libsqlite3-dev libcurl4-openssl-dev
libqrencode-dev libpng-dev zbar-tools
wireguard-tools wireguard-go openssh-server openssh-client iproute2 nftables iputils-ping ufw iptables
util-linux procps curl jq openssl strace sqlite3 python3 man-db
wrk hyperfine valgrind clang libclang-rt-14-dev
shellcheck cppcheck clang-format clang-tidy
dpkg-dev lintian systemd prometheus
postgresql-15 libpq-dev haproxy"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep 'ok installed' >/dev/null || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing; run as root to install them" >&2
	exit 1
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -qq --no-install-recommends $missing >/dev/null
