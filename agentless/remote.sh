#!/bin/sh
# SPDX-License-Identifier: MIT
# privatevpn agentless remote edit: the only command the controller ever runs
# on a server (besides `true`).  It is compiled into libpv_agentless as a
# constant (remote_script.c) and sent as the SSH exec command once per pooled
# session; it then reads batch after batch on stdin until the session closes
# (so it dies with the session: nothing is installed, nothing outlives it).
# Every piece of data (interface, names, keys, PSKs) arrives on stdin, never
# in a command line.  POSIX sh + awk (mawk-safe: no regex intervals) so it
# runs under the login shell of Debian, Ubuntu, Rocky and Fedora alike.
#
# stdin, any number of batches:
#         privatevpn-batch 1
#         iface IFACE
#         edit | dump
#         psk NAME                          (dump: PSKs wanted, any number)
#         add NAME PUBKEY V4/32 V6/128      (edit; followed by)
#         psk PSK
#         del NAME PUBKEY
#         end
# stdout (edit): "IDX ok FILE LIVEADD LIVEDEL" or "IDX error CODE TEXT" per op
#         (CODE: conflict = name or key used otherwise, inuse = address taken),
#         then "final IDX HANDSHAKE RX TX" per del that takes a live peer off
#         (its counters just before), "live-add ok|error", "live-del ok|error",
#         "done".
# stdout (dump): `wg show IFACE dump` with the private key and PSKs masked,
#         then "privatevpn-conf" and "peer NAME KEY ALLOWEDIPS" (tab-separated)
#         per [Peer] section of IFACE.conf ("(none)" for a missing field),
#         then "pskof NAME PSK" for each block asked for by a "psk NAME" line
#         of the request (and no other PSK, ever).
# Every batch's answer ends with "privatevpn-end STATUS": 0 when the batch
# was processed (per-op errors are in the result lines), 3 for a bad batch,
# lock or write failure (nothing was changed then; the reason precedes the
# line: stderr is merged into stdout so it stays in order).  A stream that
# cannot be framed (bad header, no "end" before EOF) ends the process with
# exit 3 after its end line.
set -u
umask 077
# A dropped SSH connection must not stop us halfway between the file and the
# live interface: finish the batch, the controller re-sends it idempotently.
trap '' HUP PIPE
die() {
	echo "privatevpn-remote: $*" >&2
	exit 3
}
# One batch, run in a subshell by the loop at the end (so die and exit end
# the batch, and the lock's descriptor closes with it).  The loop has read
# its lines: $iface_line, $mode and $ops (the rest, "end" excluded).
# The body is not indented: it is the whole former one-shot script.
run_batch() {
case $iface_line in
"iface "*) iface=${iface_line#iface } ;;
*) die "missing iface line" ;;
esac
case $iface in
"" | *[!A-Za-z0-9_=+.-]*) die "bad interface name" ;;
esac
[ ${#iface} -le 15 ] || die "bad interface name"
dir=/etc/wireguard
conf=$dir/$iface.conf

if [ "$mode" = dump ]; then
	# "psk NAME" lines ask for those blocks' PSKs (rows kept from before the
	# controller sealed PSKs); names are checked like every other token.
	wanted=" "
	[ -z "$ops" ] || while IFS= read -r line; do
		case $line in
		"psk "*) name=${line#psk } ;;
		*) die "malformed dump request" ;;
		esac
		case $name in
		"" | *[!A-Za-z0-9_-]*) die "bad peer name in dump request" ;;
		esac
		wanted="$wanted$name "
	done <<EOF
