// Command properties copies properties into request headers (x-prop-<path with dots>) and routes the request by
// setting upstream_cluster to the value of the x-route header.
package main

import (
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetHttpContext(func(uint32) types.HttpContext { return &filter{} })
}

type filter struct{ types.DefaultHttpContext }

var paths = [][]string{
	{"plugin_name"}, {"plugin_root_id"}, {"plugin_vm_id"},
	{"request", "path"}, {"source", "address"}, {"node", "id"},
}

func (*filter) OnHttpRequestHeaders(int, bool) types.Action {
	for _, p := range paths {
		v, err := proxywasm.GetProperty(p)
		if err != nil {
			v = []byte("error:" + err.Error())
		}
		_ = proxywasm.AddHttpRequestHeader("x-prop-"+strings.Join(p, "."), string(v))
	}
	if route, err := proxywasm.GetHttpRequestHeader("x-route"); err == nil {
		if err := proxywasm.SetProperty([]string{"upstream_cluster"}, []byte(route)); err != nil {
			proxywasm.LogErrorf("set upstream_cluster: %v", err)
		}
	}
	return types.ActionContinue
}
