#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# e2e 60: the Debian packages, installed and deployed the README's way.
#
#   cpack ──► privatevpn-controller_*.deb  privatevpn-client_*.deb
#               │ dpkg-deb -c: exactly the expected files and modes
#               │ lintian: no error, only the documented warnings
#               │ apt-get -s: every dependency resolves on this machine
#               ▼
#   dpkg --root=R -i (maintainer scripts chrootless: the postinst makes the
#               │     user privatevpn and /etc/privatevpn 0700 inside R)
#               │ R/usr/bin/vpn-controller --help; --man == the shipped page
#               │ as privatevpn: vpn-controller --init R/etc/privatevpn
#               │   (every file 0600, a second run refuses and changes nothing)
#               │ unit: systemd-analyze verify + security (R/usr overlaid on
#               │   /usr in a private mount namespace), systemctl --root=R enable
#               ▼
#   a 1-server fleet: R's servers.json and known_hosts filled, the new
#   id_ed25519.pub authorised; the installed controller, as privatevpn, in the
#   controller namespace: HTTPS verified against the --init certificate, an
#   admin key, a provision that lands on the server, a clean SIGTERM.
#
# No systemd runs here: `systemctl enable` is exercised offline (--root) and
# the controller is started with the unit's ExecStart by hand.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ctl-lib.sh"
require cpack dpkg dpkg-deb lintian apt-get systemd-analyze systemctl setpriv unshare curl jq man \
	gzip sqlite3

T=$(e2e_tmp)
chmod 711 "$T" # the service user must reach R below it
PKGS=$T/pkgs
R=$T/root
PV_ETC=$R/etc/privatevpn
DEB_CTL=$PKGS/privatevpn-controller_0.1.0-1_amd64.deb
DEB_CLI=$PKGS/privatevpn-client_0.1.0-1_amd64.deb

# ---- build ------------------------------------------------------------------
pp cpack --config "$PV_BUILD/CPackConfig.cmake" -B "$PKGS" >"$T/cpack.log" 2>&1 ||
	fail "cpack: $(tail -20 "$T/cpack.log")"
[[ -f $DEB_CTL && -f $DEB_CLI ]] || fail "cpack made: $(ls "$PKGS")"

# "mode owner path" of every entry of a package.
contents() { dpkg-deb -c "$1" | awk '{ print $1, $2, $6 }'; }

# diff_or_fail WHAT EXPECTED ACTUAL
diff_or_fail() {
	diff -u <(echo "$2") <(echo "$3") >"$T/diff" || fail "$1 differs:
$(cat "$T/diff")"
}

DOC=./usr/share/doc/privatevpn-controller
diff_or_fail "privatevpn-controller contents" "$(
	cat <<EOF
drwxr-xr-x root/root ./usr/
drwxr-xr-x root/root ./usr/bin/
-rwxr-xr-x root/root ./usr/bin/agentless-cli
-rwxr-xr-x root/root ./usr/bin/vpn-controller
-rwxr-xr-x root/root ./usr/bin/vpnadm
drwxr-xr-x root/root ./usr/lib/
drwxr-xr-x root/root ./usr/lib/systemd/
drwxr-xr-x root/root ./usr/lib/systemd/system/
-rw-r--r-- root/root ./usr/lib/systemd/system/vpn-controller.service
drwxr-xr-x root/root ./usr/lib/sysusers.d/
-rw-r--r-- root/root ./usr/lib/sysusers.d/privatevpn.conf
drwxr-xr-x root/root ./usr/lib/tmpfiles.d/
-rw-r--r-- root/root ./usr/lib/tmpfiles.d/privatevpn.conf
drwxr-xr-x root/root ./usr/share/
drwxr-xr-x root/root ./usr/share/bash-completion/
drwxr-xr-x root/root ./usr/share/bash-completion/completions/
-rw-r--r-- root/root ./usr/share/bash-completion/completions/vpnadm
drwxr-xr-x root/root ./usr/share/doc/
drwxr-xr-x root/root $DOC/
-rw-r--r-- root/root $DOC/README.md
-rw-r--r-- root/root $DOC/agentless.md
-rw-r--r-- root/root $DOC/api.md
-rw-r--r-- root/root $DOC/bootstrap.md
-rw-r--r-- root/root $DOC/changelog.Debian.gz
-rw-r--r-- root/root $DOC/controller.md
-rw-r--r-- root/root $DOC/copyright
drwxr-xr-x root/root $DOC/examples/
-rw-r--r-- root/root $DOC/examples/controller.json
-rw-r--r-- root/root $DOC/examples/servers.json
-rw-r--r-- root/root $DOC/packaging.md
-rw-r--r-- root/root $DOC/reconcile.md
-rw-r--r-- root/root $DOC/servers-json.md
-rw-r--r-- root/root $DOC/vpnadm.md
drwxr-xr-x root/root ./usr/share/man/
drwxr-xr-x root/root ./usr/share/man/man1/
-rw-r--r-- root/root ./usr/share/man/man1/agentless-cli.1.gz
-rw-r--r-- root/root ./usr/share/man/man1/vpn-controller.1.gz
-rw-r--r-- root/root ./usr/share/man/man1/vpnadm.1.gz
drwxr-xr-x root/root ./usr/share/privatevpn/
-rwxr-xr-x root/root ./usr/share/privatevpn/bootstrap.sh
EOF
)" "$(contents "$DEB_CTL")"
diff_or_fail "privatevpn-client contents" "$(
	cat <<EOF
