// Command tcp is an L4 filter: it prefixes downstream data with "hello ", upper-cases upstream data, and counts
// closes in the counter metric "tcp_closes_total".
package main

import (
	"bytes"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetPluginContext(func(uint32) types.PluginContext { return &plugin{} })
}

type plugin struct {
	types.DefaultPluginContext
	closes proxywasm.MetricCounter
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	p.closes = proxywasm.DefineCounterMetric("tcp_closes_total")
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewTcpContext(uint32) types.TcpContext { return &conn{p: p} }

type conn struct {
	types.DefaultTcpContext
	p *plugin
}

func (*conn) OnNewConnection() types.Action { return types.ActionContinue }

func (*conn) OnDownstreamData(size int, end bool) types.Action {
	if size > 0 {
		_ = proxywasm.PrependDownstreamData([]byte("hello "))
	}
	return types.ActionContinue
}

func (*conn) OnUpstreamData(size int, end bool) types.Action {
	b, err := proxywasm.GetUpstreamData(0, size)
	if err == nil && len(b) > 0 {
		_ = proxywasm.ReplaceUpstreamData(bytes.ToUpper(b))
	}
	return types.ActionContinue
}

func (c *conn) OnDownstreamClose(types.PeerType) { c.p.closes.Increment(1) }
