//go:build wasmesh_bridge

// This file is injected by `wasmesh build` into a build-time copy of
// github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal, in place of the
// SDK's mock host (abi_hostcalls_mock.go), so that filters written for TinyGo
// compile with the standard Go toolchain (GOOS=wasip1 GOARCH=wasm). It is
// compiled at the SDK's language version (go 1.19): no newer syntax here. The
// out-parameter cells and the allocator it uses are zz_wasmesh_memory.go's.

package internal

// wasmeshResult moves a host-allocated result into the SDK's out-parameters.
func wasmeshResult(st uint32, returnData **byte, returnSize *int) Status {
	if Status(st) != StatusOK {
		wasmeshTake(0, 0)
		return Status(st)
	}
	*returnData, *returnSize = wasmeshTake(wasmeshRetPtr, wasmeshRetSize)
	return Status(st)
}

//go:wasmimport env proxy_log
func wasmeshProxyLog(level uint32, msg *byte, msgSize uint32) uint32

func ProxyLog(logLevel LogLevel, messageData *byte, messageSize int) Status {
	return Status(wasmeshProxyLog(uint32(logLevel), messageData, uint32(messageSize)))
}

//go:wasmimport env proxy_set_property
func wasmeshProxySetProperty(path *byte, pathSize uint32, value *byte, valueSize uint32) uint32

func ProxySetProperty(pathData *byte, pathSize int, valueData *byte, valueSize int) Status {
	return Status(wasmeshProxySetProperty(pathData, uint32(pathSize), valueData, uint32(valueSize)))
}

//go:wasmimport env proxy_get_property
func wasmeshProxyGetProperty(path *byte, pathSize uint32, retData *uint32, retSize *uint32) uint32

func ProxyGetProperty(pathData *byte, pathSize int, returnValueData **byte, returnValueSize *int) Status {
	st := wasmeshProxyGetProperty(pathData, uint32(pathSize), &wasmeshRetPtr, &wasmeshRetSize)
	return wasmeshResult(st, returnValueData, returnValueSize)
}

//go:wasmimport env proxy_send_local_response
func wasmeshProxySendLocalResponse(statusCode uint32, details *byte, detailsSize uint32,
	body *byte, bodySize uint32, headers *byte, headersSize uint32, grpcStatus int32) uint32

func ProxySendLocalResponse(statusCode uint32, statusCodeDetailData *byte, statusCodeDetailsSize int,
	bodyData *byte, bodySize int, headersData *byte, headersSize int, grpcStatus int32) Status {
	return Status(wasmeshProxySendLocalResponse(statusCode, statusCodeDetailData, uint32(statusCodeDetailsSize),
		bodyData, uint32(bodySize), headersData, uint32(headersSize), grpcStatus))
}

//go:wasmimport env proxy_get_shared_data
func wasmeshProxyGetSharedData(key *byte, keySize uint32, retData *uint32, retSize *uint32, retCas *uint32) uint32

func ProxyGetSharedData(keyData *byte, keySize int, returnValueData **byte, returnValueSize *int, returnCas *uint32) Status {
	st := wasmeshProxyGetSharedData(keyData, uint32(keySize), &wasmeshRetPtr, &wasmeshRetSize, &wasmeshRetCas)
	*returnCas = wasmeshRetCas
	return wasmeshResult(st, returnValueData, returnValueSize)
}

//go:wasmimport env proxy_set_shared_data
func wasmeshProxySetSharedData(key *byte, keySize uint32, value *byte, valueSize uint32, cas uint32) uint32

func ProxySetSharedData(keyData *byte, keySize int, valueData *byte, valueSize int, cas uint32) Status {
	return Status(wasmeshProxySetSharedData(keyData, uint32(keySize), valueData, uint32(valueSize), cas))
}

//go:wasmimport env proxy_register_shared_queue
func wasmeshProxyRegisterSharedQueue(name *byte, nameSize uint32, retID *uint32) uint32

func ProxyRegisterSharedQueue(nameData *byte, nameSize int, returnID *uint32) Status {
	st := wasmeshProxyRegisterSharedQueue(nameData, uint32(nameSize), &wasmeshRetID)
	*returnID = wasmeshRetID
	return Status(st)
}

//go:wasmimport env proxy_resolve_shared_queue
func wasmeshProxyResolveSharedQueue(vmID *byte, vmIDSize uint32, name *byte, nameSize uint32, retID *uint32) uint32

