// Package filters runs wasmesh's filters (filters/auth, filters/ratelimit, filters/dubbo-routing) as compiled Wasm
// in wasmesh's own host engine: each filter is built with the builder (standard Go toolchain, no TinyGo) and the
// scenarios in filters/<name>/testdata/scenarios.json, which the filter package also runs natively in the
// proxytest emulator, are replayed against it. Its benchmarks measure one request through the compiled filter.
//
//	go test ./test/filters/                       # scenarios in the host
//	go test ./test/filters/ -run x -bench .       # per-request cost in the host
//
// The package has tests only; this file holds its documentation.
package filters
