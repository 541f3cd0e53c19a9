package engine_test

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmesh/wasmesh/builder"
	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
)

// builtFixture builds testdata/<name>, a filter on the TinyGo-era tetratelabs SDK v0.24.0, with the wasmesh builder
// (standard Go toolchain plus its ABI bridge), cached by the hash of its source and of the bridge.
func builtFixture(t testing.TB, name string) []byte {
	t.Helper()
	bridge, err := filepath.Abs("../../builder/bridge")
	if err != nil {
		t.Fatal(err)
	}
	return cachedBuild(t, name, func(src, out string) {
		if _, err := builder.Build(context.Background(), builder.Options{Dir: src, Output: out}); err != nil {
			t.Fatalf("wasmesh build %s: %v", name, err)
		}
	}, bridge)
}

func TestTetrateSDKFilterBuiltByBuilder(t *testing.T) {
	e := newEngine(t, engine.Config{})
	mod, err := e.Compile(context.Background(), builtFixture(t, "tetrate-headers"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "tetrate", VMID: "t", Configuration: []byte("hi")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	for i := 1; i <= 2; i++ {
		s := stream(t, p, engine.StreamInfo{})
		req := headers(":path", "/x")
		if a := s.OnRequestHeaders(&req, false); a != abi.ActionContinue {
			t.Fatalf("action %v err %v", a, s.Err())
		}
		if got := get(t, req, "x-tetrate"); got != "hi:/x" {
			t.Errorf("x-tetrate = %q", got)
		}
		resp := headers(":status", "200")
		s.OnResponseHeaders(&resp, true)
		if get(t, resp, "x-tetrate-response") != "1" {
			t.Error("response header missing")
		}
		s.Done()
		v, _, _ := e.SharedData("t", "requests")
		if len(v) != 8 || binary.LittleEndian.Uint64(v) != uint64(i) {
			t.Errorf("shared requests = %v after %d", v, i)
		}
	}
	s := stream(t, p, engine.StreamInfo{})
	defer s.Done()
	req := headers(":path", "/deny")
	s.OnRequestHeaders(&req, true)
	if lr := s.LocalResponse(); lr == nil || lr.StatusCode != 451 || string(lr.Body) != "nope" || get(t, lr.Headers, "x-by") != "tetrate" {
		t.Errorf("local response %+v", lr)
	}
}

// Results that fit the bridge's scratch arena skip the guest allocator; larger ones take it. Both must reach SDK
// code intact, and a result must not be overwritten by the next host call (the SDK keeps it as a string).
func TestTetrateSDKArenaAndAllocator(t *testing.T) {
	e := newEngine(t, engine.Config{})
	mod, err := e.Compile(context.Background(), builtFixture(t, "tetrate-headers"))
	if err != nil {
		t.Fatal(err)
	}
	if !mod.Exports(engine.ExportScratchArena) {
		t.Fatalf("the bridge does not export %s", engine.ExportScratchArena)
	}
	p, err := e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "tetrate", VMID: "t", Configuration: []byte("cfg")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	for _, n := range []int{1, 100, 16<<10 - 1, 16 << 10, 16<<10 + 1, 100 << 10} {
		path := "/" + strings.Repeat("p", n-1)
		s := stream(t, p, engine.StreamInfo{})
		req := headers(":path", path)
		if a := s.OnRequestHeaders(&req, true); a != abi.ActionContinue {
			t.Fatalf("path of %d bytes: action %v err %v", n, a, s.Err())
		}
		if got := get(t, req, "x-tetrate"); got != "cfg:"+path {
			t.Fatalf("path of %d bytes: x-tetrate has %d bytes, want %d", n, len(got), len(path)+4)
		}
		s.Done()
	}
}
