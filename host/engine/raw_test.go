package engine_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
)

func rawPlugin(t testing.TB, e *engine.Engine, pc engine.PluginConfig) *engine.Plugin {
	t.Helper()
	mod, err := e.Compile(context.Background(), rawHeadersFilter())
	if err != nil {
		t.Fatal(err)
	}
	pc.Module, pc.Name = mod, "raw"
	p, err := e.NewPlugin(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func TestRawFilter(t *testing.T) {
	e := newEngine(t, engine.Config{})
	p := rawPlugin(t, e, engine.PluginConfig{})
	if v := p.Config().Module.ABIVersion(); v != abi.V0_2_1 {
		t.Errorf("ABI %q", v)
	}
	s := stream(t, p, engine.StreamInfo{})
	req := benchRequest()
	if a := s.OnRequestHeaders(&req, true); a != abi.ActionContinue || get(t, req, "x-wasm") != "seen" {
		t.Fatalf("action %v headers %v err %v", a, req, s.Err())
	}
	resp := headers(":status", "200")
	s.OnResponseHeaders(&resp, true)
	if get(t, resp, "x-wasm-response") != "1" {
		t.Fatal("response header missing")
	}
	body := make([]byte, 10)
	if a := s.OnRequestBody(&body, true); a != abi.ActionContinue {
		t.Fatalf("body loop: %v %v", a, s.Err())
	}
	s.Done()
}

func TestABI010Module(t *testing.T) {
	e := newEngine(t, engine.Config{})
	mod, err := e.Compile(context.Background(), rawFilter(true))
	if err != nil {
		t.Fatal(err)
	}
	if mod.ABIVersion() != abi.V0_1_0 {
		t.Fatalf("ABI %q", mod.ABIVersion())
	}
	p, err := e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "old"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	s := stream(t, p, engine.StreamInfo{})
	defer s.Done()
	req := benchRequest()
	if a := s.OnRequestHeaders(&req, true); a != abi.ActionContinue || get(t, req, "x-wasm") != "seen" {
		t.Fatalf("two-argument proxy_on_request_headers: %v %v %v", a, req, s.Err())
	}
}

// rawSkipFilter is the raw filter with a wasmesh_skip_callbacks export of type typ (8: func() i32, the right one)
// that stores skip at address 200 and returns addr.
func rawSkipFilter(typ int, addr, skip int32) []byte {
	i32c := i32Const
	code := i32c(i32c(nil, 200), skip)
	code = append(code, 0x36, 0x02, 0x00) // i32.store align=4 offset=0
	if typ == 8 {
		code = i32c(code, addr)
	}
	return rawFilter(false, rawExport{engine.ExportSkipCallbacks, typ, code})
}

// The engine does not call the callbacks a guest's skip cell names (here request headers, log and done) and calls
// the others; a skip export it cannot use is an instantiation error naming it, not a panic.
func TestSkipCallbacksCell(t *testing.T) {
	e := newEngine(t, engine.Config{})
	const skipRequestHeaders, skipLog, skipDone = 1 << 0, 1 << 6, 1 << 7
	mod, err := e.Compile(context.Background(), rawSkipFilter(8, 200, skipRequestHeaders|skipLog|skipDone))
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "rawskip"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	s := stream(t, p, engine.StreamInfo{})
	if got, want := engine.SkippedCallbacks(s), []string{"proxy_on_request_headers", "proxy_on_log", "proxy_on_done"}; !slices.Equal(got, want) {
		t.Errorf("skipped %v, want %v", got, want)
	}
	req, resp := headers(":path", "/"), headers(":status", "200")
	if a := s.OnRequestHeaders(&req, true); a != abi.ActionContinue {
		t.Fatalf("action %v err %v", a, s.Err())
	}
	s.OnResponseHeaders(&resp, true)
	s.Done()
	if _, ok := req.Get("x-wasm"); ok {
		t.Error("proxy_on_request_headers ran although the guest declared it a no-op")
	}
	get(t, resp, "x-wasm-response")

	for _, c := range []struct {
		name string
		wasm []byte
		want string
	}{
		{"wrong signature", rawSkipFilter(6, 0, 0), "wrong signature"},
		{"outside memory", rawSkipFilter(8, 1<<16-2, 0), "outside linear memory"},
		{"null", rawSkipFilter(8, 0, 0), "outside linear memory"},
	} {
		mod, err := e.Compile(context.Background(), c.wasm)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, err = e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "rawskip"})
		if err == nil || !strings.Contains(err.Error(), engine.ExportSkipCallbacks) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %s: %s", c.name, err, engine.ExportSkipCallbacks, c.want)
		}
	}
}
