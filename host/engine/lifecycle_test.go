package engine_test

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
)

// The lifecycle tests run testdata/c-lifecycle (see its filter.c), which reports what it saw in shared data.

func lifecyclePlugin(t *testing.T, e *engine.Engine, pc engine.PluginConfig) (*engine.Plugin, error) {
	t.Helper()
	mod, err := e.Compile(context.Background(), cFixture(t, "c-lifecycle"))
	if err != nil {
		t.Fatal(err)
	}
	pc.Module, pc.VMID = mod, "lifecycle"
	p, err := e.NewPlugin(context.Background(), pc)
	if err == nil {
		t.Cleanup(func() { _ = p.Close(context.Background()) })
	}
	return p, err
}

func sharedU32(t *testing.T, e *engine.Engine, key string) (uint32, bool) {
	t.Helper()
	b, _, ok := e.SharedData("lifecycle", key)
	if !ok {
		return 0, false
	}
	if len(b) != 4 {
		t.Fatalf("shared %q = %x", key, b)
	}
	return binary.LittleEndian.Uint32(b), true
}

func TestValidateConfiguration(t *testing.T) {
	e := newEngine(t, engine.Config{})
	_, err := lifecyclePlugin(t, e, engine.PluginConfig{Name: "bad", Configuration: []byte("invalid")})
	if !errors.Is(err, engine.ErrInvalidConfig) || errors.Is(err, engine.ErrTrap) ||
		!strings.Contains(err.Error(), "proxy_on_validate_configuration") {
		t.Fatalf("invalid configuration: err = %v, want ErrInvalidConfig before proxy_on_configure runs", err)
	}
	if _, err := lifecyclePlugin(t, e, engine.PluginConfig{Name: "good", Configuration: []byte("fine")}); err != nil {
		t.Fatalf("valid configuration: %v", err)
	}
}

func TestForeignFunctions(t *testing.T) {
	var replyLater engine.ForeignReply
	e := newEngine(t, engine.Config{ForeignFunctions: map[string]engine.ForeignFunction{
		"echo": func(args []byte, reply engine.ForeignReply) ([]byte, error) {
			replyLater = reply
			return append([]byte("echo:"), args...), nil
		},
	}})
	p, err := lifecyclePlugin(t, e, engine.PluginConfig{Name: "ff"})
	if err != nil {
		t.Fatal(err)
	}

	// Guest -> host: proxy_call_foreign_function returns the function's result.
	s := stream(t, p, engine.StreamInfo{})
	req := headers(":path", "/foreign")
	s.OnRequestHeaders(&req, true)
	s.Done()
	if got := get(t, req, "x-foreign"); got != "echo:ping" {
		t.Fatalf("x-foreign = %q", got)
	}

	// Host -> guest, asynchronously through the reply of that call.
	replyLater(3, []byte("dns answer"))
	waitFor(t, "the reply's proxy_on_foreign_function", func() bool {
		b, _, ok := e.SharedData("lifecycle", "foreign")
		return ok && string(b) == "dns answer"
	})

	// Host -> guest, as a data-plane event on every VM of the plugin.
	n, err := p.ForeignEvent(context.Background(), 4, []byte("cluster changed"))
	if err != nil || n != p.VMs() {
		t.Fatalf("ForeignEvent ran on %d of %d VMs: %v", n, p.VMs(), err)
	}
	if b, _, _ := e.SharedData("lifecycle", "foreign"); string(b) != "cluster changed" {
		t.Fatalf("call data seen by the guest: %q", b)
	}
}

func TestUnknownForeignFunction(t *testing.T) {
	e := newEngine(t, engine.Config{})
	p, err := lifecyclePlugin(t, e, engine.PluginConfig{Name: "ff"})
	if err != nil {
		t.Fatal(err)
	}
	s := stream(t, p, engine.StreamInfo{})
	defer s.Done()
	req := headers(":path", "/foreign")
	if a := s.OnRequestHeaders(&req, true); a != abi.ActionContinue {
		t.Fatalf("action %v err %v", a, s.Err())
	}
	if _, ok := req.Get("x-foreign"); ok {
		t.Fatal("an unknown foreign function answered")
	}
}

func TestDeferredStreamDone(t *testing.T) {
	e := newEngine(t, engine.Config{})
	p, err := lifecyclePlugin(t, e, engine.PluginConfig{Name: "defer", PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	s := stream(t, p, engine.StreamInfo{})
	req := headers(":path", "/defer")
	s.OnRequestHeaders(&req, true)
	s.Done()
	if _, ok := sharedU32(t, e, "deleted"); ok {
		t.Fatal("proxy_on_delete ran although proxy_on_done returned false")
	}
	// The deferred context still holds its VM: the next stream gets a second one.
	s2 := stream(t, p, engine.StreamInfo{})
	if p.VMs() != 2 {
		t.Fatalf("VMs = %d, want 2 while the deferred context holds the first", p.VMs())
	}
	s2.Done()

	// The guest ends it from a later callback with proxy_done; proxy_on_delete follows.
	if _, err := p.ForeignEvent(context.Background(), 7, nil); err != nil {
		t.Fatal(err)
	}
	if st, ok := sharedU32(t, e, "done-status"); !ok || abi.Status(st) != abi.StatusOK {
		t.Fatalf("proxy_done status %v (set %v)", abi.Status(st), ok)
	}
	if id, ok := sharedU32(t, e, "deleted"); !ok || id == 0 {
		t.Fatalf("proxy_on_delete did not run after proxy_done (deleted=%d %v)", id, ok)
	}
}

func TestDeferredRootDone(t *testing.T) {
	e := newEngine(t, engine.Config{})
	linger, err := lifecyclePlugin(t, e, engine.PluginConfig{Name: "linger", Configuration: []byte("linger")})
	if err != nil {
		t.Fatal(err)
	}
	other, err := lifecyclePlugin(t, e, engine.PluginConfig{Name: "other"}) // same VM group: keeps the VM alive
	if err != nil {
		t.Fatal(err)
	}
	_ = linger.Close(context.Background())
	if _, ok := sharedU32(t, e, "deleted"); ok {
		t.Fatal("root context deleted although its proxy_on_done returned false")
	}
	if _, err := other.ForeignEvent(context.Background(), 8, nil); err != nil {
		t.Fatal(err)
	}
	if st, _ := sharedU32(t, e, "done-status"); abi.Status(st) != abi.StatusOK {
		t.Fatalf("proxy_done status %v", abi.Status(st))
	}
	if id, ok := sharedU32(t, e, "deleted"); !ok || id == 0 {
		t.Fatal("proxy_on_delete did not run after proxy_done")
	}
}
