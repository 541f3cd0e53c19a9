// Command refuse is the broken release the operator end-to-end test rolls out: a proxy-wasm filter that
// refuses every configuration in on_configure, so each proxy given it rejects the update (a NACK) and keeps
// what it ran before.
package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func main() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct{ types.DefaultPluginContext }

func (*plugin) OnPluginStart(int) types.OnPluginStartStatus {
	proxywasm.LogCritical("refuse: this release refuses every configuration (test module)")
	return types.OnPluginStartStatusFailed
}
