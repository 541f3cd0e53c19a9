// Command httpcall asks the "auth" cluster about every request and pauses it; a 200 answer resumes the request
// with the answer's body in x-auth, anything else is answered with a local 403. A request to /async/... is not
// paused: the answer's callback still tries to add x-auth, and records what the host said in the shared-data key
// "late-edit".
package main

import (
	"fmt"
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

func main() {}

func init() {
	proxywasm.SetHttpContext(func(uint32) types.HttpContext { return &filter{} })
}

type filter struct{ types.DefaultHttpContext }

func (*filter) OnHttpRequestHeaders(int, bool) types.Action {
	path, _ := proxywasm.GetHttpRequestHeader(":path")
	async := strings.HasPrefix(path, "/async/")
	hdrs := [][2]string{{":method", "GET"}, {":path", "/check" + path}, {":authority", "auth"}}
	_, err := proxywasm.DispatchHttpCall("auth", hdrs, []byte("ping"), nil, 5000, func(numHeaders, bodySize, numTrailers int) {
		if async {
			err := proxywasm.AddHttpRequestHeader("x-auth", "late")
			_ = proxywasm.SetSharedData("late-edit", []byte(fmt.Sprint(err)), 0)
			return
		}
		status := ""
		resp, _ := proxywasm.GetHttpCallResponseHeaders()
		for _, h := range resp {
			if h[0] == ":status" {
				status = h[1]
			}
		}
		if status != "200" {
			_ = proxywasm.SendHttpResponse(403, nil, []byte("auth said "+status), -1)
			return
		}
		body, _ := proxywasm.GetHttpCallResponseBody(0, bodySize)
		_ = proxywasm.AddHttpRequestHeader("x-auth", string(body))
		_ = proxywasm.ResumeHttpRequest()
	})
	if err != nil {
		_ = proxywasm.SendHttpResponse(500, nil, []byte("dispatch: "+err.Error()), -1)
	}
	if async {
		return types.ActionContinue
	}
	return types.ActionPause
}
