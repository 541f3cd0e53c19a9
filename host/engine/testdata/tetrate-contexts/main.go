// Command tetrate-contexts is a filter on github.com/tetratelabs/proxy-wasm-go-sdk v0.24.0, built by the wasmesh
// builder, whose HTTP context type is chosen by the plugin configuration, for the tests of the bridge's stream
// contexts.
//
// Most types implement different sets of callbacks, written or inherited in the ways Go allows (own pointer method,
// value method, through a user base type, through two levels of embedding, through an embedded interface), so that
// a test can check which callbacks the bridge declares no-ops and that the others still run: every callback that
// runs adds a header naming itself (x-<type>-<callback>), or logs "own done" at the stream's end.
//
// "counter" contexts keep state of their own, so that a test can check that each stream reaches its own context
// however many are open on one VM and in whatever order they run and end: request headers add x-context (the
// context id) and count the context's callbacks; a request for /call first sends an HTTP call to cluster "c" and
// continues when its answer comes, adding x-called; response headers add x-context and x-calls; the stream's end
// logs "done <id> after <n>".
package main

import (
	"strconv"

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
	kind string
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	cfg, _ := proxywasm.GetPluginConfiguration()
	p.kind = string(cfg)
	return types.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(id uint32) types.HttpContext {
	switch p.kind {
	case "counter":
		return &counter{id: strconv.Itoa(int(id))}
	case "plain":
		return &plain{}
	case "own":
		return &own{}
	case "value":
		return &value{}
	case "derived":
		return &derived{}
	case "deep":
		return &deep{}
	case "iface":
		return &iface{HttpContext: &own{}}
	case "nil":
		return (*plain)(nil)
	}
	return nil
}

// plain implements nothing: every callback is the SDK's no-op.
type plain struct{ types.DefaultHttpContext }

// own implements the request headers and the stream's end itself.
type own struct{ types.DefaultHttpContext }

func (*own) OnHttpRequestHeaders(int, bool) types.Action {
	_ = proxywasm.AddHttpRequestHeader("x-own-request-headers", "1")
	return types.ActionContinue
}

func (*own) OnHttpStreamDone() { proxywasm.LogInfo("own done") }

// value implements the response headers with a value receiver.
type value struct{ types.DefaultHttpContext }

func (value) OnHttpResponseHeaders(int, bool) types.Action {
	_ = proxywasm.AddHttpResponseHeader("x-value-response-headers", "1")
	return types.ActionContinue
}

// base is a user type other contexts embed; derived inherits its response-body callback.
type base struct{ types.DefaultHttpContext }

func (*base) OnHttpResponseHeaders(int, bool) types.Action {
	_ = proxywasm.AddHttpResponseHeader("x-base-response-headers", "1")
	return types.ActionContinue
}

type derived struct{ base }

// deep embeds plain: two levels down to the SDK's no-ops, except the request trailers it writes itself.
type deep struct{ plain }

func (*deep) OnHttpRequestTrailers(int) types.Action {
	_ = proxywasm.AddHttpRequestTrailer("x-deep-request-trailers", "1")
	return types.ActionContinue
}

// iface embeds the interface: what runs depends on the value inside, so nothing is a certain no-op.
type iface struct{ types.HttpContext }

type counter struct {
	types.DefaultHttpContext
	id    string
	calls int
}

func (s *counter) OnHttpRequestHeaders(int, bool) types.Action {
	s.calls++
	_ = proxywasm.AddHttpRequestHeader("x-context", s.id)
	if path, _ := proxywasm.GetHttpRequestHeader(":path"); path != "/call" {
		return types.ActionContinue
	}
	_, err := proxywasm.DispatchHttpCall("c", [][2]string{{":method", "GET"}, {":path", "/" + s.id}, {":authority", "c"}}, nil, nil, 5000,
		func(int, int, int) {
			s.calls++
			proxywasm.LogInfof("called %s", s.id)
			_ = proxywasm.AddHttpRequestHeader("x-called", s.id)
			_ = proxywasm.ResumeHttpRequest()
		})
	if err != nil {
		proxywasm.LogErrorf("dispatch: %v", err)
		return types.ActionContinue
	}
	return types.ActionPause
}

func (s *counter) OnHttpResponseHeaders(int, bool) types.Action {
	s.calls++
	_ = proxywasm.AddHttpResponseHeader("x-context", s.id)
	_ = proxywasm.AddHttpResponseHeader("x-calls", strconv.Itoa(s.calls))
	return types.ActionContinue
}

func (s *counter) OnHttpStreamDone() {
	proxywasm.LogInfof("done %s after %d", s.id, s.calls)
}