func ProxyResolveSharedQueue(vmIDData *byte, vmIDSize int, nameData *byte, nameSize int, returnID *uint32) Status {
	st := wasmeshProxyResolveSharedQueue(vmIDData, uint32(vmIDSize), nameData, uint32(nameSize), &wasmeshRetID)
	*returnID = wasmeshRetID
	return Status(st)
}

//go:wasmimport env proxy_dequeue_shared_queue
func wasmeshProxyDequeueSharedQueue(queueID uint32, retData *uint32, retSize *uint32) uint32

func ProxyDequeueSharedQueue(queueID uint32, returnValueData **byte, returnValueSize *int) Status {
	st := wasmeshProxyDequeueSharedQueue(queueID, &wasmeshRetPtr, &wasmeshRetSize)
	return wasmeshResult(st, returnValueData, returnValueSize)
}

//go:wasmimport env proxy_enqueue_shared_queue
func wasmeshProxyEnqueueSharedQueue(queueID uint32, value *byte, valueSize uint32) uint32

func ProxyEnqueueSharedQueue(queueID uint32, valueData *byte, valueSize int) Status {
	return Status(wasmeshProxyEnqueueSharedQueue(queueID, valueData, uint32(valueSize)))
}

//go:wasmimport env proxy_get_header_map_value
func wasmeshProxyGetHeaderMapValue(mapType uint32, key *byte, keySize uint32, retData *uint32, retSize *uint32) uint32

func ProxyGetHeaderMapValue(mapType MapType, keyData *byte, keySize int, returnValueData **byte, returnValueSize *int) Status {
	st := wasmeshProxyGetHeaderMapValue(uint32(mapType), keyData, uint32(keySize), &wasmeshRetPtr, &wasmeshRetSize)
	return wasmeshResult(st, returnValueData, returnValueSize)
}

//go:wasmimport env proxy_add_header_map_value
func wasmeshProxyAddHeaderMapValue(mapType uint32, key *byte, keySize uint32, value *byte, valueSize uint32) uint32

func ProxyAddHeaderMapValue(mapType MapType, keyData *byte, keySize int, valueData *byte, valueSize int) Status {
	return Status(wasmeshProxyAddHeaderMapValue(uint32(mapType), keyData, uint32(keySize), valueData, uint32(valueSize)))
}

//go:wasmimport env proxy_replace_header_map_value
func wasmeshProxyReplaceHeaderMapValue(mapType uint32, key *byte, keySize uint32, value *byte, valueSize uint32) uint32

func ProxyReplaceHeaderMapValue(mapType MapType, keyData *byte, keySize int, valueData *byte, valueSize int) Status {
	return Status(wasmeshProxyReplaceHeaderMapValue(uint32(mapType), keyData, uint32(keySize), valueData, uint32(valueSize)))
}

//go:wasmimport env proxy_remove_header_map_value
func wasmeshProxyRemoveHeaderMapValue(mapType uint32, key *byte, keySize uint32) uint32

func ProxyRemoveHeaderMapValue(mapType MapType, keyData *byte, keySize int) Status {
	return Status(wasmeshProxyRemoveHeaderMapValue(uint32(mapType), keyData, uint32(keySize)))
}

//go:wasmimport env proxy_get_header_map_pairs
func wasmeshProxyGetHeaderMapPairs(mapType uint32, retData *uint32, retSize *uint32) uint32

func ProxyGetHeaderMapPairs(mapType MapType, returnValueData **byte, returnValueSize *int) Status {
	st := wasmeshProxyGetHeaderMapPairs(uint32(mapType), &wasmeshRetPtr, &wasmeshRetSize)
	return wasmeshResult(st, returnValueData, returnValueSize)
}

//go:wasmimport env proxy_set_header_map_pairs
func wasmeshProxySetHeaderMapPairs(mapType uint32, data *byte, size uint32) uint32

func ProxySetHeaderMapPairs(mapType MapType, mapData *byte, mapSize int) Status {
	return Status(wasmeshProxySetHeaderMapPairs(uint32(mapType), mapData, uint32(mapSize)))
}

//go:wasmimport env proxy_get_buffer_bytes
func wasmeshProxyGetBufferBytes(bufferType uint32, start uint32, maxSize uint32, retData *uint32, retSize *uint32) uint32

func ProxyGetBufferBytes(bufferType BufferType, start int, maxSize int, returnBufferData **byte, returnBufferSize *int) Status {
	st := wasmeshProxyGetBufferBytes(uint32(bufferType), uint32(start), uint32(maxSize), &wasmeshRetPtr, &wasmeshRetSize)
	return wasmeshResult(st, returnBufferData, returnBufferSize)
}

//go:wasmimport env proxy_set_buffer_bytes
func wasmeshProxySetBufferBytes(bufferType uint32, start uint32, maxSize uint32, data *byte, size uint32) uint32

