package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
	"github.com/wasmesh/wasmesh/host/internal/gcloop"
)

// failOnce sends one request with the given header into a fresh stream and returns the stream's outcome.
func failOnce(t *testing.T, p *engine.Plugin, k, v string) (abi.Action, *engine.LocalResponse, error) {
	t.Helper()
	s := stream(t, p, engine.StreamInfo{})
	defer s.Done()
	req := headers(k, v)
	a := s.OnRequestHeaders(&req, true)
	return a, s.LocalResponse(), s.Err()
}

func alive(t *testing.T, p *engine.Plugin) {
	t.Helper()
	s := stream(t, p, engine.StreamInfo{})
	defer s.Done()
	req := headers()
	if a := s.OnRequestHeaders(&req, true); a != abi.ActionContinue || s.LocalResponse() != nil {
		t.Fatalf("healthy request: action %v local %+v err %v", a, s.LocalResponse(), s.Err())
	}
	if _, ok := req.Get("x-alive"); !ok {
		t.Fatal("healthy request did not run the filter")
	}
}

func TestTrapFailStrategies(t *testing.T) {
	for _, tc := range []struct {
		strategy   engine.FailStrategy
		wantAction abi.Action
		wantLocal  bool
		wantVMs    int // after the trap and one more healthy stream
	}{
		{engine.FailClose, abi.ActionPause, true, 1},
		{engine.FailOpen, abi.ActionContinue, false, 1},
		{engine.FailReload, abi.ActionPause, true, 2},
	} {
		t.Run(tc.strategy.String(), func(t *testing.T) {
			e := newEngine(t, engine.Config{})
			p := newPlugin(t, e, "trap", engine.PluginConfig{FailStrategy: tc.strategy, PoolSize: 2})
			// Two streams open at once pin two VMs.
			s1, s2 := stream(t, p, engine.StreamInfo{}), stream(t, p, engine.StreamInfo{})
			if p.VMs() != 2 {
				t.Fatalf("VMs = %d, want 2: concurrent streams spread over the pool", p.VMs())
			}
			req := headers("x-panic", "boom")
			a := s1.OnRequestHeaders(&req, true)
			if a != tc.wantAction {
				t.Errorf("action = %v, want %v", a, tc.wantAction)
			}
			lr := s1.LocalResponse()
			if tc.wantLocal != (lr != nil) || (lr != nil && lr.StatusCode != 503) {
				t.Errorf("local response = %+v", lr)
			}
			if tc.strategy == engine.FailOpen && !s1.Bypassed() {
				t.Error("FAIL_OPEN stream not bypassed")
			}
			err := s1.Err()
			if !errors.Is(err, engine.ErrTrap) || !strings.Contains(err.Error(), "trap fixture: boom") {
				t.Errorf("err = %v, want ErrTrap with the guest's panic message", err)
			}
			s1.Done()
			// The other stream is on its own VM or, if it shared the dead one, fails by the same strategy.
			req2 := headers()
			s2.OnRequestHeaders(&req2, true)
			s2.Done()
			for range 3 {
				alive(t, p)
			}
			if tc.strategy == engine.FailReload {
				// Ask for a second VM concurrently so the pool refills past the backoff.
				time.Sleep(250 * time.Millisecond)
				a, b := stream(t, p, engine.StreamInfo{}), stream(t, p, engine.StreamInfo{})
				a.Done()
				b.Done()
			}
			if got := p.VMs(); got > 2 || (tc.strategy == engine.FailReload && got != tc.wantVMs) {
				t.Errorf("VMs = %d, want %d", got, tc.wantVMs)
			}
		})
	}
}

func TestFailCloseAfterLastVM(t *testing.T) {
	e := newEngine(t, engine.Config{})
	p := newPlugin(t, e, "trap", engine.PluginConfig{FailStrategy: engine.FailClose, PoolSize: 1})
	failOnce(t, p, "x-panic", "1")
	a, lr, err := failOnce(t, p, "x-ok", "1")
	if a != abi.ActionPause || lr == nil || lr.StatusCode != 503 || !errors.Is(err, engine.ErrPluginFailed) {
		t.Fatalf("after the only VM died: action %v local %+v err %v, want 503 and ErrPluginFailed", a, lr, err)
	}
}

