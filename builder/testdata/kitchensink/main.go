// A larger TinyGo-style filter spread over several files, with build tags, that touches every area of the
// v0.24.0 SDK's API: HTTP and TCP contexts, bodies, properties, shared data, queues, metrics, ticks, HTTP
// callouts and foreign functions. The builder must compile it unchanged.
package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {
	proxywasm.SetVMContext(&vmContext{})
}

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) OnVMStart(vmConfigurationSize int) types.OnVMStartStatus {
	if _, err := proxywasm.GetVMConfiguration(); err != nil && vmConfigurationSize > 0 {
		return types.OnVMStartStatusFailed
	}
	if err := proxywasm.SetSharedData("kitchensink.started", []byte("yes"), 0); err != nil {
		proxywasm.LogWarnf("set shared data: %v", err)
	}
	return types.OnVMStartStatusOK
}

func (*vmContext) NewPluginContext(contextID uint32) types.PluginContext {
	return &pluginContext{
		requests: proxywasm.DefineCounterMetric("kitchensink_requests_total"),
		inflight: proxywasm.DefineGaugeMetric("kitchensink_inflight"),
		sizes:    proxywasm.DefineHistogramMetric("kitchensink_body_bytes"),
	}
}

type pluginContext struct {
	types.DefaultPluginContext
	requests proxywasm.MetricCounter
	inflight proxywasm.MetricGauge
	sizes    proxywasm.MetricHistogram
	queue    uint32
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	q, err := proxywasm.RegisterSharedQueue("kitchensink")
	if err != nil {
		proxywasm.LogErrorf("register queue: %v", err)
		return types.OnPluginStartStatusFailed
	}
	p.queue = q
	if err := proxywasm.SetTickPeriodMilliSeconds(1000); err != nil {
		proxywasm.LogWarnf("tick: %v", err)
	}
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) OnTick() {
	if _, err := proxywasm.DispatchHttpCall("jwks", [][2]string{{":method", "GET"}, {":path", "/keys"}, {":authority", "jwks"}},
		nil, nil, 500, func(numHeaders, bodySize, numTrailers int) {
			body, _ := proxywasm.GetHttpCallResponseBody(0, bodySize)
			proxywasm.LogInfof("callout returned %d bytes", len(body))
		}); err != nil {
		proxywasm.LogWarnf("callout: %v", err)
	}
}

func (p *pluginContext) OnQueueReady(queueID uint32) {
	if data, err := proxywasm.DequeueSharedQueue(queueID); err == nil {
		proxywasm.LogDebugf("dequeued %q", data)
	}
}

func (p *pluginContext) NewHttpContext(contextID uint32) types.HttpContext {
	return &httpContext{plugin: p}
}

func (p *pluginContext) NewTcpContext(contextID uint32) types.TcpContext {
	return &tcpContext{}
}
