package engine_test

import (
	"context"
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/builder"
	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
)

// builtFixture builds testdata/<name>, a Go filter (tetratelabs SDK v0.24.0 or the successor SDK), with the wasmesh
// builder (standard Go toolchain plus the SDK's bridge), cached by the hash of its source and of the builder.
func builtFixture(t testing.TB, name string) []byte {
	t.Helper()
	bridge, err := filepath.Abs("../../builder") // the bridges and the code that applies them
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

// The bridge declares a callback a no-op only when the context's method is certainly the SDK's
// DefaultHttpContext one; the host then does not call it. Callbacks the filter implements, however it does so,
// still run.
func TestTetrateSDKSkipsInheritedCallbacks(t *testing.T) {
	e := newEngine(t, engine.Config{})
	mod, err := e.Compile(context.Background(), builtFixture(t, "tetrate-contexts"))
	if err != nil {
		t.Fatal(err)
	}
	if !mod.Exports(engine.ExportSkipCallbacks) {
		t.Fatalf("the bridge does not export %s", engine.ExportSkipCallbacks)
	}
	all := []string{"proxy_on_request_headers", "proxy_on_request_body", "proxy_on_request_trailers",
		"proxy_on_response_headers", "proxy_on_response_body", "proxy_on_response_trailers", "proxy_on_log", "proxy_on_done"}
	without := func(names ...string) []string {
		var out []string
		for _, n := range all {
			if !slices.Contains(names, n) {
				out = append(out, n)
			}
		}
		return out
	}
	for _, c := range []struct {
		kind    string
		skipped []string
		// headers the implemented callbacks add
		req, resp, trailers []string
		log                 string
		traps               bool // a nil context panics in the SDK's call, as without the bridge's help
	}{
		{kind: "plain", skipped: all},
		{kind: "own", skipped: without("proxy_on_request_headers", "proxy_on_log"), req: []string{"x-own-request-headers"}, log: "own done"},
		{kind: "value", skipped: without("proxy_on_response_headers"), resp: []string{"x-value-response-headers"}},
		{kind: "derived", skipped: without("proxy_on_response_headers"), resp: []string{"x-base-response-headers"}},
		{kind: "deep", skipped: without("proxy_on_request_trailers"), trailers: []string{"x-deep-request-trailers"}},
		{kind: "iface", skipped: []string{"proxy_on_done"}, req: []string{"x-own-request-headers"}, log: "own done"},
		{kind: "nil", skipped: []string{"proxy_on_done"}, traps: true},
	} {
		t.Run(c.kind, func(t *testing.T) {
			var logs strings.Builder
			p, err := e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: c.kind, Configuration: []byte(c.kind),
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			s := stream(t, p, engine.StreamInfo{})
			if got := engine.SkippedCallbacks(s); !slices.Equal(got, c.skipped) {
				t.Errorf("skipped %v, want %v", got, c.skipped)
			}
			req, tr, resp := headers(":path", "/"), headers("t", "1"), headers(":status", "200")
			if c.traps {
				if a := s.OnRequestHeaders(&req, false); a == abi.ActionContinue || s.Err() == nil {
					t.Errorf("nil context: action %v, err %v; want the trap's fail strategy", a, s.Err())
				}
				s.Done()
				return
			}
			body := []byte("b")
			for _, a := range []abi.Action{s.OnRequestHeaders(&req, false), s.OnRequestBody(&body, false), s.OnRequestTrailers(&tr),
				s.OnResponseHeaders(&resp, false), s.OnResponseBody(&body, false), s.OnResponseTrailers(&tr)} {
				if a != abi.ActionContinue {
					t.Fatalf("action %v, err %v", a, s.Err())
				}
			}
			s.Done()
			for _, want := range []struct {
				h     abi.Headers
				names []string
			}{{req, c.req}, {resp, c.resp}, {tr, c.trailers}} {
				for _, n := range want.names {
					get(t, want.h, n)
				}
			}
			if c.log != "" && !strings.Contains(logs.String(), c.log) {
				t.Errorf("log %q missing in %q", c.log, logs.String())
			}
		})
	}
}

// testdata/tetrate-minimal, the v0.24.0 filter of the stream benchmarks, does what testdata/headers does.
func TestTetrateSDKMinimalFilter(t *testing.T) {
	e := newEngine(t, engine.Config{})
	mod, err := e.Compile(context.Background(), builtFixture(t, "tetrate-minimal"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "minimal"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	s := stream(t, p, engine.StreamInfo{})
	req, resp := benchRequest(), headers(":status", "200")
	if a := s.OnRequestHeaders(&req, true); a != abi.ActionContinue {
		t.Fatalf("action %v err %v", a, s.Err())
	}
	s.OnResponseHeaders(&resp, true)
	if get(t, req, "x-wasm") != "seen" || get(t, resp, "x-wasm-response") != "1" {
		t.Errorf("request %v response %v", req, resp)
	}
	s.Done()
	s = stream(t, p, engine.StreamInfo{})
	defer s.Done()
	req = headers(":path", "/", "x-deny", "1")
	s.OnRequestHeaders(&req, true)
	if lr := s.LocalResponse(); lr == nil || lr.StatusCode != 403 || string(lr.Body) != "denied" {
		t.Errorf("local response %+v", lr)
	}
}

// gatedCaller answers HTTP calls with 200 once release is closed.
type gatedCaller struct {
	release  chan struct{}
	answered chan string // the path of each call answered
}

func (g *gatedCaller) HTTPCall(ctx context.Context, _ string, h abi.Headers, _ []byte, _ abi.Headers, _ time.Duration) (*engine.CallResponse, error) {
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	path, _ := h.Get(":path")
	defer func() { g.answered <- path }()
	return &engine.CallResponse{Headers: headers(":status", "200")}, nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The bridge keeps HTTP stream contexts in a table of its own instead of the SDK's maps. Many streams open at once
// on one VM, run and ended in shuffled order, must each reach their own context; a stream's HTTP call must come
// back to it, and the answer to a call of a stream already ended must not run its callback (the SDK's rule).
func TestTetrateSDKStreamContexts(t *testing.T) {
	caller := &gatedCaller{release: make(chan struct{}), answered: make(chan string, 4)}
	e := newEngine(t, engine.Config{Caller: caller})
	mod, err := e.Compile(context.Background(), builtFixture(t, "tetrate-contexts"))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	p, err := e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "counter", PoolSize: 1,
		Configuration: []byte("counter"), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	rnd := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	type open struct {
		s         *engine.HTTPStream
		req, resp abi.Headers
	}
	// Streams kept open through all rounds: the later ids that fall on their slots (the table holds 256 for 40
	// streams, the rounds pass id 300) must probe past them, and deleting either must keep both findable.
	kept := make([]*open, 8)
	for i := range kept {
		kept[i] = &open{s: stream(t, p, engine.StreamInfo{}), req: headers(":path", "/"), resp: headers(":status", "200")}
		kept[i].s.OnRequestHeaders(&kept[i].req, true)
	}
	for round := range 8 {
		const n = 40 // more than the table's first size, so it grows
		streams := make([]*open, n)
		for i := range streams {
			streams[i] = &open{s: stream(t, p, engine.StreamInfo{}), req: headers(":path", "/"), resp: headers(":status", "200")}
		}
		for _, i := range rnd.Perm(n) {
			o := streams[i]
			if a := o.s.OnRequestHeaders(&o.req, true); a != abi.ActionContinue {
				t.Fatalf("round %d: action %v err %v", round, a, o.s.Err())
			}
			id := get(t, o.req, "x-context")
			if seen[id] {
				t.Fatalf("round %d: context %s given to two streams", round, id)
			}
			seen[id] = true
		}
		for _, i := range rnd.Perm(n) {
			o := streams[i]
			o.s.OnResponseHeaders(&o.resp, true)
			if got, want := get(t, o.resp, "x-context"), get(t, o.req, "x-context"); got != want || get(t, o.resp, "x-calls") != "2" {
				t.Fatalf("round %d: response reached context %s (calls %s), request reached %s", round, got, get(t, o.resp, "x-calls"), want)
			}
		}
		for _, i := range rnd.Perm(n) {
			o := streams[i]
			o.s.Done()
			if want := "done " + get(t, o.req, "x-context") + " after 2"; !strings.Contains(logs.String(), want) {
				t.Fatalf("round %d: log %q missing", round, want)
			}
		}
	}
	for _, o := range kept {
		o.s.OnResponseHeaders(&o.resp, true)
		if got, want := get(t, o.resp, "x-context"), get(t, o.req, "x-context"); got != want || get(t, o.resp, "x-calls") != "2" {
			t.Fatalf("kept stream: response reached context %s (calls %s), request reached %s", got, get(t, o.resp, "x-calls"), want)
		}
		o.s.Done()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A call whose stream ends before the answer: the answer must not reach the deleted context.
	gone := stream(t, p, engine.StreamInfo{})
	goneReq := headers(":path", "/call")
	if a := gone.OnRequestHeaders(&goneReq, true); a != abi.ActionPause {
		t.Fatalf("action %v, want pause during the call (err %v)", a, gone.Err())
	}
	goneID := get(t, goneReq, "x-context")
	gone.Done()
	// A call whose stream waits for it.
	s := stream(t, p, engine.StreamInfo{})
	defer s.Done()
	req := headers(":path", "/call")
	if a := s.OnRequestHeaders(&req, true); a != abi.ActionPause {
		t.Fatalf("action %v, want pause during the call (err %v)", a, s.Err())
	}
	close(caller.release)
	if err := s.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if get(t, req, "x-called") != get(t, req, "x-context") {
		t.Errorf("call answer reached context %s, the stream is %s", get(t, req, "x-called"), get(t, req, "x-context"))
	}
	for range 2 {
		select {
		case <-caller.answered:
		case <-ctx.Done():
			t.Fatal("calls not answered")
		}
	}
	// The engine delivers an answer under the VM lock right after the caller returns; give it a moment, then check
	// the VM still serves and the ended stream's callback did not run.
	time.Sleep(200 * time.Millisecond)
	later := stream(t, p, engine.StreamInfo{})
	lreq := headers(":path", "/")
	if a := later.OnRequestHeaders(&lreq, true); a != abi.ActionContinue {
		t.Fatalf("VM after the calls: action %v err %v", a, later.Err())
	}
	later.Done()
	if strings.Contains(logs.String(), "msg=\"called "+goneID+"\"") {
		t.Errorf("the answer to the ended stream %s ran its callback: %s", goneID, logs.String())
	}
}