drwxr-xr-x root/root ./usr/
drwxr-xr-x root/root ./usr/bin/
-rwxr-xr-x root/root ./usr/bin/vpnctl
drwxr-xr-x root/root ./usr/lib/
drwxr-xr-x root/root ./usr/lib/systemd/
drwxr-xr-x root/root ./usr/lib/systemd/system/
-rw-r--r-- root/root ./usr/lib/systemd/system/vpnctl-watch.service
drwxr-xr-x root/root ./usr/share/
drwxr-xr-x root/root ./usr/share/bash-completion/
drwxr-xr-x root/root ./usr/share/bash-completion/completions/
-rw-r--r-- root/root ./usr/share/bash-completion/completions/vpnctl
drwxr-xr-x root/root ./usr/share/doc/
drwxr-xr-x root/root ./usr/share/doc/privatevpn-client/
-rw-r--r-- root/root ./usr/share/doc/privatevpn-client/README.md
-rw-r--r-- root/root ./usr/share/doc/privatevpn-client/changelog.Debian.gz
-rw-r--r-- root/root ./usr/share/doc/privatevpn-client/copyright
-rw-r--r-- root/root ./usr/share/doc/privatevpn-client/vpnctl.md
drwxr-xr-x root/root ./usr/share/man/
drwxr-xr-x root/root ./usr/share/man/man1/
-rw-r--r-- root/root ./usr/share/man/man1/vpnctl.1.gz
EOF
)" "$(contents "$DEB_CLI")"
trace "both packages hold exactly the expected files and modes"

grep -q 'libssh2-1 (>=' <<<"$(dpkg-deb -f "$DEB_CTL" Depends)" || fail "controller Depends lack the shared libraries"
grep -q 'libcurl4 (>=' <<<"$(dpkg-deb -f "$DEB_CLI" Depends)" || fail "client Depends lack the shared libraries"
# QR codes of exported configs (vpnctl export, and vpnadm in the controller package).
for deb in "$DEB_CTL" "$DEB_CLI"; do
	grep -q 'libqrencode4 (>=' <<<"$(dpkg-deb -f "$deb" Depends)" || fail "$deb: Depends lack libqrencode4"
done
# Every dependency must already be installable here: apt would add only ours.
apt-get -s -o Debug::NoLocking=1 install "$DEB_CTL" "$DEB_CLI" >"$T/apt.log" 2>&1 ||
	fail "apt-get -s: $(tail -5 "$T/apt.log")"
diff_or_fail "packages apt would install" "$(printf '%s\n' privatevpn-client privatevpn-controller)" \
	"$(awk '$1 == "Inst" { print $2 }' "$T/apt.log" | sort)"

# lintian: errors fail; warnings must be the ones docs/packaging.md explains.
lintian --fail-on error "$DEB_CTL" "$DEB_CLI" >"$T/lintian.log" 2>&1 ||
	fail "lintian: $(grep '^E:' "$T/lintian.log")"
unexpected=$(grep '^W:' "$T/lintian.log" | grep -v ': initial-upload-closes-no-bugs ' || true)
[[ -z $unexpected ]] || fail "lintian warnings not in docs/packaging.md: $unexpected"
trace "lintian: no errors, only documented warnings"

# cmake --install honours DESTDIR and the prefix, and the unit follows the prefix.
DESTDIR=$T/destdir pp cmake --install "$PV_BUILD" --prefix /opt/pv >"$T/install.log" 2>&1 ||
	fail "cmake --install: $(tail -5 "$T/install.log")"
[[ -x $T/destdir/opt/pv/bin/vpnctl && -f $T/destdir/opt/pv/share/man/man1/vpn-controller.1.gz ]] ||
	fail "cmake --install: no /opt/pv/bin/vpnctl or man page under DESTDIR"
