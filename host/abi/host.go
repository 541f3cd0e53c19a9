package abi

import (
	"context"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Host is the host-function table: one method per proxy-wasm import, taking decoded arguments. The functions
// Register installs read the guest's pointers and lengths, call these methods, and write results back through
// Allocate, so an implementation never touches guest memory itself.
//
// Byte slices passed in alias guest memory and are valid only during the call: copy what you keep. Byte slices and
// Headers returned are copied into the guest before the next call, so they may alias host state.
//
// A Host belongs to one VM and is only called from that VM's goroutine, so implementations need no locking of
// their own state.
type Host interface {
	// Allocate reserves size bytes of guest memory with the module's allocator.
	Allocate(size uint32) (ptr uint32, err error)

	Log(level LogLevel, msg []byte) Status
	GetLogLevel() (LogLevel, Status)
	GetCurrentTimeNanoseconds() uint64
	SetTickPeriodMilliseconds(ms uint32) Status
	SetEffectiveContext(contextID uint32) Status
	Done() Status

	GetBufferBytes(bt BufferType, start, maxSize uint32) ([]byte, Status)
	GetBufferStatus(bt BufferType) (length, flags uint32, st Status)
	SetBufferBytes(bt BufferType, start, size uint32, data []byte) Status

	// GetHeaderMapPairs returns the whole map; GetHeaderMapSize its encoded size (see Headers.SerializedSize).
	GetHeaderMapPairs(mt MapType) (Headers, Status)
	GetHeaderMapSize(mt MapType) (uint32, Status)
	GetHeaderMapValue(mt MapType, key []byte) (string, Status)
	SetHeaderMapPairs(mt MapType, h Headers) Status
	AddHeaderMapValue(mt MapType, key, value []byte) Status
	ReplaceHeaderMapValue(mt MapType, key, value []byte) Status
	RemoveHeaderMapValue(mt MapType, key []byte) Status

	// GetProperty and SetProperty take the path as the guest sent it: segments separated by NUL bytes.
	GetProperty(path []byte) ([]byte, Status)
	SetProperty(path, value []byte) Status

	GetSharedData(key []byte) (value []byte, cas uint32, st Status)
	SetSharedData(key, value []byte, cas uint32) Status
	RegisterSharedQueue(name []byte) (uint32, Status)
	ResolveSharedQueue(vmID, name []byte) (uint32, Status)
	DequeueSharedQueue(queueID uint32) ([]byte, Status)
	EnqueueSharedQueue(queueID uint32, data []byte) Status

	ContinueStream(st StreamType) Status
	CloseStream(st StreamType) Status
	GetStatus() (code uint32, msg []byte, st Status)
	SendLocalResponse(code uint32, details, body []byte, headers Headers, grpcStatus int32) Status

	HTTPCall(upstream []byte, headers Headers, body []byte, trailers Headers, timeoutMillis uint32) (uint32, Status)
	GRPCCall(upstream, service, method []byte, metadata Headers, msg []byte, timeoutMillis uint32) (uint32, Status)
	GRPCStream(upstream, service, method []byte, metadata Headers) (uint32, Status)
	GRPCSend(token uint32, msg []byte, endOfStream bool) Status
	GRPCCancel(token uint32) Status
	GRPCClose(token uint32) Status

	DefineMetric(t MetricType, name []byte) (uint32, Status)
	IncrementMetric(id uint32, offset int64) Status
	RecordMetric(id uint32, value uint64) Status
	GetMetric(id uint32) (uint64, Status)

	CallForeignFunction(name, args []byte) ([]byte, Status)
}

// Resolver finds the Host of the VM a host function was called from. It runs on every host call, so it must be
// cheap (the engine keeps its VM in the context it calls the guest with).
type Resolver func(ctx context.Context, mod api.Module) Host

// GuestAbort is the panic value of the AssemblyScript runtime's env.abort import; the guest's call fails with it.
type GuestAbort struct{ Message string }

func (a *GuestAbort) Error() string { return "guest abort: " + a.Message }

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// Register installs the proxy-wasm host functions (every ABI version's names) as the "env" host module of r.
// The guest side of AssemblyScript's runtime also imports env.abort, env.trace and env.seed, so they are here too.
func Register(ctx context.Context, r wazero.Runtime, resolve Resolver) error {
	b := r.NewHostModuleBuilder(ImportModule)
	t := &table{resolve: resolve}
	for _, f := range t.functions() {
		b.NewFunctionBuilder().WithGoModuleFunction(f.fn, f.params, f.results).WithName(f.name).Export(f.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// ImportNames lists every host function Register provides, for tools that check a module's imports before loading.
func ImportNames() []string {
	fs := (&table{}).functions()
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return out
}

// RegisterWASI instantiates WASI preview 1 in r under both names modules import it by: wasi_snapshot_preview1
// (Go, Rust, TinyGo, C) and wasi_unstable (AssemblyScript and older toolchains). The function sets are the same;
// the few signature differences of the older snapshot (fd_seek whence, filestat layout) are not used by
// proxy-wasm guests.
func RegisterWASI(ctx context.Context, r wazero.Runtime) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
		return err
	}
	b := r.NewHostModuleBuilder(WASIUnstable)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	_, err := b.Instantiate(ctx)
	return err
}
