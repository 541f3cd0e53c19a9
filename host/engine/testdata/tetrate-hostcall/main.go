// Command tetrate-hostcall times host calls from a filter on github.com/tetratelabs/proxy-wasm-go-sdk v0.24.0 built
// by the wasmesh builder: proxy_on_request_body(n) reads the request's :path n times (a host call that returns
// data, so the host calls back into the guest's allocator, or fills the bridge's arena), and
// proxy_on_response_body(n) asks n times for a header that is absent (a host call that returns no data).
package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {
	proxywasm.SetVMContext(&vmContext{})
}

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct{ types.DefaultPluginContext }

func (*plugin) NewHttpContext(uint32) types.HttpContext { return &filter{} }

type filter struct{ types.DefaultHttpContext }

var sink int

func (*filter) OnHttpRequestBody(n int, _ bool) types.Action {
	for i := 0; i < n; i++ {
		v, err := proxywasm.GetHttpRequestHeader(":path")
		if err != nil {
			panic(err)
		}
		sink += len(v)
	}
	return types.ActionContinue
}

func (*filter) OnHttpResponseBody(n int, _ bool) types.Action {
	for i := 0; i < n; i++ {
		if _, err := proxywasm.GetHttpRequestHeader("x-absent"); err == nil {
			panic("x-absent is present")
		}
	}
	return types.ActionContinue
}
