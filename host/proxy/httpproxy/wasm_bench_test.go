package httpproxy

import (
	"context"
	"testing"

	"github.com/wasmesh/wasmesh/host/engine"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm/wasmtest"
	"github.com/wasmesh/wasmesh/host/proxy/module"
)

// wasmHeaderFilter builds the host benchmarks' header filter (host/engine/testdata/headers: five header reads,
// one request and one response header added) as the proxy's wasm kind, with the given options.
func wasmHeaderFilter(tb testing.TB, options string) []filter.Entry {
	return wasmFilter(tb, "../../engine/testdata/headers", options)
}

// wasmFilter builds the proxy-wasm filter in dir (with the wasmesh builder, cached) as the proxy's wasm kind.
func wasmFilter(tb testing.TB, dir, options string) []filter.Entry {
	tb.Helper()
	path := wasmtest.Build(tb, dir)
	eng, err := engine.New(engine.Config{CacheDir: wasmtest.CompileCache(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { eng.Close(context.Background()) })
	reg, err := filter.NewRegistry(wasm.Kind(eng, module.Default(nil)))
	if err != nil {
		tb.Fatal(err)
	}
	f, err := reg.Build(context.Background(), filter.Spec{Name: "hdr", Kind: wasm.KindName,
		Module: filter.ModuleRef{URL: "file://" + path}, Options: []byte(options)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.(filter.Closer).Close(context.Background()) })
	return []filter.Entry{{Name: "hdr", Kind: wasm.KindName, Filter: f}}
}

// BenchmarkHandlerWasmHeaders is the proxy's cost of one Wasm header filter: the no-filter handler work plus the
// binding (engine stream, header pairs, write-back) and the guest. "nodeadline" turns the engine's per-callback
// CPU deadline off, to separate its cost from the binding's.
func BenchmarkHandlerWasmHeaders(b *testing.B) {
	for _, bc := range []struct{ name, options string }{
		{"deadline", `{"callbacks":["request_headers","response_headers"]}`},
		{"nodeadline", `{"callbacks":["request_headers","response_headers"],"call_timeout":"-1s"}`},
	} {
		b.Run(bc.name, func(b *testing.B) { benchmarkHandler(b, wasmHeaderFilter(b, bc.options)) })
	}
}
