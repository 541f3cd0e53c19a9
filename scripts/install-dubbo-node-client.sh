#!/usr/bin/env bash
# Installs the third-party Node Dubbo client the host/dubbo interop tests drive: dubbo2.js@2.3.9 running on
# hessian.js@2.11.0 (forced with an npm override; dubbo2.js alone would pull hessian.js 2.5.0).
# Goes into a cache dir outside the repo; rerunning is a no-op once the exact versions are present.
# Prints the node_modules dir on stdout (the tests use it as NODE_PATH).
set -euo pipefail

dir="${XDG_CACHE_HOME:-$HOME/.cache}/wasmesh/node-dubbo"
stamp="$dir/.installed-dubbo2.js2.3.9-hessian.js2.11.0"

if [[ -f "$stamp" && -d "$dir/node_modules/dubbo2.js" ]]; then
	echo "$dir/node_modules"
	exit 0
fi

if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
	. "$(dirname "$0")/lib/apt.sh"
	apt_install install-dubbo-node-client.sh nodejs npm
fi

mkdir -p "$dir"
cd "$dir"
cat >package.json <<'JSON'
{
  "name": "wasmesh-node-dubbo",
  "private": true,
  "dependencies": { "dubbo2.js": "2.3.9", "hessian.js": "2.11.0", "js-to-java": "2.4.0" },
  "overrides": { "hessian.js": "2.11.0" }
}
JSON
npm install --no-audit --no-fund --loglevel=error >&2
touch "$stamp"
echo "$dir/node_modules"
