#!/bin/sh
# install-oras.sh builds the oras CLI used by the oci interoperability tests and prints its path.
# `go install oras.land/oras/cmd/oras@v…` needs the module proxy's version list, which is not always
# served, so this builds it from a throw-away wrapper module that requires an exact version.
# The binary is cached by version outside the repository; running the script again is a no-op.
set -eu

ORAS_VERSION="${ORAS_VERSION:-v1.3.2}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/wasmesh/tools/oras-$ORAS_VERSION"
bin="$cache/oras"
if [ -x "$bin" ] && "$bin" version >/dev/null 2>&1; then
	echo "$bin"
	exit 0
fi

mkdir -p "$cache"
src="$(mktemp -d "$cache/build.XXXXXX")"
trap 'rm -rf "$src"' EXIT
cat >"$src/go.mod" <<MOD
module wasmesh.local/orasbuild

go 1.25

require oras.land/oras $ORAS_VERSION
MOD
cat >"$src/tools.go" <<'GO'
//go:build tools

package tools

import _ "oras.land/oras/cmd/oras"
GO
cd "$src"
GOFLAGS=-mod=mod go mod download oras.land/oras >&2
GOFLAGS=-mod=mod go build -trimpath -o "$bin.tmp" oras.land/oras/cmd/oras >&2
mv "$bin.tmp" "$bin"
echo "$bin"
