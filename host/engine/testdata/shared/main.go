// Command shared counts requests in shared data with compare-and-swap, retrying on CAS_MISMATCH, and reports the
// count it stored in x-count.
package main

import (
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetHttpContext(func(uint32) types.HttpContext { return &filter{} })
}

type filter struct{ types.DefaultHttpContext }

func (*filter) OnHttpRequestHeaders(int, bool) types.Action {
	for {
		v, cas, err := proxywasm.GetSharedData("counter")
		var n uint64
		if err == nil && len(v) == 8 {
			n = binary.LittleEndian.Uint64(v)
		} else if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
			proxywasm.LogErrorf("get: %v", err)
			return types.ActionContinue
		}
		n++
		buf := make([]byte, 8)
		binary.LittleEndian.PutUint64(buf, n)
		err = proxywasm.SetSharedData("counter", buf, cas)
		if errors.Is(err, types.ErrorStatusCasMismatch) {
			continue
		}
		if err != nil {
			proxywasm.LogErrorf("set: %v", err)
			return types.ActionContinue
		}
		_ = proxywasm.AddHttpRequestHeader("x-count", strconv.FormatUint(n, 10))
		return types.ActionContinue
	}
}