func ProxySetBufferBytes(bufferType BufferType, start int, maxSize int, bufferData *byte, bufferSize int) Status {
	return Status(wasmeshProxySetBufferBytes(uint32(bufferType), uint32(start), uint32(maxSize), bufferData, uint32(bufferSize)))
}

//go:wasmimport env proxy_continue_stream
func wasmeshProxyContinueStream(streamType uint32) uint32

func ProxyContinueStream(streamType StreamType) Status {
	return Status(wasmeshProxyContinueStream(uint32(streamType)))
}

//go:wasmimport env proxy_close_stream
func wasmeshProxyCloseStream(streamType uint32) uint32

func ProxyCloseStream(streamType StreamType) Status {
	return Status(wasmeshProxyCloseStream(uint32(streamType)))
}

//go:wasmimport env proxy_http_call
func wasmeshProxyHttpCall(upstream *byte, upstreamSize uint32, headers *byte, headersSize uint32,
	body *byte, bodySize uint32, trailers *byte, trailersSize uint32, timeout uint32, retID *uint32) uint32

func ProxyHttpCall(upstreamData *byte, upstreamSize int, headerData *byte, headerSize int,
	bodyData *byte, bodySize int, trailersData *byte, trailersSize int, timeout uint32, calloutIDPtr *uint32,
) Status {
	wasmeshRoot() // DispatchHttpCall registers the callout under the caller's root next
	st := wasmeshProxyHttpCall(upstreamData, uint32(upstreamSize), headerData, uint32(headerSize),
		bodyData, uint32(bodySize), trailersData, uint32(trailersSize), timeout, &wasmeshRetID)
	*calloutIDPtr = wasmeshRetID
	return Status(st)
}

//go:wasmimport env proxy_call_foreign_function
func wasmeshProxyCallForeignFunction(name *byte, nameSize uint32, param *byte, paramSize uint32, retData *uint32, retSize *uint32) uint32

func ProxyCallForeignFunction(funcNamePtr *byte, funcNameSize int, paramPtr *byte, paramSize int, returnData **byte, returnSize *int) Status {
	st := wasmeshProxyCallForeignFunction(funcNamePtr, uint32(funcNameSize), paramPtr, uint32(paramSize), &wasmeshRetPtr, &wasmeshRetSize)
	return wasmeshResult(st, returnData, returnSize)
}

//go:wasmimport env proxy_set_tick_period_milliseconds
func wasmeshProxySetTickPeriodMilliseconds(period uint32) uint32

func ProxySetTickPeriodMilliseconds(period uint32) Status {
	return Status(wasmeshProxySetTickPeriodMilliseconds(period))
}

//go:wasmimport env proxy_set_effective_context
func wasmeshProxySetEffectiveContext(contextID uint32) uint32

func ProxySetEffectiveContext(contextID uint32) Status {
	return Status(wasmeshProxySetEffectiveContext(contextID))
}

//go:wasmimport env proxy_done
func wasmeshProxyDone() uint32

func ProxyDone() Status {
	return Status(wasmeshProxyDone())
}

//go:wasmimport env proxy_define_metric
func wasmeshProxyDefineMetric(metricType uint32, name *byte, nameSize uint32, retID *uint32) uint32

func ProxyDefineMetric(metricType MetricType, metricNameData *byte, metricNameSize int, returnMetricIDPtr *uint32) Status {
	st := wasmeshProxyDefineMetric(uint32(metricType), metricNameData, uint32(metricNameSize), &wasmeshRetID)
	*returnMetricIDPtr = wasmeshRetID
	return Status(st)
}

//go:wasmimport env proxy_increment_metric
func wasmeshProxyIncrementMetric(metricID uint32, offset int64) uint32

func ProxyIncrementMetric(metricID uint32, offset int64) Status {
	return Status(wasmeshProxyIncrementMetric(metricID, offset))
}

//go:wasmimport env proxy_record_metric
func wasmeshProxyRecordMetric(metricID uint32, value uint64) uint32

func ProxyRecordMetric(metricID uint32, value uint64) Status {
	return Status(wasmeshProxyRecordMetric(metricID, value))
}

//go:wasmimport env proxy_get_metric
func wasmeshProxyGetMetric(metricID uint32, retValue *uint64) uint32

func ProxyGetMetric(metricID uint32, returnMetricValue *uint64) Status {
	st := wasmeshProxyGetMetric(metricID, &wasmeshRetU64)
	*returnMetricValue = wasmeshRetU64
	return Status(st)
}
