// Command envheader copies the guest's WASI environment variables REGION and MODE into request headers
// x-env-region and x-env-mode, so a test sees what environment the proxy gave the VM.
package main

import (
	"os"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetHttpContext(func(uint32) types.HttpContext { return &filter{} })
}

type filter struct{ types.DefaultHttpContext }

func (*filter) OnHttpRequestHeaders(int, bool) types.Action {
	_ = proxywasm.AddHttpRequestHeader("x-env-region", os.Getenv("REGION"))
	_ = proxywasm.AddHttpRequestHeader("x-env-mode", os.Getenv("MODE"))
	return types.ActionContinue
}
