package engine_test

import (
	"context"
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
