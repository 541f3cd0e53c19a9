// Command body buffers the request body until its end and upper-cases it, and appends a marker to the response body.
package main

import (
	"bytes"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetHttpContext(func(uint32) types.HttpContext { return &filter{} })
}

type filter struct{ types.DefaultHttpContext }

func (*filter) OnHttpRequestBody(size int, end bool) types.Action {
	if !end {
		return types.ActionPause
	}
	b, err := proxywasm.GetHttpRequestBody(0, size)
	if err != nil {
		proxywasm.LogErrorf("get body: %v", err)
		return types.ActionContinue
	}
	_ = proxywasm.ReplaceHttpRequestBody(bytes.ToUpper(b))
	return types.ActionContinue
}

func (*filter) OnHttpResponseBody(size int, end bool) types.Action {
	if end {
		_ = proxywasm.AppendHttpResponseBody([]byte(" [wasm]"))
	}
	return types.ActionContinue
}
