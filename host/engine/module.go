package engine

import (
	"github.com/tetratelabs/wazero"

	"github.com/wasmesh/wasmesh/host/abi"
)

// Module is compiled proxy-wasm code, identified by the sha256 digest of its bytes. It is immutable and shared by
// every plugin that runs it.
type Module struct {
	digest   string
	wasm     []byte
	guarded  []byte // wasm instrumented by loopguard; nil if it could not be
	version  abi.Version
	exports  map[string]bool
	compiled wazero.CompiledModule // in the engine's default runtime; other runtimes compile from cache on demand
}

// Digest is "sha256:<hex>" of the module bytes.
func (m *Module) Digest() string { return m.digest }

// ABIVersion is the proxy-wasm ABI the module advertises (abi.Unknown if it exports no version marker).
func (m *Module) ABIVersion() abi.Version { return m.version }

// Exports reports whether the module exports a function of that name.
func (m *Module) Exports(name string) bool { return m.exports[name] }

// code is the binary a runtime with the given termination compiles.
func (m *Module) code(t termination) []byte {
	if t == termGuard {
		return m.guarded
	}
	return m.wasm
}

// termFor is how a plugin of m with or without a CPU deadline is stopped.
func (m *Module) termFor(deadline bool) termination {
	switch {
	case !deadline:
		return termNone
	case m.guarded != nil:
		return termGuard
	}
	return termContext
}
