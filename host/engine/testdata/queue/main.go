// Command queue registers the shared queue "paths"; each request enqueues its path, and the root context, told by
// proxy_on_queue_ready, dequeues everything and stores the last item in shared data under "last-path".
package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetPluginContext(func(uint32) types.PluginContext { return &plugin{} })
}

type plugin struct {
	types.DefaultPluginContext
	queue uint32
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	id, err := proxywasm.RegisterSharedQueue("paths")
	if err != nil {
		proxywasm.LogCriticalf("register queue: %v", err)
		return types.OnPluginStartStatusFailed
	}
	p.queue = id
	return types.OnPluginStartStatusOK
}

func (p *plugin) OnQueueReady(id uint32) {
	for {
		item, err := proxywasm.DequeueSharedQueue(id)
		if err != nil {
			return
		}
		_ = proxywasm.SetSharedData("last-path", item, 0)
	}
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &filter{} }

type filter struct{ types.DefaultHttpContext }

func (*filter) OnHttpRequestHeaders(int, bool) types.Action {
	id, err := proxywasm.ResolveSharedQueue("", "paths")
	if err != nil {
		proxywasm.LogErrorf("resolve: %v", err)
		return types.ActionContinue
	}
	path, _ := proxywasm.GetHttpRequestHeader(":path")
	_ = proxywasm.EnqueueSharedQueue(id, []byte(path))
	return types.ActionContinue
}
