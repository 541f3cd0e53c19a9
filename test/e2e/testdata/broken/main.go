// Command broken is the broken release the operator end-to-end tests roll out, in one of two ways chosen when
// it is built (wasmesh build --ldflags "-X main.mode=trap"):
//
//   - refuse (the default): on_configure fails for every configuration, so each proxy given the module rejects
//     the update (a NACK) and keeps what it ran before;
//   - trap: it starts, so proxies accept it (an ACK), and then traps on every request, which only the
//     filter's error rate reveals.
package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

var mode = "refuse"

func main() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct{ types.DefaultPluginContext }

func (*plugin) OnPluginStart(int) types.OnPluginStartStatus {
	if mode == "trap" {
		return types.OnPluginStartStatusOK
	}
	proxywasm.LogCritical("broken: this release refuses every configuration (test module)")
	return types.OnPluginStartStatusFailed
}

func (*plugin) NewHttpContext(uint32) types.HttpContext { return &stream{} }

type stream struct{ types.DefaultHttpContext }

func (*stream) OnHttpRequestHeaders(int, bool) types.Action {
	panic("broken: this release traps on every request (test module)")
}
