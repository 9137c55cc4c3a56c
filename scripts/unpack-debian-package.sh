#!/usr/bin/env bash
# unpack-debian-package.sh PACKAGE DIR BINARY
# A Debian package's files under .tmp/DIR, downloaded with apt-get and unpacked with dpkg-deb rather
# than installed: no root, no system service, no clash with another copy on the machine. Idempotent.
# Prints the absolute path of BINARY (a path inside the package, e.g. usr/bin/etcd).
set -euo pipefail
package=$1 dir=$2 binary_in_package=$3
cd "$(dirname "$0")/.."
target=.tmp/$dir
binary="$target/$binary_in_package"
if [ ! -x "$binary" ]; then
  mkdir -p "$target"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  if ! (cd "$work" && apt-get download "$package" >/dev/null 2>&1); then
    apt-get update -qq >/dev/null
    (cd "$work" && apt-get download "$package" >/dev/null)
  fi
  dpkg-deb -x "$work"/"$package"_*.deb "$target"
fi
echo "$PWD/$binary"
