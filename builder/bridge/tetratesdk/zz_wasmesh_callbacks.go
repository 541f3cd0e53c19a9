//go:build wasmesh_bridge

// This file is injected by `wasmesh build` beside zz_wasmesh_hostcalls.go. The
// SDK's callbacks carry TinyGo `//export` comments that the gc toolchain ignores;
// these `//go:wasmexport` wrappers give them their proxy-wasm names, with the
// 32-bit integer parameters the Wasm ABI uses instead of Go's 64-bit int and bool.

package internal

import (
	_ "unsafe" // for go:linkname

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
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

func wasmeshBool(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

//go:wasmexport proxy_abi_version_0_2_0
func wasmeshABIVersion() {}

//go:wasmexport proxy_on_memory_allocate
func wasmeshOnMemoryAllocate(size uint32) uint32 {
	return wasmeshAlloc(size)
}

// wasmeshScratchArena tells the wasmesh host where the scratch arena is: its
// address in the high 32 bits, its size in the low 32 (see wasmeshArena).
//
//go:wasmexport wasmesh_scratch_arena
func wasmeshScratchArena() uint64 {
	return uint64(wasmeshArenaAddr())<<32 | uint64(len(wasmeshArena))
}

//go:wasmexport proxy_on_context_create
func wasmeshOnContextCreate(contextID, parentContextID uint32) {
	wasmeshEnter()
	wasmeshCreate(contextID, parentContextID)
}

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

//go:wasmexport proxy_on_request_headers
func wasmeshOnRequestHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	if ctx := wasmeshHTTPContext(contextID); ctx != nil {
		currentState.setActiveContextID(contextID)
		return uint32(ctx.OnHttpRequestHeaders(int(numHeaders), endOfStream != 0))
	}
	return uint32(proxyOnRequestHeaders(contextID, int(numHeaders), endOfStream != 0))
}

//go:wasmexport proxy_on_request_body
func wasmeshOnRequestBody(contextID, bodySize, endOfStream uint32) uint32 {
	if ctx := wasmeshHTTPContext(contextID); ctx != nil {
		currentState.setActiveContextID(contextID)
		return uint32(ctx.OnHttpRequestBody(int(bodySize), endOfStream != 0))
	}
	return uint32(proxyOnRequestBody(contextID, int(bodySize), endOfStream != 0))
}

//go:wasmexport proxy_on_request_trailers
func wasmeshOnRequestTrailers(contextID, numTrailers uint32) uint32 {
	if ctx := wasmeshHTTPContext(contextID); ctx != nil {
		currentState.setActiveContextID(contextID)
		return uint32(ctx.OnHttpRequestTrailers(int(numTrailers)))
	}
	return uint32(proxyOnRequestTrailers(contextID, int(numTrailers)))
}

//go:wasmexport proxy_on_response_headers
func wasmeshOnResponseHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	if ctx := wasmeshHTTPContext(contextID); ctx != nil {
		currentState.setActiveContextID(contextID)
		return uint32(ctx.OnHttpResponseHeaders(int(numHeaders), endOfStream != 0))
	}
	return uint32(proxyOnResponseHeaders(contextID, int(numHeaders), endOfStream != 0))
}

//go:wasmexport proxy_on_response_body
func wasmeshOnResponseBody(contextID, bodySize, endOfStream uint32) uint32 {
	if ctx := wasmeshHTTPContext(contextID); ctx != nil {
		currentState.setActiveContextID(contextID)
		return uint32(ctx.OnHttpResponseBody(int(bodySize), endOfStream != 0))
	}
	return uint32(proxyOnResponseBody(contextID, int(bodySize), endOfStream != 0))
}

//go:wasmexport proxy_on_response_trailers
func wasmeshOnResponseTrailers(contextID, numTrailers uint32) uint32 {
	if ctx := wasmeshHTTPContext(contextID); ctx != nil {
		currentState.setActiveContextID(contextID)
		return uint32(ctx.OnHttpResponseTrailers(int(numTrailers)))
	}
	return uint32(proxyOnResponseTrailers(contextID, int(numTrailers)))
}

//go:wasmexport proxy_on_http_call_response
func wasmeshOnHttpCallResponse(rootContextID, calloutID, numHeaders, bodySize, numTrailers uint32) {
	proxyOnHttpCallResponse(rootContextID, calloutID, int(numHeaders), int(bodySize), int(numTrailers))
}

//go:wasmexport proxy_on_log
func wasmeshOnLog(contextID uint32) {
	if ctx := wasmeshHTTPContext(contextID); ctx != nil {
		currentState.setActiveContextID(contextID)
		ctx.OnHttpStreamDone()
		return
	}
	proxyOnLog(contextID)
}

// proxy_on_done of a stream context is true without calling user code, as in the
// SDK (only plugin contexts have OnPluginDone).
//
//go:wasmexport proxy_on_done
func wasmeshOnDone(contextID uint32) uint32 {
	if wasmeshHTTPContext(contextID) != nil {
		return 1
	}
	return wasmeshBool(proxyOnDone(contextID))
}

//go:wasmexport proxy_on_delete
func wasmeshOnDelete(contextID uint32) {
	if !wasmeshDelete(contextID) {
		proxyOnDelete(contextID)
	}
}
