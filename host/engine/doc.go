// Package engine runs proxy-wasm modules for a data plane, on wazero.
//
// An Engine compiles each module once per digest (sha256 of its bytes), with an optional on-disk cache so a
// restart does not recompile. A Plugin is a module plus configuration and a root context; plugins with the same
// vm id and code share a bounded pool of VMs (module instances), one root context each. A stream (HTTPStream or
// TCPStream) is pinned to one VM for its life; a VM runs one callback at a time.
//
//	eng, _ := engine.New(engine.Config{CacheDir: dir, Caller: clusters, Logger: log})
//	mod, _ := eng.Compile(ctx, wasm)
//	p, err := eng.NewPlugin(ctx, engine.PluginConfig{Module: mod, Name: "authz", RootID: "authz", VMID: "edge",
//		Configuration: cfg, FailStrategy: engine.FailClose, PoolSize: 4})
//	go p.Start(ctx) // tickers
//
//	s, _ := p.NewHTTPStream(r.Context(), engine.StreamInfo{Properties: props})
//	defer s.Done()
//	if s.OnRequestHeaders(&hdrs, endOfStream) == abi.ActionPause {
//		_ = s.Wait(r.Context()) // an HTTP call, a timer... until proxy_continue_stream or a local response
//	}
//	if lr := s.LocalResponse(); lr != nil { /* answer with lr.StatusCode, lr.Headers, lr.Body */ }
//	cluster, _ := s.Property("upstream_cluster")
//
// What the data plane supplies:
//
//   - Header maps and trailers as *abi.Headers, bodies and L4 data as *[]byte. The stream keeps the pointers until
//     Done; the module edits them in place (reuse the backing arrays across requests).
//   - StreamInfo.Properties for request.*, response.*, source.*, destination.*, connection.*, upstream.* (dotted
//     paths, Envoy encodings); Config.Properties for node.*. The engine itself answers plugin_name,
//     plugin_root_id, plugin_vm_id, and whatever the module set on the stream with proxy_set_property.
//   - Config.Caller for proxy_http_call, proxy_grpc_call if it also implements GRPCCaller, and
//     proxy_grpc_stream/send/close/cancel if it implements GRPCStreamer (responses go back through
//     GRPCStreamEvents, in order, to the VM and root context that opened the stream). Package grpcclient
//     implements both gRPC sides with grpc-go.
//   - Config.ForeignFunctions for proxy_call_foreign_function; Plugin.ForeignEvent to push an event to the
//     plugin's proxy_on_foreign_function.
//
// Dubbo and other non-HTTP request/response protocols are HTTP-like streams: nothing here assumes HTTP pseudo
// headers. Metrics the modules define are read through Engine.Metrics.
//
// Failures (trap, Go panic, proc_exit, out of memory, CPU deadline) kill only the VM they happen in; the plugin's
// FailStrategy decides what its streams see. The CPU deadline costs two atomic stores per callback: modules are
// loop-guarded at compile time (package loopguard) and one watchdog goroutine per engine stops overrunning calls. Errors are *Error values wrapping one of the Err* kinds. See
// RATIONALE.md for the pool bound, stream affinity and fail strategies.
package engine
