//go:build wasmesh_bridge

// This file is injected by `wasmesh build` into the build-time copy of
// github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/internal. The SDK's own
// go:wasmimport declarations of the host calls that return data (and of
// proxy_http_call) are renamed there with the prefix wasmeshImport
// (builder/bridge.go, successorEdits); these functions take their SDK names and
// signatures. They pass the host the out-parameter cells of zz_wasmesh_memory.go
// instead of the caller's stack variables (a result the host allocates re-enters
// the guest, which may move the stack), and copy a result out of the scratch arena
// or take it from the allocator's pending list before the SDK sees it.

package internal

import "unsafe"

var (
	wasmeshRetPtrCell  = unsafe.Pointer(&wasmeshRetPtr)
	wasmeshRetSizeCell = (*int32)(unsafe.Pointer(&wasmeshRetSize))
)

// wasmeshResult moves a host-allocated result into the SDK's out-parameters:
// returnData points at the caller's *byte.
func wasmeshResult(st Status, returnData unsafe.Pointer, returnSize *int32) Status {
	if st != StatusOK {
		wasmeshTake(0, 0)
		return st
	}
	data, size := wasmeshTake(wasmeshRetPtr, wasmeshRetSize)
	*(**byte)(returnData) = data
	*returnSize = int32(size)
	return st
}

func ProxyGetProperty(pathData *byte, pathSize int32, returnValueData unsafe.Pointer, returnValueSize *int32) Status {
	st := wasmeshImportProxyGetProperty(pathData, pathSize, wasmeshRetPtrCell, wasmeshRetSizeCell)
	return wasmeshResult(st, returnValueData, returnValueSize)
}

func ProxyGetSharedData(keyData *byte, keySize int32, returnValueData unsafe.Pointer, returnValueSize *int32, returnCas *uint32) Status {
	st := wasmeshImportProxyGetSharedData(keyData, keySize, wasmeshRetPtrCell, wasmeshRetSizeCell, &wasmeshRetCas)
	*returnCas = wasmeshRetCas
	return wasmeshResult(st, returnValueData, returnValueSize)
}

func ProxyDequeueSharedQueue(queueID uint32, returnValueData unsafe.Pointer, returnValueSize *int32) Status {
	st := wasmeshImportProxyDequeueSharedQueue(queueID, wasmeshRetPtrCell, wasmeshRetSizeCell)
	return wasmeshResult(st, returnValueData, returnValueSize)
}

func ProxyGetHeaderMapValue(mapType MapType, keyData *byte, keySize int32, returnValueData unsafe.Pointer, returnValueSize *int32) Status {
	st := wasmeshImportProxyGetHeaderMapValue(mapType, keyData, keySize, wasmeshRetPtrCell, wasmeshRetSizeCell)
	return wasmeshResult(st, returnValueData, returnValueSize)
}

func ProxyGetHeaderMapPairs(mapType MapType, returnValueData unsafe.Pointer, returnValueSize *int32) Status {
	st := wasmeshImportProxyGetHeaderMapPairs(mapType, wasmeshRetPtrCell, wasmeshRetSizeCell)
	return wasmeshResult(st, returnValueData, returnValueSize)
}

func ProxyGetBufferBytes(bufferType BufferType, start int32, maxSize int32, returnBufferData unsafe.Pointer, returnBufferSize *int32) Status {
	st := wasmeshImportProxyGetBufferBytes(bufferType, start, maxSize, wasmeshRetPtrCell, wasmeshRetSizeCell)
	return wasmeshResult(st, returnBufferData, returnBufferSize)
}

func ProxyCallForeignFunction(funcNamePtr *byte, funcNameSize int32, paramPtr *byte, paramSize int32, returnData unsafe.Pointer, returnSize *int32) Status {
	st := wasmeshImportProxyCallForeignFunction(funcNamePtr, funcNameSize, paramPtr, paramSize, wasmeshRetPtrCell, wasmeshRetSizeCell)
	return wasmeshResult(st, returnData, returnSize)
}

func ProxyHttpCall(upstreamData *byte, upstreamSize int32, headerData *byte, headerSize int32,
	bodyData *byte, bodySize int32, trailersData *byte, trailersSize int32, timeout uint32, calloutIDPtr *uint32,
) Status {
	wasmeshRoot() // DispatchHttpCall registers the callout under the caller's root next
	st := wasmeshImportProxyHttpCall(upstreamData, upstreamSize, headerData, headerSize,
		bodyData, bodySize, trailersData, trailersSize, timeout, &wasmeshRetID)
	*calloutIDPtr = wasmeshRetID
	return st
}
