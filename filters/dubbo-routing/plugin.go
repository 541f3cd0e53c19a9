package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/wasmesh/wasmesh/filters/internal/pluginconfig"
	"github.com/wasmesh/wasmesh/filters/internal/request"
)

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct {
	types.DefaultPluginContext
	rt      *router
	metrics *metricSet
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	rt, ok := pluginconfig.Load("dubbo-routing", compile)
	if !ok {
		return types.OnPluginStartStatusFailed
	}
	p.rt = rt
	p.metrics = newMetricSet(rt, hostCounter)
	proxywasm.LogInfof("dubbo-routing: configured: %d routes", len(rt.routes))
	return types.OnPluginStartStatusOK
}

func hostCounter(name string) counter { return proxywasm.DefineCounterMetric(name) }

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext { return &httpContext{plugin: p} }

type httpContext struct {
	types.DefaultHttpContext
	plugin *pluginContext
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	p := h.plugin
	// One call for the whole map: every host call that returns data also calls back into the guest to allocate,
	// so fetching :method first and then the map would cost two.
	headers, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		proxywasm.LogErrorf("dubbo-routing: read request headers: %v", err)
		return types.ActionContinue
	}
	req := request.New(headers, "")
	if !req.Dubbo {
		return types.ActionContinue // not a Dubbo stream: untouched
	}
	d := p.rt.Decide(&req, randomN)
	p.metrics.count(req.Service, req.DubboMethod, d)
	if d.Route < 0 {
		return types.ActionContinue
	}
	p.rt.edit(d.Route, &req, removeAttachment, setAttachment)
	if err := proxywasm.SetProperty(upstreamCluster, p.rt.routes[d.Route].clusterBytes[d.Choice]); err != nil {
		proxywasm.LogErrorf("dubbo-routing: route %q: set upstream_cluster %q: %v; the route's default cluster is used",
			p.rt.routes[d.Route].name, d.Cluster, err)
	}
	return types.ActionContinue
}

// upstreamCluster is the property path the data plane reads the chosen cluster from.
var upstreamCluster = []string{"upstream_cluster"}

func removeAttachment(name string) { _ = proxywasm.RemoveHttpRequestHeader(name) }

func setAttachment(name, value string) {
	if err := proxywasm.ReplaceHttpRequestHeader(name, value); err != nil {
		proxywasm.LogErrorf("dubbo-routing: set attachment %s: %v", name, err)
	}
}
