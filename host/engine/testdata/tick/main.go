// Command tick sets a tick period from its plugin configuration (milliseconds as text) and counts ticks in the
// counter metric "ticks_total".
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
	ticks proxywasm.MetricCounter
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	cfg, _ := proxywasm.GetPluginConfiguration()
	ms, err := strconv.Atoi(string(cfg))
	if err != nil {
		proxywasm.LogCriticalf("configuration %q is not a number of milliseconds", cfg)
		return types.OnPluginStartStatusFailed
	}
	p.ticks = proxywasm.DefineCounterMetric("ticks_total")
	if err := proxywasm.SetTickPeriodMilliSeconds(uint32(ms)); err != nil {
		return types.OnPluginStartStatusFailed
	}
	return types.OnPluginStartStatusOK
}

func (p *plugin) OnTick() { p.ticks.Increment(1) }
