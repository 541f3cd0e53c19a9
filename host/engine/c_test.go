package engine_test

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
)

// cFixture builds testdata/<name>/filter.c with Debian's clang-14 and wasi-libc as a WASI reactor exporting malloc,
// installing the toolchain with scripts/install-wasi-clang.sh if needed.
func cFixture(t testing.TB, name string) []byte {
	t.Helper()
	return cachedBuild(t, name, func(src, out string) {
		if _, err := exec.LookPath("clang-14"); err != nil {
			script, _ := filepath.Abs("../../scripts/install-wasi-clang.sh")
			if b, err := exec.Command(script).CombinedOutput(); err != nil {
				t.Skipf("LOUD SKIP: the C conformance test needs clang-14, lld-14 and wasi-libc; %s failed (run it as root): %v\n%s", script, err, b)
			}
		}
		cmd := exec.Command("clang-14", "--target=wasm32-wasi", "-mexec-model=reactor", "-O2",
			"-Wl,--export=malloc", "-Wl,--export=free", "-o", out, "filter.c")
		cmd.Dir = src
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("clang-14 %s: %v\n%s", name, err, b)
		}
	})
}

func TestCFilter(t *testing.T) {
	e := newEngine(t, engine.Config{})
	mod, err := e.Compile(context.Background(), cFixture(t, "c-headers"))
	if err != nil {
		t.Fatal(err)
	}
	if !mod.Exports("malloc") || !mod.Exports("_initialize") || mod.ABIVersion() != abi.V0_2_1 {
		t.Fatalf("unexpected module shape: malloc %v _initialize %v abi %q", mod.Exports("malloc"), mod.Exports("_initialize"), mod.ABIVersion())
	}
	_, err = e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "c", Configuration: []byte("reject")})
	if !errors.Is(err, engine.ErrConfigure) || !strings.Contains(err.Error(), "configuration rejected") {
		t.Fatalf("rejecting configuration: %v", err)
	}
	p, err := e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "c", RootID: "c-root", Configuration: []byte("fine")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	var mem uint64
	for i := 0; i < 200; i++ { // the filter frees what the host allocated: memory must not grow
		if i == 10 {
			mem = p.MemoryBytes()
		}
		s := stream(t, p, engine.StreamInfo{})
		req := headers(":path", "/c")
		if a := s.OnRequestHeaders(&req, true); a != abi.ActionContinue {
			t.Fatalf("action %v err %v", a, s.Err())
		}
		if get(t, req, "x-c") != "/c" || get(t, req, "x-c-root") != "c-root" {
			t.Fatalf("headers %v", req)
		}
		s.Done()
	}
	if got := p.MemoryBytes(); got != mem {
		t.Errorf("guest memory grew from %d to %d bytes over 190 requests", mem, got)
	}
	s := stream(t, p, engine.StreamInfo{})
	defer s.Done()
	req := headers(":path", "/c-deny")
	s.OnRequestHeaders(&req, true)
	if lr := s.LocalResponse(); lr == nil || lr.StatusCode != 418 || string(lr.Body) != "teapot" || lr.Details != "c_deny" {
		t.Errorf("local response %+v", lr)
	}
}
