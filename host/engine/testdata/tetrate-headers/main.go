// Command tetrate-headers is a TinyGo-era filter on github.com/tetratelabs/proxy-wasm-go-sdk v0.24.0, built with
// the standard toolchain by the wasmesh builder. It adds x-tetrate (its configuration plus the request path),
// counts requests in shared data, and answers /deny locally.
package main

import (
	"encoding/binary"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {
	proxywasm.SetVMContext(&vmContext{})
}

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct {
	types.DefaultPluginContext
	cfg string
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	cfg, _ := proxywasm.GetPluginConfiguration()
	p.cfg = string(cfg)
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &filter{cfg: p.cfg} }

type filter struct {
	types.DefaultHttpContext
	cfg string
}

func (f *filter) OnHttpRequestHeaders(int, bool) types.Action {
	path, _ := proxywasm.GetHttpRequestHeader(":path")
	if path == "/deny" {
		_ = proxywasm.SendHttpResponse(451, [][2]string{{"x-by", "tetrate"}}, []byte("nope"), -1)
		return types.ActionPause
	}
	_ = proxywasm.AddHttpRequestHeader("x-tetrate", f.cfg+":"+path)
	for {
		v, cas, err := proxywasm.GetSharedData("requests")
		var n uint64
		if err == nil && len(v) == 8 {
			n = binary.LittleEndian.Uint64(v)
		}
		buf := binary.LittleEndian.AppendUint64(nil, n+1)
		if err := proxywasm.SetSharedData("requests", buf, cas); err == nil {
			break
		}
	}
	return types.ActionContinue
}

func (f *filter) OnHttpResponseHeaders(int, bool) types.Action {
	_ = proxywasm.AddHttpResponseHeader("x-tetrate-response", "1")
	return types.ActionContinue
}