func TestReloadRestartCap(t *testing.T) {
	e := newEngine(t, engine.Config{MaxRestartsPerMinute: 2})
	p := newPlugin(t, e, "trap", engine.PluginConfig{FailStrategy: engine.FailReload, PoolSize: 1})
	restarts := 0
	for i := 0; i < 6; i++ {
		time.Sleep(120 * time.Millisecond << min(i, 3)) // outwait the backoff
		_, lr, err := failOnce(t, p, "x-panic", "again")
		if lr == nil || lr.StatusCode != 503 {
			t.Fatalf("round %d: local %+v", i, lr)
		}
		if errors.Is(err, engine.ErrTrap) {
			restarts++
		}
	}
	// The first VM plus at most 2 restarts can trap; later streams find no VM.
	if restarts > 3 {
		t.Errorf("%d VMs trapped, want at most 3 with 2 restarts a minute", restarts)
	}
}

func TestCPUDeadline(t *testing.T) {
	e := newEngine(t, engine.Config{})
	p := newPlugin(t, e, "loop", engine.PluginConfig{CallTimeout: 100 * time.Millisecond, FailStrategy: engine.FailReload})
	gcloop.Run(t) // the looping guest must not keep Go's GC from stopping the world (loopguard's tick)
	start := time.Now()
	_, lr, err := failOnce(t, p, "x-loop", "1")
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("looping guest stopped after %v", took)
	}
	if lr == nil || lr.StatusCode != 503 || !errors.Is(err, engine.ErrDeadline) {
		t.Fatalf("local %+v err %v, want 503 and ErrDeadline", lr, err)
	}
	time.Sleep(200 * time.Millisecond)
	a, lr, err := failOnce(t, p, "x-none", "1")
	if a != abi.ActionContinue || lr != nil || err != nil {
		t.Fatalf("after reload: %v %+v %v", a, lr, err)
	}
}

func TestMemoryLimit(t *testing.T) {
	e := newEngine(t, engine.Config{})
	p := newPlugin(t, e, "hungry", engine.PluginConfig{MemoryLimitPages: 640, CallTimeout: 20 * time.Second}) // 40 MiB
	if a, lr, err := failOnce(t, p, "x-alloc-mib", "2"); a != abi.ActionContinue || lr != nil || err != nil {
		t.Fatalf("small allocation: %v %+v %v", a, lr, err)
	}
	_, lr, err := failOnce(t, p, "x-alloc-mib", "100")
	if lr == nil || lr.StatusCode != 503 || !errors.Is(err, engine.ErrTrap) || !strings.Contains(err.Error(), "out of memory") {
		t.Fatalf("allocation over the limit: local %+v err %v", lr, err)
	}
	if p.MemoryBytes() > 640*65536 {
		t.Errorf("memory %d over the limit", p.MemoryBytes())
	}
}

func TestWaitRespectsContext(t *testing.T) {
	e := newEngine(t, engine.Config{Caller: slowCaller{}})
	p := newPlugin(t, e, "httpcall", engine.PluginConfig{PoolSize: 1})
	s := stream(t, p, engine.StreamInfo{})
	defer s.Done()
	req := headers(":path", "/slow")
	if a := s.OnRequestHeaders(&req, true); a != abi.ActionPause {
		t.Fatalf("action %v", a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v", err)
	}
	// A second stream must not wait forever for the single VM either: it is free between callbacks.
	s2, err := p.NewHTTPStream(ctx, engine.StreamInfo{})
	if err == nil {
		s2.Done()
	}
}

type slowCaller struct{}

func (slowCaller) HTTPCall(ctx context.Context, _ string, _ abi.Headers, _ []byte, _ abi.Headers, _ time.Duration) (*engine.CallResponse, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
