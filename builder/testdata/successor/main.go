// A filter on the successor SDK, which is a native Go reactor: it registers in init and builds without a bridge.
package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetVMContext(&vmContext{})
}

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(contextID uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct{ types.DefaultPluginContext }

func (*pluginContext) NewHttpContext(contextID uint32) types.HttpContext { return &httpContext{} }

type httpContext struct{ types.DefaultHttpContext }

func (*httpContext) OnHttpRequestHeaders(numHeaders int, endOfStream bool) types.Action {
	user, err := proxywasm.GetHttpRequestHeader("x-user")
	if err != nil {
		user = "nobody"
	}
	proxywasm.AddHttpRequestHeader("x-greeting", "hi, "+user)
	proxywasm.LogInfof("greeted %s", user)
	return types.ActionContinue
}
