// Command loop spins forever in the request-headers callback when asked to (x-loop header), for the CPU deadline.
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

var sink int

func (*filter) OnHttpRequestHeaders(int, bool) types.Action {
	if v, err := proxywasm.GetHttpRequestHeader("x-loop"); err == nil && v != "" {
		for {
			sink++
		}
	}
	return types.ActionContinue
}
