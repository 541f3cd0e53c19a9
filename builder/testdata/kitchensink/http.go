package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

type httpContext struct {
	types.DefaultHttpContext
	plugin *pluginContext
}

func (h *httpContext) OnHttpRequestHeaders(numHeaders int, endOfStream bool) types.Action {
	h.plugin.requests.Increment(1)
	h.plugin.inflight.Add(1)
	root, _ := proxywasm.GetProperty([]string{"plugin_root_id"})
	proxywasm.AddHttpRequestHeader("x-runtime", runtimeName())
	proxywasm.AddHttpRequestHeader("x-root-id", string(root))
	addExtraHeaders()
	if v, cas, err := proxywasm.GetSharedData("kitchensink.count"); err == nil {
		_ = proxywasm.SetSharedData("kitchensink.count", append(v, '+'), cas)
	}
	_ = proxywasm.EnqueueSharedQueue(h.plugin.queue, []byte("request"))
	if _, err := proxywasm.CallForeignFunction("compress", []byte("x")); err != nil {
		proxywasm.LogDebugf("foreign function: %v", err)
	}
	_ = proxywasm.SetProperty([]string{"upstream_cluster"}, []byte("backend"))
	return types.ActionContinue
}

func (h *httpContext) OnHttpRequestBody(bodySize int, endOfStream bool) types.Action {
	if !endOfStream {
		return types.ActionPause
	}
	body, err := proxywasm.GetHttpRequestBody(0, bodySize)
	if err == nil {
		h.plugin.sizes.Record(uint64(len(body)))
		_ = proxywasm.ReplaceHttpRequestBody(append([]byte("wrapped:"), body...))
	}
	return types.ActionContinue
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	_ = proxywasm.ReplaceHttpResponseHeader("server", "kitchensink")
	return types.ActionContinue
}

func (h *httpContext) OnHttpStreamDone() {
	h.plugin.inflight.Add(-1)
}
