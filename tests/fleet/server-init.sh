#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/fleet/server-init.sh: becomes one fleet server.  Run by `fleet up` as
#   ip netns exec NS unshare -m --propagation private server-init.sh SRVDIR
# It gives the server a private view of every path the bootstrap may write
# (an overlay on /etc, tmpfs on /etc/wireguard, /run and /tmp), makes the rest
# of the root file system read-only for this mount namespace only, so that
# nothing run on the server can write the host's real files, and then execs
# sshd in the foreground (the pid `fleet up` started is sshd's pid).
set -eu
srv=${1:?usage: server-init.sh SRVDIR}

mount -t tmpfs -o mode=755,size=64m pvfleet-run /run
mkdir -m 755 /run/pvfleet /run/sshd /run/lock
# Our files, copied before /tmp is hidden (SRVDIR may live in /tmp).
mount -t tmpfs -o mode=700,size=16m pvfleet-priv /run/pvfleet
mkdir /run/pvfleet/upper /run/pvfleet/work /run/pvfleet/ssh
cp "$srv/ssh_host_ed25519_key" "$srv/sshd_config" "$srv/authorized_keys" /run/pvfleet/ssh/
chmod 600 /run/pvfleet/ssh/ssh_host_ed25519_key

mount -t overlay pvfleet-etc -o lowerdir=/etc,upperdir=/run/pvfleet/upper,workdir=/run/pvfleet/work /etc
mkdir -p /etc/wireguard
mount -t tmpfs -o mode=700,size=4m pvfleet-wg /etc/wireguard
mount -t tmpfs -o mode=1777,size=64m pvfleet-tmp /tmp
mount -t tmpfs -o mode=1777,size=16m pvfleet-shm /dev/shm
# A fresh server's root has an empty home (and the host's /root is not ours).
mount -t tmpfs -o mode=700,size=16m pvfleet-root /root
# Read-only for this mount namespace only (a bind remount changes the flags of
# our copy of the mount, not the file system).
mount -o remount,bind,ro /

exec /usr/sbin/sshd -D -f /run/pvfleet/ssh/sshd_config -E /run/pvfleet/sshd.log
