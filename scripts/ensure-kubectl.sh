#!/usr/bin/env bash
# Debian's kubectl (package kubernetes-client, 1.20) as a real client of the HTTP API in tests,
# unpacked under .tmp/kubectl. Prints the binary's path.
exec "$(dirname "$0")/unpack-debian-package.sh" kubernetes-client kubectl usr/bin/kubectl
