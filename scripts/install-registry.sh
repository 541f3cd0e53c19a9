#!/bin/sh
# install-registry.sh installs what the oci tests need to run a real registry:
# Debian's docker-registry (the CNCF distribution registry, /usr/bin/docker-registry)
# and apache2-utils (htpasswd, for bcrypt basic-auth files).
# Idempotent: does nothing when both are present; runs apt-get update at most once.
set -eu

need=""
command -v docker-registry >/dev/null 2>&1 || [ -x /usr/bin/docker-registry ] || need="$need docker-registry"
command -v htpasswd >/dev/null 2>&1 || need="$need apache2-utils"
if [ -z "$need" ]; then
	exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
		echo "install-registry.sh: need root (or sudo) to apt-get install$need" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends $need >/dev/null 2>&1; then
	$SUDO apt-get update -qq
	$SUDO apt-get install -y --no-install-recommends $need
fi
# The Debian package enables a system service; the tests start their own instances.
command -v docker-registry >/dev/null
command -v htpasswd >/dev/null
echo "install-registry.sh: installed$need"
