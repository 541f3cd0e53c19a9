//go:build wasmesh_bridge

// This file is injected by `wasmesh build` into the build-time copy of
// github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal beside the shared
// bridge files. The SDK's callbacks carry TinyGo `//export` comments that the gc
// toolchain ignores; these `//go:wasmexport` wrappers (and the shared ones in
// zz_wasmesh_callbacks.go) give them their proxy-wasm names, with the 32-bit
// integer parameters the Wasm ABI uses instead of Go's 64-bit int and bool.

package internal

import (
	_ "unsafe" // for go:linkname

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// What the shared bridge files need to know of this SDK: the integer type of its
// callbacks' size parameters, its HTTP context interface, and its no-op contexts.
type (
	wasmeshInt                = int
	wasmeshHttpContext        = types.HttpContext
	wasmeshDefaultHttpContext = types.DefaultHttpContext
	wasmeshDefaultTcpContext  = types.DefaultTcpContext
)

// A c-shared (reactor) build runs package initialisers in _initialize but never
// main.main, where TinyGo-style filters call proxywasm.SetVMContext. Run it once,
// from whichever callback the host calls first: hosts differ on whether that is
// proxy_on_context_create or proxy_on_vm_start.
//
//go:linkname wasmeshMainMain main.main
func wasmeshMainMain()

var wasmeshMainDone bool

func wasmeshEnter() {
	if !wasmeshMainDone {
		wasmeshMainDone = true
		wasmeshMainMain()
	}
}

//go:wasmexport proxy_abi_version_0_2_0
func wasmeshABIVersion() {}

//go:wasmexport proxy_on_vm_start
func wasmeshOnVMStart(rootContextID, vmConfigurationSize uint32) uint32 {
	wasmeshEnter()
	return wasmeshBool(bool(proxyOnVMStart(rootContextID, int(vmConfigurationSize))))
}

//go:wasmexport proxy_on_configure
func wasmeshOnConfigure(rootContextID, pluginConfigurationSize uint32) uint32 {
	wasmeshEnter()
	return wasmeshBool(bool(proxyOnConfigure(rootContextID, int(pluginConfigurationSize))))
}

//go:wasmexport proxy_on_tick
func wasmeshOnTick(rootContextID uint32) {
	wasmeshEnter()
	proxyOnTick(rootContextID)
}

//go:wasmexport proxy_on_queue_ready
func wasmeshOnQueueReady(rootContextID, queueID uint32) {
	wasmeshEnter()
	proxyOnQueueReady(rootContextID, queueID)
}

//go:wasmexport proxy_on_new_connection
func wasmeshOnNewConnection(contextID uint32) uint32 {
	return uint32(proxyOnNewConnection(contextID))
}

//go:wasmexport proxy_on_downstream_data
func wasmeshOnDownstreamData(contextID, dataSize, endOfStream uint32) uint32 {
	return uint32(proxyOnDownstreamData(contextID, int(dataSize), endOfStream != 0))
}

//go:wasmexport proxy_on_downstream_connection_close
func wasmeshOnDownstreamConnectionClose(contextID, peerType uint32) {
	proxyOnDownstreamConnectionClose(contextID, types.PeerType(peerType))
}

//go:wasmexport proxy_on_upstream_data
func wasmeshOnUpstreamData(contextID, dataSize, endOfStream uint32) uint32 {
	return uint32(proxyOnUpstreamData(contextID, int(dataSize), endOfStream != 0))
}

//go:wasmexport proxy_on_upstream_connection_close
func wasmeshOnUpstreamConnectionClose(contextID, peerType uint32) {
	proxyOnUpstreamConnectionClose(contextID, types.PeerType(peerType))
}

//go:wasmexport proxy_on_http_call_response
func wasmeshOnHttpCallResponse(rootContextID, calloutID, numHeaders, bodySize, numTrailers uint32) {
	proxyOnHttpCallResponse(rootContextID, calloutID, int(numHeaders), int(bodySize), int(numTrailers))
}
