//go:build wasmesh_bridge

// This file is injected by `wasmesh build` into the build-time copy of
// github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/internal beside the shared
// bridge files. The SDK exports its callbacks itself (//go:wasmexport); the builder
// removes that directive from the callbacks the shared zz_wasmesh_callbacks.go and
// zz_wasmesh_memory.go export instead (builder/bridge.go, successorEdits), and
// leaves the others (VM and plugin start, ticks, queues, TCP, HTTP call
// responses) to the SDK.

package internal

import "github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

// What the shared bridge files need to know of this SDK: the integer type of its
// callbacks' size parameters, its HTTP context interface, and its no-op contexts.
type (
	wasmeshInt                = int32
	wasmeshHttpContext        = types.HttpContext
	wasmeshDefaultHttpContext = types.DefaultHttpContext
	wasmeshDefaultTcpContext  = types.DefaultTcpContext
)

// wasmeshEnter has nothing to do: filters on this SDK register their contexts in
// init, which a reactor's _initialize runs.
func wasmeshEnter() {}