$ops
EOF
	out=$(wg show "$iface" dump) || die "wg show $iface dump failed"
	# Secrets stay on the server: field 1 of the interface line is its
	# private key, field 2 of a peer line its PSK.
	printf '%s\n' "$out" | awk -F '\t' -v OFS='\t' '
		NR == 1 { $1 = "(hidden)" }
		NR > 1 && $2 != "(none)" { $2 = "(hidden)" }
		{ print }'
	echo "privatevpn-conf"
	# Every [Peer] section of the file: block name, key, addresses (no PSK).
	[ ! -f "$conf" ] || awk -v wanted="$wanted" '
	function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
	function isname(s) { return length(s) >= 1 && length(s) <= 15 && s !~ /[^A-Za-z0-9_-]/ }
	function iskey(s) {
		return length(s) == 44 && s ~ /^[A-Za-z0-9+\/]+=$/ &&
		    substr(s, 43, 1) ~ /[AEIMQUYcgkosw048]/
	}
	# Hand-edited files may hold anything: odd names and keys read as absent.
	function emit() {
		if (inpeer)
			print "peer\t" (isname(name) ? name : "(none)") "\t" \
			    (iskey(key) ? key : "(none)") "\t" (ips != "" ? ips : "(none)")
		if (inpeer && isname(name) && index(wanted, " " name " ") && iskey(psk))
			PSKS[name] = psk
		inpeer = 0; key = ""; ips = ""; psk = ""
	}
	substr($0, 1, 13) == "# BEGIN_PEER " { emit(); name = substr($0, 14); next }
	substr($0, 1, 11) == "# END_PEER " { emit(); name = ""; next }
	/^[ \t]*\[/ { emit(); if (trim($0) == "[Peer]") inpeer = 1; next }
	inpeer && index($0, "=") {
		k = tolower(trim(substr($0, 1, index($0, "=") - 1)))
		v = trim(substr($0, index($0, "=") + 1))
		if (k == "publickey") key = v
		if (k == "presharedkey") psk = v
		if (k == "allowedips") { gsub(/[ \t]/, "", v); ips = (ips != "" ? ips "," : "") v }
	}
	END { emit(); for (n in PSKS) print "pskof\t" n "\t" PSKS[n] }' "$conf" ||
		die "cannot read $conf"
	exit 0
fi
[ "$mode" = edit ] || die "unknown mode"
[ -f "$conf" ] || die "$conf does not exist"
exec 9>>"$dir/.$iface.privatevpn.lock" || die "cannot open lock file in $dir"
flock -w 8 9 || die "$conf is locked by another editor"
new=$dir/.$iface.conf.privatevpn-new
frag=$dir/.$iface.privatevpn-add
dels=$dir/.$iface.privatevpn-del
# Left over by a run that died before applying them: never replay those.
: >"$frag"
: >"$dels"

st=0
# The batch on awk's stdin through a here-document: no extra process, and the
# PSKs stay off every command line.
awk -v conf="$conf" -v new="$new" -v frag="$frag" -v dels="$dels" -v iface="$iface" '
function fail(msg) { print "privatevpn-remote: " msg > "/dev/stderr"; bad = 1; exit 3 }
function isname(s) { return length(s) >= 1 && length(s) <= 15 && s !~ /[^A-Za-z0-9_-]/ }
function iskey(s) {
	return length(s) == 44 && s ~ /^[A-Za-z0-9+\/]+=$/ &&
	    substr(s, 43, 1) ~ /[AEIMQUYcgkosw048]/
}
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
# Value of a "Key = value" line whose key is k (case-insensitive), else NONE.
function cfgval(line, k,   p) {
	p = index(line, "=")
	if (!p || tolower(trim(substr(line, 1, p - 1))) != k)
		return NONE
	return trim(substr(line, p + 1))
}
# Indexes of the live lines, so a batch costs O(lines + ops): BEGINAT/BEGINS
# (block starts by name), KEYS (PublicKey values), ADDRS (AllowedIPs items).
function index_line(i, d,   v, m, parts, j) {
	if (substr(L[i], 1, 13) == "# BEGIN_PEER ") {
		BEGINS[substr(L[i], 14)] += d
		if (d > 0)
			BEGINAT[substr(L[i], 14)] = i
	}
	if ((v = cfgval(L[i], "publickey")) != NONE)
		KEYS[v] += d
	if ((v = cfgval(L[i], "allowedips")) != NONE) {
		m = split(v, parts, ",")
		for (j = 1; j <= m; j++)
			ADDRS[trim(parts[j])] += d
	}
}
function push(line) { L[++n] = line; alive[n] = 1; index_line(n, 1) }
function kill(i) { alive[i] = 0; index_line(i, -1) }
function findblock(name,   i) {
	if (!(BEGINS[name] > 0))
		return 0
	i = BEGINAT[name]
	if (alive[i] && L[i] == "# BEGIN_PEER " name)
		return i
	for (i = 1; i <= n; i++)
		if (alive[i] && L[i] == "# BEGIN_PEER " name)
			return i
	return 0
}
function blockend(b, name,   i) {
	for (i = b + 1; i <= n; i++)
		if (alive[i] && L[i] == "# END_PEER " name)
			return i
	return 0
}
function keyused(k) { return KEYS[k] > 0 }
function addrused(a) { return ADDRS[a] > 0 }
function result(i, f, la, ld) { print i " ok " f " " la " " ld }
function refuse(i, msg) { print i " error conflict " msg }
function inuse(i, msg) { print i " error inuse " msg }
# The live peers (`wg show IFACE peers`), read once and only when an op needs
# them: a batch of new peers never does.  LIVE: live now (as this batch will
# leave it), ORIG: live before the batch.  Loading only adds keys, and
# nothing removes one before the load.
function live_load(   cmd, line, r) {
	if (liveloaded)
		return
	liveloaded = 1
	cmd = "wg show " iface " peers"
	while ((r = (cmd | getline line)) > 0)
		LIVE[line] = ORIG[line] = 1
	if (r < 0 || close(cmd) != 0)
		fail("wg show " iface " peers failed")
}
function do_add(i,   b, e, j, blk, fchanged) {
	blk[1] = "# BEGIN_PEER " NAME[i]
	blk[2] = "[Peer]"
	blk[3] = "PublicKey = " KEY[i]
	blk[4] = "PresharedKey = " PSK[i]
	blk[5] = "AllowedIPs = " V4[i] ", " V6[i]
	blk[6] = "# END_PEER " NAME[i]
	if ((b = findblock(NAME[i]))) {
		if (!(e = blockend(b, NAME[i])))
			return refuse(i, "block " NAME[i] " has no END_PEER line")
		if (e - b != 5)
			return refuse(i, "peer " NAME[i] " exists with other settings")
		for (j = 1; j <= 6; j++)
			if (L[b + j - 1] != blk[j])
				return refuse(i, "peer " NAME[i] " exists with other settings")
		fchanged = 0
	} else {
		if (keyused(KEY[i]))
			return refuse(i, "public key of " NAME[i] " is already configured")
		if (addrused(V4[i]) || addrused(V6[i]))
			return inuse(i, "address " V4[i] " is already in use")
		for (j = 1; j <= 6; j++)
			push(blk[j])
		fchanged = dirty = 1
	}
	if (!fchanged)
		live_load()
	if (fchanged || !(KEY[i] in LIVE)) {
		ADDQ[KEY[i]] = "[Peer]\nPublicKey = " KEY[i] "\nPresharedKey = " PSK[i] \
		    "\nAllowedIPs = " V4[i] ", " V6[i]
		LIVE[KEY[i]] = 1
		return result(i, fchanged, 1, 0)
	}
	return result(i, 0, 0, 0)
}
function do_del(i,   b, e, j, k, fchanged) {
	live_load()
	fchanged = 0
	if ((b = findblock(NAME[i]))) {
		if (!(e = blockend(b, NAME[i])))
			return refuse(i, "block " NAME[i] " has no END_PEER line")
		k = NONE
		for (j = b; j <= e && k == NONE; j++)
			k = cfgval(L[j], "publickey")
		if (k != KEY[i])
			return refuse(i, "peer " NAME[i] " has another public key")
		for (j = b; j <= e; j++)
			kill(j)
		fchanged = dirty = 1
	}
	# The live peer goes unless a block we do not own still lists its key.
	if ((KEY[i] in LIVE) && !keyused(KEY[i])) {
		# Cancel an add of this batch; a peer live before the batch goes.
		delete ADDQ[KEY[i]]
		if (KEY[i] in ORIG)
			DELQ[KEY[i]] = i
		delete LIVE[KEY[i]]
		return result(i, fchanged, 0, 1)
	}
	return result(i, fchanged, 0, 0)
}
BEGIN {
	NONE = "\001"
	while ((r = getline line < conf) > 0)
		push(line)
	if (r < 0)
		fail("cannot read " conf)
}
ended { fail("data after end of batch") }
$1 == "end" && NF == 1 { ended = 1; next }
$1 == "add" && NF == 5 && isname($2) && iskey($3) && $4 ~ /^[0-9.]+\/32$/ && $5 ~ /^[0-9a-f:]+\/128$/ {
	ops++; OP[ops] = "add"; NAME[ops] = $2; KEY[ops] = $3; V4[ops] = $4; V6[ops] = $5
	wantpsk = 1
	next
}
$1 == "psk" && NF == 2 && wantpsk && iskey($2) { PSK[ops] = $2; wantpsk = 0; next }
$1 == "del" && NF == 3 && !wantpsk && isname($2) && iskey($3) {
	ops++; OP[ops] = "del"; NAME[ops] = $2; KEY[ops] = $3
	next
}
{ fail("malformed batch line " NR) }
END {
	if (bad)
		exit 3
	if (!ended || wantpsk)
		fail("truncated batch")
	for (i = 1; i <= ops; i++)
		if (OP[i] == "add")
			do_add(i)
		else
			do_del(i)
	# Removals go first: a key deleted and re-added in one batch comes back
	# fresh (its old AllowedIPs and PSK gone), exactly as the file says.
	for (k in DELQ) { print k " " DELQ[k] > dels; ndels++ }
	for (k in ADDQ) { print ADDQ[k] > frag; nfrag++ }
	if ((nfrag && close(frag) < 0) || (ndels && close(dels) < 0))
		fail("cannot write the live changes")
	if (!dirty)
		exit 0
	printf "" > new
	for (i = 1; i <= n; i++)
		if (alive[i])
			print L[i] > new
	if (close(new) != 0)
		fail("cannot write " new)
	exit 9
}' <<EOF || st=$?
${ops:+$ops$nl}end
EOF
case $st in
0) ;;
9) { sync "$new" && mv -f "$new" "$conf"; } || die "cannot replace $conf" ;;
*) exit 3 ;;
esac
if [ -s "$dels" ]; then
	# The counters of the peers about to go, read just before the removal,
	# so the controller counts their bytes since its last health pass.  Only
	# the chosen fields leave awk (line 1 holds the private key, field 2 the PSK).
	wg show "$iface" dump | awk -F '\t' -v dels="$dels" '
		BEGIN { while ((getline l < dels) > 0) { split(l, f, " "); IDX[f[1]] = f[2] } }
		NR > 1 && ($1 in IDX) && $5 ~ /^[0-9]+$/ && $6 ~ /^[0-9]+$/ && $7 ~ /^[0-9]+$/ {
			print "final " IDX[$1] " " $5 " " $6 " " $7
		}'
	set --
	while read -r key _; do set -- "$@" peer "$key" remove; done <"$dels"
	if wg set "$iface" "$@"; then echo "live-del ok"; else echo "live-del error"; fi
	: >"$dels"
fi
if [ -s "$frag" ]; then
	if wg addconf "$iface" "$frag"; then echo "live-add ok"; else echo "live-add error"; fi
	: >"$frag"
fi
echo "done"
}

frame_error() {
	echo "privatevpn-remote: $*"
	echo "privatevpn-end 3"
	exit 3
}
# Messages (ours, awk's, wg's) go out in order with the answer they belong to.
exec 2>&1
nl='
'
while IFS= read -r line; do
	[ "$line" = "privatevpn-batch 1" ] || frame_error "unknown batch header"
	IFS= read -r iface_line || frame_error "truncated batch"
	IFS= read -r mode || frame_error "truncated batch"
	ops=
	ended=
	while IFS= read -r line; do
		[ "$line" != end ] || {
			ended=1
			break
		}
		ops=${ops:+$ops$nl}$line
	done
	[ -n "$ended" ] || frame_error "truncated batch"
	rc=0
	(run_batch) || rc=$?
	echo "privatevpn-end $rc"
done
