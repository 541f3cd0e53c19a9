// Command headers is the minimal header filter of the host benchmarks: it reads five request headers, adds one,
// answers 403 locally when x-deny is present, and adds one response header. It also implements an empty
// request-trailers callback: the engine skips callbacks left to the SDK's defaults (wasmesh build declares them), so
// BenchmarkEmptyCallback needs one the filter implements to measure a round trip into the guest.
package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetHttpContext(func(uint32) types.HttpContext { return &filter{} })
}

type filter struct{ types.DefaultHttpContext }

var names = [...]string{":path", ":method", ":authority", "user-agent", "x-deny"}

func (*filter) OnHttpRequestHeaders(int, bool) types.Action {
	var deny bool
	for _, n := range names {
		v, err := proxywasm.GetHttpRequestHeader(n)
		if n == "x-deny" && err == nil && v != "" {
			deny = true
		}
	}
	if deny {
		_ = proxywasm.SendHttpResponse(403, [][2]string{{"x-denied-by", "wasm"}}, []byte("denied"), -1)
		return types.ActionPause
	}
	_ = proxywasm.AddHttpRequestHeader("x-wasm", "seen")
	return types.ActionContinue
}

func (*filter) OnHttpResponseHeaders(int, bool) types.Action {
	_ = proxywasm.AddHttpResponseHeader("x-wasm-response", "1")
	return types.ActionContinue
}

// OnHttpRequestTrailers does nothing on purpose (see the package comment).
func (*filter) OnHttpRequestTrailers(int) types.Action { return types.ActionContinue }
