// Command serverfirst is an L4 filter for protocols where the server speaks first (SMTP, MySQL): it holds the
// client's bytes (PAUSE) until the upstream's greeting has gone by, then lets them go with
// proxy_continue_stream; after that it forwards whole lines only, pausing on a partial line until a later
// chunk completes it.
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

type plugin struct{ types.DefaultPluginContext }

func (*plugin) NewTcpContext(uint32) types.TcpContext { return &conn{} }

type conn struct {
	types.DefaultTcpContext
	greeted bool
}

func (c *conn) OnDownstreamData(size int, end bool) types.Action {
	if !c.greeted {
		return types.ActionPause
	}
	b, err := proxywasm.GetDownstreamData(0, size)
	if err != nil || end || bytes.HasSuffix(b, []byte("\n")) {
		return types.ActionContinue
	}
	return types.ActionPause
}

func (c *conn) OnUpstreamData(size int, end bool) types.Action {
	if !c.greeted && size > 0 {
		c.greeted = true
		_ = proxywasm.ContinueTcpStream()
	}
	return types.ActionContinue
}