grep -qx 'ExecStart=/opt/pv/bin/vpn-controller -c /etc/privatevpn/controller.json' \
	"$T/destdir/opt/pv/lib/systemd/system/vpn-controller.service" || fail "unit ignores the prefix"
trace "cmake --install: DESTDIR and --prefix honoured, the unit names the prefix's binary"

# ---- README step 1: install the packages (into R) ------------------------------
mkdir -p "$R/etc" "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers"
touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
# Dependencies were checked with apt above; R holds only our two packages.
pp dpkg --root="$R" --force-script-chrootless --force-depends --log="$T/dpkg.log" \
	-i "$DEB_CTL" "$DEB_CLI" >"$T/dpkg.out" 2>&1 || fail "dpkg -i: $(tail -20 "$T/dpkg.out")"
[[ $(dpkg --root="$R" -l | awk '$1 == "ii" { print $2 }' | sort | tr '\n' ' ') == \
	"privatevpn-client privatevpn-controller " ]] || fail "dpkg: not both installed"
PV_UID=$(awk -F: '$1 == "privatevpn" { print $3 }' "$R/etc/passwd")
PV_GID=$(awk -F: '$1 == "privatevpn" { print $4 }' "$R/etc/passwd")
[[ -n $PV_UID && $PV_UID != 0 ]] || fail "postinst made no system user privatevpn"
[[ $(stat -c '%a %u' "$PV_ETC") == "700 $PV_UID" ]] ||
	fail "/etc/privatevpn is $(stat -c '%a %u' "$PV_ETC"), want 700 owned by privatevpn"
trace "installed into R; postinst made user privatevpn ($PV_UID) and /etc/privatevpn 0700"

CTL_BIN=$R/usr/bin/vpn-controller
"$CTL_BIN" --help 2>"$T/help" || fail "installed vpn-controller --help failed"
grep -q -- '--db-path' "$T/help" || fail "--help lists no config flags"
for tool in vpn-controller agentless-cli vpnadm vpnctl; do
	page=$R/usr/share/man/man1/$tool.1.gz
	cmp <(zcat "$page") <("$R/usr/bin/$tool" --man) || fail "$tool: shipped man page differs from --man"
	warn=$(man --warnings -l "$page" 2>&1 >/dev/null)
	[[ -z $warn ]] || fail "man $tool: $warn"
done
trace "installed --help works; the four man pages are the tools' --man and render cleanly"

# As the service user, with R's passwd (ssh-keygen looks its user up).
as_privatevpn() {
	unshare -m --propagation private sh -c \
		'mount --bind "$1/etc/passwd" /etc/passwd && mount --bind "$1/etc/group" /etc/group &&
		shift && exec "$@"' sh "$R" \
		setpriv --reuid="$PV_UID" --regid="$PV_GID" --clear-groups "$@"
}

# ---- README step 2: vpn-controller --init ---------------------------------------
fleet_up 1
SRV=${SERVER_IDS%% *}
as_privatevpn "$CTL_BIN" --init "$PV_ETC" --tls-name "$FLEET_CTL_ADDR" >"$T/init.out" 2>&1 ||
	fail "--init: $(cat "$T/init.out")"
[[ $(cd "$PV_ETC" && echo *) == \
	"admin_token controller.json id_ed25519 id_ed25519.pub secrets state.key tls.key tls.pem" ]] ||
	fail "--init wrote: $(ls "$PV_ETC")"
