// Package abi holds the proxy-wasm application binary interface: the ABI versions, the names of the callbacks a
// module exports, the status codes and enums (MapType, BufferType, StreamType, Action, LogLevel, MetricType,
// PeerType), the header map type the data plane and the guest share, the decoders of guest-provided data (maps,
// property paths, buffer ranges; fuzzed), and the host-function table: the Host interface (one method per import)
// and Register, which installs it in a wazero runtime with stack-based Go functions.
//
// It knows nothing of VMs, pools or the data plane: the engine implements Host and imports this package, never the
// other way round.
//
//	v, ok := abi.VersionFromExport("proxy_abi_version_0_2_1") // abi.V0_2_1, true
//
//	r := wazero.NewRuntime(ctx)
//	_ = abi.RegisterWASI(ctx, r)                  // wasi_snapshot_preview1 and wasi_unstable
//	_ = abi.Register(ctx, r, func(ctx context.Context, m api.Module) abi.Host {
//		return hostOf(ctx) // the VM that is calling
//	})
package abi
