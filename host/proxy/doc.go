// Package proxy is the wasmesh data plane process: it loads proxy.yaml, builds listeners, routes, clusters and
// filter chains into an immutable generation, serves it, and replaces it on reload (file change, SIGHUP, admin
// POST /reload) without dropping a request: the new generation is built and started off the request path,
// swapped in atomically, and the old one is closed after its last stream. A generation that fails to build is
// never swapped in; the old one keeps serving and the error is reported.
//
//	reg, _ := filter.NewRegistry(header.Kind(), apikey.Kind())
//	srv, err := proxy.New(ctx, proxy.Options{ConfigPath: "proxy.yaml", Registry: reg, Logger: logger})
//	if err != nil { return err } // invalid config: refuse to start
//	return srv.Start(ctx)         // blocks; ctx end drains listeners within drain_timeout
//
// Sub-packages: config (proxy.yaml), filter (the filter interface and chain), route, cluster, httpproxy
// (listener and handler), admin, metrics, drain (reference counts), module (Wasm module sources), headerops.
package proxy
