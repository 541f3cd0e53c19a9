#!/bin/sh
# bench-install-nginx.sh installs nginx from Debian packages for the proxy benchmark (bench/run-proxy.sh), where it
# is the upstream and the reference reverse proxy. Benchmark-only: `make test` does not run bench-install-*.
# Idempotent: does nothing when nginx is on PATH. Prints the binary's path.
set -eu
if command -v nginx >/dev/null 2>&1; then
	command -v nginx
	exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
# nginx-light is enough (no extra modules); policy-rc.d keeps the package from starting a system nginx.
printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
$SUDO chmod +x /usr/sbin/policy-rc.d
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx-light >/dev/null
$SUDO rm -f /usr/sbin/policy-rc.d
command -v nginx
