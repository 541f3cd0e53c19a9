// Package filters holds wasmesh's proxy-wasm filters, one `package main` per folder, written against
// github.com/tetratelabs/proxy-wasm-go-sdk and built to Wasm with `wasmesh build` (no TinyGo).
//
// The filters live in a module of their own so that a Wasm build pulls in only the SDK and the few libraries a
// filter uses, never the proxy's or the operator's dependency graph.
package filters
