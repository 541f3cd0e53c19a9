#!/usr/bin/env bash
# Installs the AssemblyScript toolchain the host/engine conformance tests build their AS filters with:
# assemblyscript@0.14.9 (the asc compiler) and @solo-io/proxy-runtime@0.1.8 (the proxy-wasm AS SDK).
# Both go into a cache dir outside the repo; rerunning is a no-op once the exact versions are present.
# Prints the install dir on stdout (the tests read it).
set -euo pipefail

dir="${XDG_CACHE_HOME:-$HOME/.cache}/wasmesh/assemblyscript"
stamp="$dir/.installed-asc0.14.9-runtime0.1.8"

if [[ -f "$stamp" && -x "$dir/node_modules/.bin/asc" ]]; then
	echo "$dir"
	exit 0
fi

command -v npm >/dev/null || { echo "install-assemblyscript: npm not found; install nodejs/npm (apt-get install npm)" >&2; exit 1; }

mkdir -p "$dir"
cd "$dir"
[[ -f package.json ]] || echo '{"name":"wasmesh-as-toolchain","private":true}' >package.json
npm install --no-audit --no-fund --loglevel=error --save-exact \
	assemblyscript@0.14.9 @solo-io/proxy-runtime@0.1.8 >&2
touch "$stamp"
echo "$dir"
