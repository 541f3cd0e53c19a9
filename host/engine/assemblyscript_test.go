package engine_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
)

// asFixture builds testdata/<name> (AssemblyScript on @solo-io/proxy-runtime 0.1.8) with asc 0.14.9, which
// scripts/install-assemblyscript.sh installs into the cache dir. The output is cached by source hash.
func asFixture(t testing.TB, name string) []byte {
	t.Helper()
	return cachedBuild(t, name, func(src, out string) {
		if _, err := exec.LookPath("npm"); err != nil {
			t.Skip("LOUD SKIP: npm is not installed, so the AssemblyScript conformance tests cannot run; apt-get install npm, then rerun")
		}
		script, err := filepath.Abs("../../scripts/install-assemblyscript.sh")
		if err != nil {
			t.Fatal(err)
		}
		dirOut, err := exec.Command(script).Output()
		if err != nil {
			t.Fatalf("%s failed (it needs the npm registry once): %v", script, err)
		}
		toolchain := strings.TrimSpace(string(dirOut))
		// asc resolves @solo-io/proxy-runtime from node_modules next to the sources, so build in a scratch copy.
		work := t.TempDir()
		if err := os.CopyFS(work, os.DirFS(src)); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(toolchain, "node_modules"), filepath.Join(work, "node_modules")); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(filepath.Join(toolchain, "node_modules", ".bin", "asc"), "assembly/index.ts",
			"-b", out, "--use", "abort=abort_proc_exit", "--optimize")
		cmd.Dir = work
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("asc %s: %v\n%s", name, err, b)
		}
	})
}

func TestAssemblyScriptFilter(t *testing.T) {
	e := newEngine(t, engine.Config{})
	mod, err := e.Compile(context.Background(), asFixture(t, "as-headers"))
	if err != nil {
		t.Fatal(err)
	}
	if mod.Exports("proxy_on_memory_allocate") || !mod.Exports("malloc") {
		t.Fatal("fixture should use malloc as its allocator")
	}
	add, err := e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "add", RootID: "as_add", VMID: "as", Configuration: []byte("cfg"), PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer add.Close(context.Background())
	other, err := e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "other", RootID: "as_other", VMID: "as", Configuration: []byte("{}"), PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	if add.VMs() != 1 || other.VMs() != 1 {
		t.Fatalf("VMs %d %d: both root contexts should live in one shared VM", add.VMs(), other.VMs())
	}

	for _, tc := range []struct {
		p    *engine.Plugin
		path string
		want string
	}{{add, "/a", "add:cfg:/a"}, {other, "/a", "other"}, {add, "/b", "add:cfg:/b"}} {
		s := stream(t, tc.p, engine.StreamInfo{})
		req := headers(":path", tc.path)
		if a := s.OnRequestHeaders(&req, false); a != abi.ActionContinue {
			t.Fatalf("action %v err %v", a, s.Err())
		}
		if got := get(t, req, "x-as"); got != tc.want {
			t.Errorf("x-as = %q, want %q", got, tc.want)
		}
		s.Done()
	}

	s := stream(t, add, engine.StreamInfo{})
	req := headers(":path", "/deny")
	s.OnRequestHeaders(&req, true)
	if lr := s.LocalResponse(); lr == nil || lr.StatusCode != 403 || string(lr.Body) != "denied by as" || lr.Details != "as_denied" {
		t.Errorf("local response = %+v", lr)
	}
	s.Done()

	// Without a factory for the root id the runtime throws; that is a start-up error, not a panic.
	_, err = e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "bad", RootID: "nope", VMID: "as2", Configuration: []byte("{}")})
	if !errors.Is(err, engine.ErrTrap) || !strings.Contains(err.Error(), "Missing root context factory for root id: nope") {
		t.Fatalf("unknown root id: %v, want a trap quoting the runtime's message", err)
	}
}
