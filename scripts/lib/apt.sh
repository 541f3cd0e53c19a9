# apt.sh: one way for every install script to install Debian packages. Sourced, POSIX sh.
#
#	. "$(dirname "$0")/lib/apt.sh"
#	apt_install install-registry.sh docker-registry apache2-utils
#
# It installs without `apt-get update` first (fast when the package lists are fresh) and updates once only when
# that fails. It needs root or password-less sudo and says so, naming the calling script and the packages.

apt_install() {
	who=$1
	shift
	sudo_cmd=""
	if [ "$(id -u)" != 0 ]; then
		if command -v sudo >/dev/null 2>&1; then sudo_cmd="sudo -n"; else
			echo "$who: need root (or password-less sudo) to apt-get install $*" >&2
			return 1
		fi
	fi
	# Keep packages that ship a service (nginx, etcd, docker-registry) from starting one: the tests and
	# benchmarks start their own instances on loopback. policy-rc.d is only written when absent.
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null && $sudo_cmd chmod +x /usr/sbin/policy-rc.d && policy=1
	fi
	rc=0
	if ! $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
		$sudo_cmd apt-get update -qq || rc=$?
		if [ "$rc" = 0 ]; then
			$sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 || rc=$?
		fi
	fi
	[ -z "$policy" ] || $sudo_cmd rm -f /usr/sbin/policy-rc.d
	if [ "$rc" != 0 ]; then
		echo "$who: apt-get install $* failed (exit $rc); check the Debian mirror is reachable" >&2
	fi
	return "$rc"
}
