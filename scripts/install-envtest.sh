#!/bin/bash
# install-envtest.sh installs the control-plane binaries the operator's envtest suites run:
# a real kube-apiserver and kubectl, built from k8s.io/kubernetes at KUBE_VERSION through the
# Go module proxy, and Debian's etcd (package etcd-server, /usr/bin/etcd).
#
# setup-envtest cannot download its prebuilt archives here, so this script builds the
# binaries itself and caches them by version outside the repository:
#
#	${XDG_CACHE_HOME:-$HOME/.cache}/wasmesh/envtest/v1.37.1/{kube-apiserver,kubectl,etcd}
#
# Point KUBEBUILDER_ASSETS at that directory (the operator's tests find it on their own).
# Idempotent: when all three binaries are present it exits at once. A build from an empty cache
# directory took 21-27 minutes wall here (2 cores shared with other builds); it runs under
# nice so it shares the machine politely.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-1.37.1}"
# The staging modules (k8s.io/api, k8s.io/apiserver, ...) are published as v0.MINOR.PATCH.
STAGING_VERSION="0.${KUBE_VERSION#1.}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/wasmesh/envtest"
DEST="$CACHE/v$KUBE_VERSION"
GO="${GO:-go}"

have_all() {
	[ -x "$DEST/kube-apiserver" ] && [ -x "$DEST/kubectl" ] && [ -x "$DEST/etcd" ]
}
if have_all; then
	exit 0
fi
mkdir -p "$DEST"

# One build at a time: make test and a developer's shell may both call this script.
exec 9>"$CACHE/.lock"
if command -v flock >/dev/null 2>&1; then
	flock 9
fi
if have_all; then
	exit 0
fi

# etcd: Debian's etcd-server package. The envtest suites start their own etcd on loopback.
if [ ! -x /usr/bin/etcd ]; then
	. "$(dirname "$0")/lib/apt.sh"
	apt_install install-envtest.sh etcd-server
fi
ln -sf /usr/bin/etcd "$DEST/etcd"

# kube-apiserver and kubectl: a throwaway wrapper module that requires k8s.io/kubernetes and
# replaces every staging module (which k8s.io/kubernetes only replaces with ./staging/src
# paths, invisible to other modules) with its published v0 version.
WRAP="$CACHE/build-v$KUBE_VERSION"
mkdir -p "$WRAP"
modfile="$("$GO" mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
if [ -z "$modfile" ] || [ ! -f "$modfile" ]; then
	echo "install-envtest.sh: could not download k8s.io/kubernetes@v$KUBE_VERSION from the module proxy" >&2
	exit 1
fi
staging="$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9.-]*\) => ./staging/src/.*#\1#p' "$modfile")"
if [ -z "$staging" ]; then
	echo "install-envtest.sh: found no staging replacements in $modfile" >&2
	exit 1
fi
{
	echo "module wasmesh.local/envtest-build"
	echo
	echo "go $(sed -n 's/^go \(.*\)/\1/p' "$modfile")"
	echo
	echo "require k8s.io/kubernetes v$KUBE_VERSION"
	echo
	echo "replace ("
	for m in $staging; do
		echo "	$m => $m v$STAGING_VERSION"
	done
	echo ")"
} >"$WRAP/go.mod"

pkg="k8s.io/component-base/version"
cpkg="k8s.io/client-go/pkg/version"
minor="$(echo "$KUBE_VERSION" | cut -d. -f2)"
ldflags="-s -w"
for p in "$pkg" "$cpkg"; do
	ldflags="$ldflags -X $p.gitVersion=v$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done

build() { # build NAME: builds k8s.io/kubernetes/cmd/NAME into $DEST/NAME atomically.
	if [ -x "$DEST/$1" ]; then
		return 0
	fi
	echo "install-envtest.sh: building $1 v$KUBE_VERSION (several minutes when cold)" >&2
	(cd "$WRAP" && GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 nice -n 19 \
		"$GO" build -trimpath -ldflags "$ldflags" -o "$DEST/.$1.tmp" "k8s.io/kubernetes/cmd/$1")
	mv -f "$DEST/.$1.tmp" "$DEST/$1"
}
build kube-apiserver
build kubectl

have_all
echo "install-envtest.sh: KUBEBUILDER_ASSETS=$DEST"
