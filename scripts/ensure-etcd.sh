#!/usr/bin/env bash
# Debian's etcd 3.4 (package etcd-server), the real kvstore Cilium's etcd mode uses, as the
# benchmark's peer. Unpacked into .tmp/etcd rather than installed (no root needed, no system
# service started). Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
target=.tmp/etcd
binary="$target/usr/bin/etcd"
if [ ! -x "$binary" ]; then
  mkdir -p "$target"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  if ! (cd "$work" && apt-get download etcd-server >/dev/null 2>&1); then
    apt-get update -qq >/dev/null
    (cd "$work" && apt-get download etcd-server >/dev/null)
  fi
  dpkg-deb -x "$work"/etcd-server_*.deb "$target"
fi
echo "$PWD/$binary"
