#!/usr/bin/env bash
# Debian's etcd 3.4 (package etcd-server), the real kvstore Cilium's etcd mode uses, as the
# benchmark's peer, unpacked under .tmp/etcd (no system service started). Prints the binary's path.
exec "$(dirname "$0")/unpack-debian-package.sh" etcd-server etcd usr/bin/etcd
