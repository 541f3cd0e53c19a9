// A filter written for TinyGo against proxy-wasm-go-sdk v0.24.0, unchanged: the builder must compile it with
// the standard Go toolchain.
package main

import (
	"strings"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {
	proxywasm.SetVMContext(&vmContext{})
}

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(contextID uint32) types.PluginContext {
	return &pluginContext{}
}

type pluginContext struct {
	types.DefaultPluginContext
	greeting string
}

func (p *pluginContext) OnPluginStart(pluginConfigurationSize int) types.OnPluginStartStatus {
	cfg, err := proxywasm.GetPluginConfiguration()
	if err != nil && pluginConfigurationSize > 0 {
		proxywasm.LogCriticalf("read configuration: %v", err)
		return types.OnPluginStartStatusFailed
	}
	p.greeting = string(cfg)
	if p.greeting == "fail" {
		proxywasm.LogError("configuration says fail")
		return types.OnPluginStartStatusFailed
	}
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) NewHttpContext(contextID uint32) types.HttpContext {
	return &httpContext{greeting: p.greeting}
}

type httpContext struct {
	types.DefaultHttpContext
	greeting string
}

func (h *httpContext) OnHttpRequestHeaders(numHeaders int, endOfStream bool) types.Action {
	user, err := proxywasm.GetHttpRequestHeader("x-user")
	if err != nil {
		proxywasm.LogWarnf("no x-user header: %v", err)
		if err := proxywasm.SendHttpResponse(401, [][2]string{{"www-authenticate", "demo"}}, []byte("who are you?"), -1); err != nil {
			proxywasm.LogErrorf("send 401: %v", err)
		}
		return types.ActionPause
	}
	pairs, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		proxywasm.LogErrorf("read headers: %v", err)
	}
	keys := make([]string, 0, len(pairs))
	for _, kv := range pairs {
		keys = append(keys, kv[0])
	}
	proxywasm.AddHttpRequestHeader("x-greeting", h.greeting+", "+user)
	proxywasm.ReplaceHttpRequestHeader("x-seen", strings.Join(keys, ","))
	proxywasm.LogInfof("greeted %s (%d headers)", user, numHeaders)
	return types.ActionContinue
}
