//go:build wasmesh_bridge

// This file is injected by `wasmesh build` into the build-time copy of either SDK's
// proxywasm/internal. It exports the callbacks of a stream's life (context create,
// the HTTP callbacks, log, done, delete): a stream the bridge's table holds
// (zz_wasmesh_streams.go) is served here, anything else by the SDK's own function.
// zz_wasmesh_sdk.go, written per SDK, says how that SDK's functions are called
// (wasmeshInt) and exports the callbacks the bridge leaves as they are.

package internal

func wasmeshBool(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

//go:wasmexport proxy_on_context_create
func wasmeshOnContextCreate(contextID, parentContextID uint32) {
	wasmeshEnter()
	wasmeshCreate(contextID, parentContextID)
}

//go:wasmexport proxy_on_request_headers
func wasmeshOnRequestHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	if ctx := wasmeshHTTPContext(contextID); ctx != nil {
		currentState.setActiveContextID(contextID)
		return uint32(ctx.OnHttpRequestHeaders(int(numHeaders), endOfStream != 0))
	}
	return uint32(proxyOnRequestHeaders(contextID, wasmeshInt(numHeaders), endOfStream != 0))
}

//go:wasmexport proxy_on_request_body
func wasmeshOnRequestBody(contextID, bodySize, endOfStream uint32) uint32 {
	if ctx := wasmeshHTTPContext(contextID); ctx != nil {
		currentState.setActiveContextID(contextID)
		return uint32(ctx.OnHttpRequestBody(int(bodySize), endOfStream != 0))
	}
	return uint32(proxyOnRequestBody(contextID, wasmeshInt(bodySize), endOfStream != 0))
}

//go:wasmexport proxy_on_request_trailers
func wasmeshOnRequestTrailers(contextID, numTrailers uint32) uint32 {
	if ctx := wasmeshHTTPContext(contextID); ctx != nil {
		currentState.setActiveContextID(contextID)
		return uint32(ctx.OnHttpRequestTrailers(int(numTrailers)))
	}
	return uint32(proxyOnRequestTrailers(contextID, wasmeshInt(numTrailers)))
}

//go:wasmexport proxy_on_response_headers
func wasmeshOnResponseHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	if ctx := wasmeshHTTPContext(contextID); ctx != nil {
		currentState.setActiveContextID(contextID)
		return uint32(ctx.OnHttpResponseHeaders(int(numHeaders), endOfStream != 0))
	}
	return uint32(proxyOnResponseHeaders(contextID, wasmeshInt(numHeaders), endOfStream != 0))
}

//go:wasmexport proxy_on_response_body
func wasmeshOnResponseBody(contextID, bodySize, endOfStream uint32) uint32 {
	if ctx := wasmeshHTTPContext(contextID); ctx != nil {
		currentState.setActiveContextID(contextID)
		return uint32(ctx.OnHttpResponseBody(int(bodySize), endOfStream != 0))
	}
	return uint32(proxyOnResponseBody(contextID, wasmeshInt(bodySize), endOfStream != 0))
}

//go:wasmexport proxy_on_response_trailers
func wasmeshOnResponseTrailers(contextID, numTrailers uint32) uint32 {
	if ctx := wasmeshHTTPContext(contextID); ctx != nil {
		currentState.setActiveContextID(contextID)
		return uint32(ctx.OnHttpResponseTrailers(int(numTrailers)))
	}
	return uint32(proxyOnResponseTrailers(contextID, wasmeshInt(numTrailers)))
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

// proxy_on_done of a stream context is true without calling user code, as in
// both SDKs (only plugin contexts have OnPluginDone).
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
