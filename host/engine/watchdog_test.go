package engine

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine/loopguard"
	"github.com/wasmesh/wasmesh/host/internal/gcloop"
)

// spinModule is a proxy-wasm module whose proxy_on_request_headers loops forever (`loop br 0 end`), assembled
// by hand so the test controls every instruction. extra names more exports of the allocator function.
func spinModule(extra ...string) []byte {
	sec := func(id byte, body ...byte) []byte { return append([]byte{id, byte(len(body))}, body...) }
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	exports := cat([]byte{byte(4 + len(extra))},
		name("memory"), []byte{2, 0},
		name("proxy_on_memory_allocate"), []byte{0, 0},
		name("proxy_on_context_create"), []byte{0, 1},
		name("proxy_on_request_headers"), []byte{0, 2})
	for _, x := range extra {
		exports = cat(exports, name(x), []byte{0, 0})
	}
	return cat([]byte("\x00asm\x01\x00\x00\x00"),
		sec(1, 3, 0x60, 1, 0x7f, 1, 0x7f, 0x60, 2, 0x7f, 0x7f, 0, 0x60, 3, 0x7f, 0x7f, 0x7f, 1, 0x7f),
		sec(3, 3, 0, 1, 2),
		sec(5, 1, 0, 1),
		sec(7, exports...),
		sec(10, 3,
			4, 0, 0x41, 0x10, 0x0b, // i32.const 16
			2, 0, 0x0b,
			8, 0, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x00, 0x0b), // loop br 0 end; unreachable
	)
}

// Both ways of stopping a looping guest: the loop guard (the normal case) and wazero's context checks (modules
// loopguard cannot rewrite, forced here by dropping the guarded copy).
func TestWatchdogStopsLoops(t *testing.T) {
	gcloop.Run(t) // a GC starting while the guest spins must not hang the process
	for _, tc := range []struct {
		name     string
		fallback bool
	}{{"loopguard", false}, {"wazero checks", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(context.Background())
			mod, err := e.Compile(context.Background(), spinModule())
			if err != nil {
				t.Fatal(err)
			}
			if mod.guarded == nil {
				t.Fatal("loopguard did not rewrite the module")
			}
			if tc.fallback {
				mod.guarded = nil
			}
			p, err := e.NewPlugin(context.Background(), PluginConfig{Module: mod, Name: "spin", CallTimeout: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			if want := mod.termFor(true); p.g.rt.key.term != want {
				t.Fatalf("runtime termination %d, want %d", p.g.rt.key.term, want)
			}
			s, err := p.NewHTTPStream(context.Background(), StreamInfo{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Done()
			start := time.Now()
			h := abi.Headers{{Key: ":path", Value: "/"}}
			s.OnRequestHeaders(&h, true)
			took := time.Since(start)
			if !errors.Is(s.Err(), ErrDeadline) {
				t.Fatalf("err = %v, want ErrDeadline", s.Err())
			}
			if lr := s.LocalResponse(); lr == nil || lr.StatusCode != 503 {
				t.Fatalf("local response %+v, want the fail-closed 503", lr)
			}
			if took < 50*time.Millisecond || took > 5*time.Second {
				t.Errorf("stopped after %v, want about the 50ms deadline", took)
			}
		})
	}
}

func TestWatchdogLifecycle(t *testing.T) {
	w := newWatchdog()
	stopped := make(chan struct{})
	v := &vm{timeout: 20 * time.Millisecond, stop: func() { close(stopped) }} // no loop guard: cancels the context
	w.register(v)
	if w.tick != max(v.timeout/8, minWatchdogTick) {
		t.Errorf("tick %v", w.tick)
	}
	v.running.Store(7) // a callback that never ends
	deadline := time.Now().Add(5 * time.Second)
	select {
	case <-stopped:
	case <-time.After(time.Until(deadline)):
		t.Fatal("the watchdog did not stop the overrunning call")
	}
	if !v.overran.Load() {
		t.Error("stopped without marking the call as overrun")
	}
	// A VM whose calls keep finishing is never flagged.
	busy := &vm{timeout: 500 * time.Millisecond, stop: func() {}}
	w.register(busy)
	for i := uint64(1); i < 40; i++ {
		busy.running.Store(i)
		time.Sleep(2 * time.Millisecond)
		busy.running.Store(0)
	}
	if busy.overran.Load() {
		t.Error("a VM whose callbacks end in time was flagged")
	}
	w.unregister(v)
	w.unregister(busy)
	w.close()
	w.close() // idempotent
	select {
	case <-w.done:
	default:
		t.Fatal("close returned before the goroutine ended")
	}
}

// A module that imports from loopguard's module itself is not a guarded copy: loopguard refuses to rewrite it,
// and the engine reports the import as missing instead of handing it the tick.
func TestLoopGuardImportRefused(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	wasm = append(wasm, 1, 5, 1, 0x60, 0, 1, 0x7f) // type: func() i32
	imp := []byte{1, byte(len(loopguard.ImportModule))}
	imp = append(imp, loopguard.ImportModule...)
	imp = append(append(imp, byte(len(loopguard.ImportName))), loopguard.ImportName...)
	imp = append(imp, 0, 0)
	wasm = append(append(wasm, 2, byte(len(imp))), imp...)
	_, err = e.Compile(context.Background(), wasm)
	if !errors.Is(err, ErrImports) || !strings.Contains(err.Error(), loopguard.ImportModule+"."+loopguard.ImportName) {
		t.Fatalf("err = %v, want ErrImports naming %s.%s", err, loopguard.ImportModule, loopguard.ImportName)
	}
}

// With a cache directory, the loop-guarded copy is kept by the original's digest and read back by the next
// engine; a damaged copy is rewritten, and the module is still loop-guarded.
func TestLoopGuardCopyKept(t *testing.T) {
	dir := t.TempDir()
	wasm := spinModule()
	compile := func() *Module {
		t.Helper()
		e, err := New(Config{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close(context.Background()) })
		m, err := e.Compile(context.Background(), wasm)
		if err != nil {
			t.Fatal(err)
		}
		if m.termFor(true) != termGuard {
			t.Fatal("module not loop-guarded")
		}
		return m
	}
	want, err := loopguard.Instrument(wasm)
	if err != nil {
		t.Fatal(err)
	}
	m := compile()
	path := (&Engine{cfg: Config{CacheDir: dir}}).guardPath(m.Digest())
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, want) {
		t.Fatalf("kept copy at %s: %v (equal to the rewrite: %t)", path, err, bytes.Equal(b, want))
	}
	if m := compile(); !bytes.Equal(m.guarded, want) {
		t.Fatal("the second engine's guarded copy differs")
	}
	if err := os.WriteFile(path, append([]byte("\x00asm\x01\x00\x00\x00"), 0xff, 0xff), 0o644); err != nil {
		t.Fatal(err)
	}
	if m := compile(); !bytes.Equal(m.guarded, want) {
		t.Fatal("a damaged kept copy was used")
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, want) {
		t.Fatal("the damaged kept copy was not replaced")
	}
}
