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

. "$(dirname "$0")/lib/apt.sh"
# shellcheck disable=SC2086 # $need is a list of package names
apt_install install-registry.sh $need
command -v docker-registry >/dev/null
command -v htpasswd >/dev/null
echo "install-registry.sh: installed$need"
