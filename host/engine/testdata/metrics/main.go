// Command metrics defines a counter, a gauge and a histogram with Envoy-style tagged names, bumps them per request
// and echoes the counter's value (read back through proxy_get_metric) in x-requests.
package main

import (
	"strconv"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetPluginContext(func(uint32) types.PluginContext { return &plugin{} })
}

type plugin struct {
	types.DefaultPluginContext
	requests proxywasm.MetricCounter
	inflight proxywasm.MetricGauge
	sizes    proxywasm.MetricHistogram
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	p.requests = proxywasm.DefineCounterMetric("wasmcustom.requests_total.method=GET")
	p.inflight = proxywasm.DefineGaugeMetric("wasmcustom.inflight")
	p.sizes = proxywasm.DefineHistogramMetric("wasmcustom.path_length")
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &filter{p: p} }

type filter struct {
	types.DefaultHttpContext
	p *plugin
}

func (f *filter) OnHttpRequestHeaders(int, bool) types.Action {
	f.p.requests.Increment(1)
	f.p.inflight.Add(1)
	path, _ := proxywasm.GetHttpRequestHeader(":path")
	f.p.sizes.Record(uint64(len(path)))
	_ = proxywasm.AddHttpRequestHeader("x-requests", strconv.FormatUint(f.p.requests.Value(), 10))
	return types.ActionContinue
}

func (f *filter) OnHttpStreamDone() { f.p.inflight.Add(-1) }
