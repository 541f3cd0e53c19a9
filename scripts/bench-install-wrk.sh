#!/bin/sh
# bench-install-wrk.sh installs the wrk load generator from Debian packages for the proxy benchmark
# (bench/run-proxy.sh). Benchmark-only: `make test` does not run bench-install-*. Idempotent. Prints its path.
set -eu
if command -v wrk >/dev/null 2>&1; then
	command -v wrk
	exit 0
fi
. "$(dirname "$0")/lib/apt.sh"
apt_install bench-install-wrk.sh wrk
command -v wrk
