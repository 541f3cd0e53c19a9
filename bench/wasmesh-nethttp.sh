#!/usr/bin/env bash
# wasmesh-nethttp.sh: runs the wasmesh binary next to this script with every listener's http_server set to
# net/http (Go's HTTP/1.1 server instead of host/proxy/h1server). For bench/run-proxy.sh, which copies
# WASMESH_BASE_BIN next to the wasmesh it measures, so the base-* variants are the same build on net/http:
#
#   WASMESH_BASE_BIN=bench/wasmesh-nethttp.sh bash bench/run-proxy.sh
set -euo pipefail
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	-c | --config)
		sed 's/^\(  address: .*\)$/\1\n  http_server: net\/http/' "$2" >"$2.nethttp.yaml"
		args+=("$1" "$2.nethttp.yaml")
		shift 2
		;;
	*)
		args+=("$1")
		shift
		;;
	esac
done
exec "$(dirname "$0")/wasmesh" "${args[@]}"
