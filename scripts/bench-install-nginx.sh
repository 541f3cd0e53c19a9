#!/bin/sh
# bench-install-nginx.sh installs nginx from Debian packages for the proxy benchmark (bench/run-proxy.sh), where it
# is the upstream and the reference reverse proxy. Benchmark-only: `make test` does not run bench-install-*.
# Idempotent: does nothing when nginx is on PATH. Prints the binary's path.
set -eu
if command -v nginx >/dev/null 2>&1; then
	command -v nginx
	exit 0
fi
. "$(dirname "$0")/lib/apt.sh"
# nginx-light is enough (no extra modules); apt_install keeps the package from starting a system nginx.
apt_install bench-install-nginx.sh nginx-light
command -v nginx
