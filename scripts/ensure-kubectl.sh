#!/usr/bin/env bash
# Debian's kubectl (package kubernetes-client, 1.20) as a real client of the HTTP API in tests.
# Unpacked into .tmp/kubectl rather than installed, so it never clashes with another kubectl on
# the machine. Prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
target=.tmp/kubectl
binary="$target/usr/bin/kubectl"
if [ ! -x "$binary" ]; then
  mkdir -p "$target"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  if ! (cd "$work" && apt-get download kubernetes-client >/dev/null 2>&1); then
    apt-get update -qq >/dev/null
    (cd "$work" && apt-get download kubernetes-client >/dev/null)
  fi
  dpkg-deb -x "$work"/kubernetes-client_*.deb "$target"
fi
echo "$PWD/$binary"
