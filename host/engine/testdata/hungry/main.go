// Command hungry allocates and touches the number of MiB given in the x-alloc-mib request header, to hit the
// per-VM memory limit.
package main

import (
	"strconv"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetHttpContext(func(uint32) types.HttpContext { return &filter{} })
}

type filter struct{ types.DefaultHttpContext }

var keep [][]byte

func (*filter) OnHttpRequestHeaders(int, bool) types.Action {
	v, _ := proxywasm.GetHttpRequestHeader("x-alloc-mib")
	n, _ := strconv.Atoi(v)
	for i := 0; i < n; i++ {
		b := make([]byte, 1<<20)
		for j := range b {
			b[j] = byte(j)
		}
		keep = append(keep, b)
	}
	return types.ActionContinue
}
