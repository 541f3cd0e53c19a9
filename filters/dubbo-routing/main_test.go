package main

import (
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/wasmesh/wasmesh/filters/internal/scenario"
)

// TestScenarios runs testdata/scenarios.json in the proxytest emulator; test/filters runs the same file against
// the compiled filter in wasmesh's host.
func TestScenarios(t *testing.T) {
	scenario.Run(t, "testdata/scenarios.json", func() types.VMContext { return &vmContext{} })
}
