#!/usr/bin/env bash
# Installs Debian's C-to-wasm toolchain (clang-14, lld-14, wasi-libc, compiler-rt builtins for wasm32) that the
# host/engine conformance test builds its C proxy-wasm filter with. Idempotent: does nothing when clang-14 and the
# WASI sysroot are already there. Needs root (or sudo) and the Debian apt mirror.
set -euo pipefail

if command -v clang-14 >/dev/null && command -v wasm-ld-14 >/dev/null && [[ -f /usr/include/wasm32-wasi/stdlib.h ]]; then
	exit 0
fi
. "$(dirname "$0")/lib/apt.sh"
apt_install install-wasi-clang.sh clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32