for f in "$PV_ETC"/*; do
	[[ $(stat -c '%a %u' "$f") == "600 $PV_UID" ]] || fail "$f is $(stat -c '%a %u' "$f")"
done
[[ $(base64 -d "$PV_ETC/state.key" | wc -c) == 32 ]] || fail "state.key is not 32 bytes in base64"
jq -e --arg d "$PV_ETC" '.secrets_file == "\($d)/secrets" and .state_key_file == "\($d)/state.key"
	and .ssh_identity == "\($d)/id_ed25519" and .db_path == "/var/lib/privatevpn/state.db"' \
	"$PV_ETC/controller.json" >/dev/null || fail "controller.json: $(cat "$PV_ETC/controller.json")"
sums=$(sha256sum "$PV_ETC"/*)
if as_privatevpn "$CTL_BIN" --init "$PV_ETC" >"$T/init2.out" 2>&1; then
	fail "a second --init succeeded"
fi
grep -q 'exists: --init never overwrites' "$T/init2.out" || fail "second --init: $(cat "$T/init2.out")"
[[ $(sha256sum "$PV_ETC"/*) == "$sums" ]] || fail "the refused --init changed a file"
trace "--init as privatevpn: 8 files, all 0600; a second --init refuses and changes nothing"

# ---- the unit -----------------------------------------------------------------------
UNIT=$R/usr/lib/systemd/system/vpn-controller.service
EXEC="/usr/bin/vpn-controller -c /etc/privatevpn/controller.json"
grep -qx "ExecStart=$EXEC" "$UNIT" || fail "unit ExecStart: $(grep ExecStart "$UNIT")"
# R/usr over /usr in a private mount namespace: systemd-analyze finds the
# binary, /bin/kill and the man page where an installed package has them,
# and the host stays untouched.
in_installed() {
	unshare -m --propagation private sh -c \
		'mount -t overlay pv-pkg -o "lowerdir=$1/usr:/usr" /usr && shift && exec "$@"' sh "$R" "$@"
}
in_installed systemd-analyze verify vpn-controller.service vpnctl-watch.service >"$T/verify.log" 2>&1 ||
	fail "systemd-analyze verify: $(cat "$T/verify.log")"
[[ ! -s $T/verify.log ]] || fail "systemd-analyze verify: $(cat "$T/verify.log")"
in_installed systemd-analyze security --offline=true vpn-controller.service >"$T/security.log" 2>&1
score=$(grep 'Overall exposure level' "$T/security.log") || fail "security: $(cat "$T/security.log")"
[[ $score =~ vpn-controller.service:\ ([0-9.]+)\ (PERFECT|SAFE|OK) ]] || fail "security: $score"
trace "systemd-analyze verify clean; security ${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"

# ---- README step 3: fill servers.json (and known_hosts, the key on the servers) ---
install -o "$PV_UID" -g "$PV_GID" -m 600 "$FLEET_SERVERS_JSON" "$PV_ETC/servers.json"
install -o "$PV_UID" -g "$PV_GID" -m 600 "$FLEET_KNOWN_HOSTS" "$PV_ETC/known_hosts"
srv "$SRV" sh -c 'cat >>/run/pvfleet/ssh/authorized_keys' <"$PV_ETC/id_ed25519.pub"

# ---- README step 4: systemctl enable --now vpn-controller ------------------------
pp systemctl --root="$R" enable vpn-controller.service >"$T/enable.log" 2>&1 ||
	fail "systemctl enable: $(cat "$T/enable.log")"
[[ $(readlink "$R/etc/systemd/system/multi-user.target.wants/vpn-controller.service") == \
	/usr/lib/systemd/system/vpn-controller.service ]] || fail "enable made no multi-user.target link"
# --now by hand: the unit's ExecStart as its user, R's paths for the host's;
# StateDirectory= is made as systemd makes it.
install -d -o "$PV_UID" -g "$PV_GID" -m 700 "$R/var/lib/privatevpn"
CTL_T=$T/ctl
CTL_LOG=$T/controller.log
RESP=$CTL_T/resp
mkdir -p "$CTL_T"
cp "$PV_ETC/tls.pem" "$CTL_T/ca.pem" # vpnctl --cacert: the self-signed certificate
# shellcheck disable=SC2034 # read by ctl-lib.sh (admin_key, ctl_wait_up, ctl_stop)
CTL_ADMIN=$(cat "$PV_ETC/admin_token")
# shellcheck disable=SC2086 # EXEC is split into words as systemd does
set -- ${EXEC//\/etc\/privatevpn/$PV_ETC}
ip netns exec "$FLEET_NS_CTL" setpriv --reuid="$PV_UID" --regid="$PV_GID" --clear-groups \
	--no-new-privs "$R$1" "${@:2}" --db-path "$R/var/lib/privatevpn/state.db" >>"$CTL_LOG" 2>&1 &
# shellcheck disable=SC2034 # read by ctl-lib.sh
CTL_PID=$!
on_exit '[[ -z $CTL_PID ]] || kill -TERM "$CTL_PID" 2>/dev/null; wait'
ctl_wait_up
[[ $(stat -c %u "$R/var/lib/privatevpn/state.db") == "$PV_UID" ]] || fail "state.db not owned by privatevpn"

key=$(admin_key alice pro)
st=$(api POST /api/provision "{\"server_id\":\"$SRV\",\"device\":\"laptop\"}" -H "X-API-Key: $key")
[[ $st == 200 ]] || fail "provision: $st $(cat "$RESP")"
peer=$(jq -r .peer_name "$RESP")
srv "$SRV" grep -qx "# BEGIN_PEER $peer" /etc/wireguard/wg0.conf || fail "$peer not in wg0.conf"
[[ $(srv "$SRV" wg show wg0 peers | wc -l) == 1 ]] || fail "no live peer on $SRV"
trace "the installed controller, as privatevpn, with --init's files: HTTPS verified, $peer on $SRV"
ctl_stop
pass
