// Command trap panics in the request-headers callback when the request has an x-panic header, so one VM dies
// while the others live on.
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

func (*filter) OnHttpRequestHeaders(int, bool) types.Action {
	if v, err := proxywasm.GetHttpRequestHeader("x-panic"); err == nil && v != "" {
		panic("trap fixture: " + v)
	}
	_ = proxywasm.AddHttpRequestHeader("x-alive", "yes")
	return types.ActionContinue
}
