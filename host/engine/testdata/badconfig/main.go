// Command badconfig rejects any plugin configuration that is not the text "ok", like a filter with a strict schema.
package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetPluginContext(func(uint32) types.PluginContext { return &plugin{} })
}

type plugin struct{ types.DefaultPluginContext }

func (*plugin) OnPluginStart(int) types.OnPluginStartStatus {
	cfg, _ := proxywasm.GetPluginConfiguration()
	if string(cfg) != "ok" {
		proxywasm.LogCriticalf("bad configuration %q", cfg)
		return types.OnPluginStartStatusFailed
	}
	return types.OnPluginStartStatusOK
}
