package abi

// Status is the result code every proxy-wasm host function returns to the guest (WasmResult in the spec).
type Status uint32

// Status codes shared by ABI 0.1.0 to 0.2.1.
const (
	StatusOK                   Status = 0
	StatusNotFound             Status = 1
	StatusBadArgument          Status = 2
	StatusSerializationFailure Status = 3
	StatusParseFailure         Status = 4
	StatusBadExpression        Status = 5
	StatusInvalidMemoryAccess  Status = 6
	StatusEmpty                Status = 7
	StatusCasMismatch          Status = 8
	StatusResultMismatch       Status = 9
	StatusInternalFailure      Status = 10
	StatusBrokenConnection     Status = 11
	StatusUnimplemented        Status = 12
)

var statusNames = [...]string{
	"OK", "NOT_FOUND", "BAD_ARGUMENT", "SERIALIZATION_FAILURE", "PARSE_FAILURE", "BAD_EXPRESSION",
	"INVALID_MEMORY_ACCESS", "EMPTY", "CAS_MISMATCH", "RESULT_MISMATCH", "INTERNAL_FAILURE", "BROKEN_CONNECTION",
	"UNIMPLEMENTED",
}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "UNKNOWN_STATUS"
}

// MapType selects which header map a host function works on.
type MapType uint32

// Header map types.
const (
	MapHTTPRequestHeaders          MapType = 0
	MapHTTPRequestTrailers         MapType = 1
	MapHTTPResponseHeaders         MapType = 2
	MapHTTPResponseTrailers        MapType = 3
	MapGRPCReceiveInitialMetadata  MapType = 4
	MapGRPCReceiveTrailingMetadata MapType = 5
	MapHTTPCallResponseHeaders     MapType = 6
	MapHTTPCallResponseTrailers    MapType = 7
)

// BufferType selects which byte buffer a host function works on.
type BufferType uint32

// Buffer types.
const (
	BufferHTTPRequestBody      BufferType = 0
	BufferHTTPResponseBody     BufferType = 1
	BufferDownstreamData       BufferType = 2
	BufferUpstreamData         BufferType = 3
	BufferHTTPCallResponseBody BufferType = 4
	BufferGRPCReceive          BufferType = 5
	BufferVMConfiguration      BufferType = 6
	BufferPluginConfiguration  BufferType = 7
	BufferCallData             BufferType = 8
)

// StreamType names a direction of a stream for proxy_continue_stream and proxy_close_stream.
type StreamType uint32

// Stream types.
const (
	StreamRequest    StreamType = 0
	StreamResponse   StreamType = 1
	StreamDownstream StreamType = 2
	StreamUpstream   StreamType = 3
)

// Action is what a stream callback asks the proxy to do next.
type Action uint32

// Actions. Everything but ActionContinue stops iteration until the module resumes the stream.
const (
	ActionContinue                     Action = 0
	ActionPause                        Action = 1
	ActionEndStream                    Action = 2
	ActionStopAllIterationAndBuffer    Action = 3
	ActionStopAllIterationAndWatermark Action = 4
)

// LogLevel is the level of a guest log message.
type LogLevel uint32

// Log levels.
const (
	LogTrace    LogLevel = 0
	LogDebug    LogLevel = 1
	LogInfo     LogLevel = 2
	LogWarn     LogLevel = 3
	LogError    LogLevel = 4
	LogCritical LogLevel = 5
)

// MetricType is the kind of a metric a module defines.
type MetricType uint32

// Metric types.
const (
	MetricCounter   MetricType = 0
	MetricGauge     MetricType = 1
	MetricHistogram MetricType = 2
)

func (t MetricType) String() string {
	switch t {
	case MetricCounter:
		return "counter"
	case MetricGauge:
		return "gauge"
	case MetricHistogram:
		return "histogram"
	}
	return "unknown"
}

// PeerType says which side closed an L4 connection.
type PeerType uint32

// Peer types.
const (
	PeerUnknown PeerType = 0
	PeerLocal   PeerType = 1
	PeerRemote  PeerType = 2
)

// BufferFlagEndOfStream is set in proxy_get_buffer_status flags when the buffer holds the last bytes of a stream.
const BufferFlagEndOfStream uint32 = 1

// ImportModule is the module name every proxy-wasm host function is imported from.
const ImportModule = "env"

// WASI module names: wasi_unstable is what AssemblyScript and older toolchains import.
const (
	WASISnapshotPreview1 = "wasi_snapshot_preview1"
	WASIUnstable         = "wasi_unstable"
)
