// Command noop is the baseline for BenchmarkHost: a filter that does only what its configuration names, so the
// difference to a real filter is the filter's own work. The configuration is a list of steps, e.g.
// ["headers", "property", "now", "now-mono", "set-header", "remove-header", "metric", "alloc"]; [] does nothing at all.
package main

import (
	"encoding/json"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func main() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct {
	types.DefaultPluginContext
	steps []string
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	b, _ := proxywasm.GetPluginConfiguration()
	if len(b) > 0 && json.Unmarshal(b, &p.steps) != nil {
		return types.OnPluginStartStatusFailed
	}
	counter = proxywasm.DefineCounterMetric("wasmesh_baseline_total")
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &stream{steps: p.steps} }

var (
	monoBase = time.Now()
	counter  proxywasm.MetricCounter
	sink     []byte
)

type stream struct {
	types.DefaultHttpContext
	steps []string
}

func (s *stream) OnHttpRequestHeaders(int, bool) types.Action {
	for _, st := range s.steps {
		switch st {
		case "headers":
			_, _ = proxywasm.GetHttpRequestHeaders()
		case "header":
			_, _ = proxywasm.GetHttpRequestHeader(":path")
		case "property":
			_, _ = proxywasm.GetProperty([]string{"source", "address"})
		case "now":
			_ = time.Now()
		case "now-mono":
			_ = monoBase.Add(time.Since(monoBase)) // the monotonic clock only: no faster than time.Now in wasmesh (bench/filters.md)
		case "set-header":
			_ = proxywasm.ReplaceHttpRequestHeader("x-baseline", "1")
		case "remove-header":
			_ = proxywasm.RemoveHttpRequestHeader("x-absent")
		case "metric":
			counter.Increment(1)
		case "alloc":
			sink = make([]byte, 512) // what a request's header map costs the guest's allocator
		}
	}
	return types.ActionContinue
}
