package engine_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
)

func newEngine(t testing.TB, cfg engine.Config) *engine.Engine {
	t.Helper()
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

func newPlugin(t testing.TB, e *engine.Engine, fixture string, pc engine.PluginConfig) *engine.Plugin {
	t.Helper()
	return newPluginFrom(t, e, fixture, goFixture(t, fixture), pc)
}

// newPluginFrom is newPlugin for a module already built (plainGoFixture, say).
func newPluginFrom(t testing.TB, e *engine.Engine, fixture string, wasm []byte, pc engine.PluginConfig) *engine.Plugin {
	t.Helper()
	mod, err := e.Compile(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	pc.Module = mod
	if pc.Name == "" {
		pc.Name = fixture
	}
	p, err := e.NewPlugin(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func headers(kv ...string) abi.Headers {
	var h abi.Headers
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func get(t testing.TB, h abi.Headers, k string) string {
	t.Helper()
	v, ok := h.Get(k)
	if !ok {
		t.Fatalf("header %q missing in %v", k, h)
	}
	return v
}

func stream(t testing.TB, p *engine.Plugin, info engine.StreamInfo) *engine.HTTPStream {
	t.Helper()
	s, err := p.NewHTTPStream(context.Background(), info)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestHeadersFilter runs the successor-SDK header filter as `wasmesh build` bridges it and as a bare `go build`
// leaves it (what the builder produces for SDK versions it has no bridge for): both must behave the same.
func TestHeadersFilter(t *testing.T) {
	for _, build := range []struct {
		name    string
		wasm    func(testing.TB, string) []byte
		bridged bool
	}{{"wasmesh-build", goFixture, true}, {"plain-go-build", plainGoFixture, false}} {
		t.Run(build.name, func(t *testing.T) { testHeadersFilter(t, build.wasm(t, "headers"), build.bridged) })
	}
}

func testHeadersFilter(t *testing.T, wasm []byte, bridged bool) {
	e := newEngine(t, engine.Config{})
	p := newPluginFrom(t, e, "headers", wasm, engine.PluginConfig{})
	if got := p.Config().Module.Exports(engine.ExportSkipCallbacks); got != bridged {
		t.Fatalf("module exports %s: %v, want %v (bridged by wasmesh build: %v)", engine.ExportSkipCallbacks, got, bridged, bridged)
	}
	if got := p.Config().Module.ABIVersion(); got != abi.V0_2_0 {
		t.Errorf("ABI version = %q, want 0.2.0 (the SDK exports proxy_abi_version_0_2_0)", got)
	}

	tests := []struct {
		name      string
		req       abi.Headers
		action    abi.Action
		wantLocal uint32
	}{
		{"passes and adds a header", headers(":path", "/a", ":method", "GET", ":authority", "x", "user-agent", "t"), abi.ActionContinue, 0},
		{"denies with x-deny", headers(":path", "/a", "X-Deny", "1"), abi.ActionPause, 403},
		{"dubbo-style pseudo headers are just keys", headers(":path", "/svc/m", ":method", "DUBBO", "x-dubbo-service", "svc"), abi.ActionContinue, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := stream(t, p, engine.StreamInfo{})
			defer s.Done()
			req := tc.req
			if got := s.OnRequestHeaders(&req, true); got != tc.action {
				t.Fatalf("action = %v, want %v", got, tc.action)
			}
			lr := s.LocalResponse()
			if tc.wantLocal == 0 {
				if lr != nil {
					t.Fatalf("unexpected local response %+v", lr)
				}
				if v := get(t, req, "x-wasm"); v != "seen" {
					t.Errorf("x-wasm = %q", v)
				}
				resp := headers(":status", "200")
				if got := s.OnResponseHeaders(&resp, false); got != abi.ActionContinue {
					t.Errorf("response action = %v", got)
				}
				if v := get(t, resp, "x-wasm-response"); v != "1" {
					t.Errorf("x-wasm-response = %q", v)
				}
				return
			}
			if lr == nil || lr.StatusCode != tc.wantLocal || string(lr.Body) != "denied" || get(t, lr.Headers, "x-denied-by") != "wasm" {
				t.Fatalf("local response = %+v, want %d denied", lr, tc.wantLocal)
			}
			if _, ok := req.Get("x-wasm"); ok {
				t.Error("denied request still got x-wasm")
			}
		})
	}
}

func TestBodyFilter(t *testing.T) {
	e := newEngine(t, engine.Config{})
	p := newPlugin(t, e, "body", engine.PluginConfig{})
	s := stream(t, p, engine.StreamInfo{})
	defer s.Done()
	body := []byte("hello ")
	if got := s.OnRequestBody(&body, false); got != abi.ActionPause {
		t.Fatalf("partial body action = %v, want pause (the filter buffers)", got)
	}
	body = append(body, "world"...)
	if got := s.OnRequestBody(&body, true); got != abi.ActionContinue {
		t.Fatalf("final body action = %v", got)
	}
	if string(body) != "HELLO WORLD" {
		t.Errorf("request body = %q", body)
	}
	resp := []byte("answer")
	s.OnResponseBody(&resp, true)
	if string(resp) != "answer [wasm]" {
		t.Errorf("response body = %q", resp)
	}
}

type fakeCaller struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeCaller) HTTPCall(ctx context.Context, cluster string, h abi.Headers, body []byte, _ abi.Headers, timeout time.Duration) (*engine.CallResponse, error) {
	path, _ := h.Get(":path")
	f.mu.Lock()
	f.calls = append(f.calls, cluster+" "+path+" "+string(body)+" "+timeout.String())
	f.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		return nil, errors.New("call without deadline")
	}
	if strings.HasSuffix(path, "/allowed") {
		return &engine.CallResponse{Headers: headers(":status", "200"), Body: []byte("token-1")}, nil
	}
	return &engine.CallResponse{Headers: headers(":status", "401")}, nil
}

func TestHTTPCall(t *testing.T) {
	caller := &fakeCaller{}
	e := newEngine(t, engine.Config{Caller: caller})
	p := newPlugin(t, e, "httpcall", engine.PluginConfig{PoolSize: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tc := range []struct {
		path      string
		wantLocal uint32
	}{{"/allowed", 0}, {"/denied", 403}} {
		s := stream(t, p, engine.StreamInfo{})
		req := headers(":path", tc.path)
		if got := s.OnRequestHeaders(&req, true); got != abi.ActionPause {
			t.Fatalf("%s: action = %v, want pause while the call runs", tc.path, got)
		}
		if err := s.Wait(ctx); err != nil {
			t.Fatalf("%s: wait: %v", tc.path, err)
		}
		lr := s.LocalResponse()
		switch {
		case tc.wantLocal == 0 && lr != nil:
			t.Errorf("%s: unexpected local response %+v", tc.path, lr)
		case tc.wantLocal == 0 && get(t, req, "x-auth") != "token-1":
			t.Errorf("%s: x-auth = %q", tc.path, get(t, req, "x-auth"))
		case tc.wantLocal != 0 && (lr == nil || lr.StatusCode != tc.wantLocal || string(lr.Body) != "auth said 401"):
			t.Errorf("%s: local response = %+v", tc.path, lr)
		}
		s.Done()
	}
	if want := "auth /check/allowed ping 5s"; len(caller.calls) != 2 || caller.calls[0] != want {
		t.Errorf("calls = %q, want first %q", caller.calls, want)
	}
}

// TestLateEditRefused: once a callback returned Continue the data plane is using the request's headers again, so
// an HTTP-call answer arriving afterwards finds them absent instead of editing them under the data plane's feet.
func TestLateEditRefused(t *testing.T) {
	e := newEngine(t, engine.Config{Caller: &fakeCaller{}})
	p := newPlugin(t, e, "httpcall", engine.PluginConfig{PoolSize: 1})
	s := stream(t, p, engine.StreamInfo{})
	defer s.Done()
	req := headers(":path", "/async/allowed")
	if got := s.OnRequestHeaders(&req, true); got != abi.ActionContinue {
		t.Fatalf("action = %v, want continue", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _, ok := e.SharedData("", "late-edit")
		if ok {
			if !strings.Contains(string(v), "not found") {
				t.Errorf("late proxy_add_header_map_value: %q, want not found", v)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the call's answer never reached the module")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if v, ok := req.Get("x-auth"); ok {
		t.Errorf("x-auth = %q added after the stream went on", v)
	}
}

func TestHTTPCallWithoutCaller(t *testing.T) {
	e := newEngine(t, engine.Config{})
	p := newPlugin(t, e, "httpcall", engine.PluginConfig{})
	s := stream(t, p, engine.StreamInfo{})
	defer s.Done()
	req := headers(":path", "/x")
	s.OnRequestHeaders(&req, true)
	lr := s.LocalResponse()
	if lr == nil || lr.StatusCode != 500 || !strings.Contains(string(lr.Body), "bad argument") {
		t.Fatalf("local response = %+v, want the filter's 500 after BAD_ARGUMENT from proxy_http_call", lr)
	}
}

func counter(t testing.TB, e *engine.Engine, vmID string) uint64 {
	v, _, ok := e.SharedData(vmID, "counter")
	if !ok || len(v) != 8 {
		t.Fatalf("shared counter missing: %v %v", v, ok)
	}
	return binary.LittleEndian.Uint64(v)
}

func TestSharedDataCAS(t *testing.T) {
	e := newEngine(t, engine.Config{})
	p := newPlugin(t, e, "shared", engine.PluginConfig{VMID: "cas", PoolSize: 2})
	run := func() string {
		s := stream(t, p, engine.StreamInfo{})
		defer s.Done()
		req := headers(":path", "/")
		s.OnRequestHeaders(&req, true)
		v, _ := req.Get("x-count")
		return v
	}
	if got := run(); got != "1" {
		t.Fatalf("first count = %q", got)
	}
	const workers, each = 4, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				run()
			}
		}()
	}
	wg.Wait()
	if got := counter(t, e, "cas"); got != 1+workers*each {
		t.Fatalf("counter = %d, want %d: a CAS update was lost", got, 1+workers*each)
	}
	// Streams held open at once spread over the pool, up to its bound and no further.
	var open []*engine.HTTPStream
	for range 3 {
		open = append(open, stream(t, p, engine.StreamInfo{}))
	}
	if p.VMs() != 2 {
		t.Errorf("VMs = %d with 3 open streams, want the pool bound 2", p.VMs())
	}
	for _, s := range open {
		s.Done()
	}
	// Another plugin on the same vm id sees the same data; another vm id does not.
	p2 := newPlugin(t, e, "shared", engine.PluginConfig{Name: "other-root", RootID: "other", VMID: "cas"})
	s := stream(t, p2, engine.StreamInfo{})
	req := headers()
	s.OnRequestHeaders(&req, true)
	s.Done()
	if got := get(t, req, "x-count"); got != fmt.Sprint(2+workers*each) {
		t.Errorf("same vm id count = %s", got)
	}
	if _, _, ok := e.SharedData("elsewhere", "counter"); ok {
		t.Error("shared data leaked to another vm id")
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSharedQueue(t *testing.T) {
	e := newEngine(t, engine.Config{})
	p := newPlugin(t, e, "queue", engine.PluginConfig{VMID: "q"})
	for _, path := range []string{"/first", "/second"} {
		s := stream(t, p, engine.StreamInfo{})
		req := headers(":path", path)
		s.OnRequestHeaders(&req, true)
		s.Done()
		waitFor(t, "queue item "+path, func() bool {
			v, _, ok := e.SharedData("q", "last-path")
			return ok && string(v) == path
		})
	}
}

func TestTick(t *testing.T) {
	e := newEngine(t, engine.Config{})
	p := newPlugin(t, e, "tick", engine.PluginConfig{Configuration: []byte("10")})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Start(ctx) }()
	waitFor(t, "5 ticks", func() bool {
		m, ok := e.Metrics().Get("ticks_total")
		return ok && m.Value >= 5
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Start returned %v", err)
	}
	m, _ := e.Metrics().Get("ticks_total")
	before := m.Value
	time.Sleep(50 * time.Millisecond)
	if m, _ := e.Metrics().Get("ticks_total"); m.Value != before {
		t.Errorf("ticks continued after Start returned: %d -> %d", before, m.Value)
	}
}

func TestMetrics(t *testing.T) {
	e := newEngine(t, engine.Config{})
	p := newPlugin(t, e, "metrics", engine.PluginConfig{})
	for i := 1; i <= 3; i++ {
		s := stream(t, p, engine.StreamInfo{})
		req := headers(":path", "/abcd")
		s.OnRequestHeaders(&req, true)
		if got := get(t, req, "x-requests"); got != fmt.Sprint(i) {
			t.Errorf("request %d: x-requests = %s", i, got)
		}
		s.Done()
	}
	c, ok := e.Metrics().Get("wasmcustom.requests_total.method=GET")
	if !ok || c.Type != abi.MetricCounter || c.Value != 3 || c.BaseName != "wasmcustom.requests_total" ||
		len(c.Tags) != 1 || c.Tags[0] != [2]string{"method", "GET"} {
		t.Errorf("counter = %+v", c)
	}
	if g, _ := e.Metrics().Get("wasmcustom.inflight"); g.Type != abi.MetricGauge || g.Value != 0 {
		t.Errorf("gauge = %+v, want 0 after all streams ended", g)
	}
	if h, _ := e.Metrics().Get("wasmcustom.path_length"); h.Type != abi.MetricHistogram || h.Count != 3 || h.Sum != 15 {
		t.Errorf("histogram = %+v", h)
	}
}

func TestPropertiesAndRootIDs(t *testing.T) {
	e := newEngine(t, engine.Config{Properties: engine.PropertyMap{"node.id": []byte("node-7")}})
	a := newPlugin(t, e, "properties", engine.PluginConfig{Name: "pa", RootID: "root-a", VMID: "vm1", PoolSize: 1})
	b := newPlugin(t, e, "properties", engine.PluginConfig{Name: "pb", RootID: "root-b", VMID: "vm1", PoolSize: 1})
	if a.VMs() != 1 || b.VMs() != 1 {
		t.Fatalf("VMs = %d, %d: plugins with the same vm id and code should share one VM", a.VMs(), b.VMs())
	}
	for _, tc := range []struct {
		p          *engine.Plugin
		name, root string
	}{{a, "pa", "root-a"}, {b, "pb", "root-b"}} {
		info := engine.StreamInfo{Properties: engine.PropertyMap{"request.path": []byte("/p"), "source.address": []byte("127.0.0.1:5000")}}
		s := stream(t, tc.p, info)
		req := headers("x-route", "blue")
		s.OnRequestHeaders(&req, true)
		want := map[string]string{
			"x-prop-plugin_name": tc.name, "x-prop-plugin_root_id": tc.root, "x-prop-plugin_vm_id": "vm1",
			"x-prop-request.path": "/p", "x-prop-source.address": "127.0.0.1:5000", "x-prop-node.id": "node-7",
		}
		for k, v := range want {
			if got := get(t, req, k); got != v {
				t.Errorf("%s: %s = %q, want %q", tc.name, k, got, v)
			}
		}
		if v, ok := s.Property("upstream_cluster"); !ok || string(v) != "blue" {
			t.Errorf("upstream_cluster = %q %v", v, ok)
		}
		s.Done()
	}
	s := stream(t, a, engine.StreamInfo{})
	defer s.Done()
	req := headers()
	s.OnRequestHeaders(&req, true)
	if got := get(t, req, "x-prop-request.path"); !strings.Contains(got, "not found") {
		t.Errorf("missing property gave %q, want a NOT_FOUND error", got)
	}
}

func TestBadConfiguration(t *testing.T) {
	e := newEngine(t, engine.Config{})
	mod, err := e.Compile(context.Background(), goFixture(t, "badconfig"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "strict", Configuration: []byte("nope")})
	var ee *engine.Error
	if !errors.Is(err, engine.ErrConfigure) || !errors.As(err, &ee) || ee.Plugin != "strict" || !strings.Contains(err.Error(), `bad configuration \"nope\"`) {
		t.Fatalf("err = %v, want ErrConfigure naming the plugin with the guest's log", err)
	}
	p, err := e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "strict", Configuration: []byte("ok")})
	if err != nil {
		t.Fatalf("good configuration: %v", err)
	}
	_ = p.Close(context.Background())
	if _, err := e.NewPlugin(context.Background(), engine.PluginConfig{Name: "x"}); !errors.Is(err, engine.ErrBadPluginConf) {
		t.Errorf("nil module: %v", err)
	}
}

// wasmModule assembles a tiny module that imports env.<name> () -> (), to test import checking.
func wasmModule(importName string) []byte {
	b := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	b = append(b, 1, 4, 1, 0x60, 0, 0) // type section: one func type () -> ()
	imp := []byte{1, 3, 'e', 'n', 'v', byte(len(importName))}
	imp = append(imp, importName...)
	imp = append(imp, 0, 0) // func, type 0
	b = append(b, 2, byte(len(imp)))
	return append(b, imp...)
}

func TestCompileErrors(t *testing.T) {
	e := newEngine(t, engine.Config{})
	if _, err := e.Compile(context.Background(), []byte("not wasm")); !errors.Is(err, engine.ErrCompile) {
		t.Errorf("garbage: %v, want ErrCompile", err)
	}
	_, err := e.Compile(context.Background(), wasmModule("proxy_does_not_exist"))
	if !errors.Is(err, engine.ErrImports) || !strings.Contains(err.Error(), "env.proxy_does_not_exist") {
		t.Errorf("missing import: %v, want ErrImports naming it", err)
	}
	if _, err := e.Compile(context.Background(), wasmModule("proxy_log")); err != nil {
		t.Errorf("known import rejected: %v", err)
	}
}

func TestCompileOncePerDigest(t *testing.T) {
	dir := t.TempDir()
	wasm := goFixture(t, "headers")
	e1 := newEngine(t, engine.Config{CacheDir: dir})
	m1, err := e1.Compile(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := e1.Compile(context.Background(), wasm)
	if m1 != m2 || !strings.HasPrefix(m1.Digest(), "sha256:") {
		t.Fatalf("same bytes compiled twice: %p %p %s", m1, m2, m1.Digest())
	}
	_ = e1.Close(context.Background())

	// A restarted engine loads the machine code from the cache dir; it must be much faster than compiling.
	start := time.Now()
	e2 := newEngine(t, engine.Config{CacheDir: dir})
	if _, err := e2.Compile(context.Background(), wasm); err != nil {
		t.Fatal(err)
	}
	warm := time.Since(start)
	start = time.Now()
	e3 := newEngine(t, engine.Config{})
	if _, err := e3.Compile(context.Background(), wasm); err != nil {
		t.Fatal(err)
	}
	cold := time.Since(start)
	t.Logf("cold compile %v, cache-warm load %v", cold, warm)
	if warm*2 > cold {
		t.Errorf("cache-warm load %v is not clearly faster than a cold compile %v: is the cache used?", warm, cold)
	}
}

func TestTCPFilter(t *testing.T) {
	e := newEngine(t, engine.Config{})
	p := newPlugin(t, e, "tcp", engine.PluginConfig{})
	s, err := p.NewTCPStream(context.Background(), engine.StreamInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.OnNewConnection(); got != abi.ActionContinue {
		t.Fatalf("new connection = %v", got)
	}
	down := []byte("world")
	s.OnDownstreamData(&down, false)
	up := []byte("reply")
	s.OnUpstreamData(&up, false)
	if string(down) != "hello world" || string(up) != "REPLY" {
		t.Errorf("downstream %q upstream %q", down, up)
	}
	s.OnDownstreamClose(abi.PeerRemote)
	s.OnUpstreamClose(abi.PeerLocal)
	s.Done()
	if m, _ := e.Metrics().Get("tcp_closes_total"); m.Value != 1 {
		t.Errorf("tcp_closes_total = %d", m.Value)
	}
}

// TestCompileRefusesOversizedCounts: a module declaring more entries than it has bytes must be refused before
// wazero allocates for the declared count (4 billion exports in 15 bytes made it ask for hundreds of GiB and the
// runtime end the process: the fuzzing campaign of host/inspect found it).
func TestCompileRefusesOversizedCounts(t *testing.T) {
	preamble := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0x0f} // 4294967295
	for _, tc := range []struct {
		name, want string
		section    []byte
	}{
		{"export count", "export count 4294967295", append([]byte{7, 5}, huge...)},
		{"import count", "import count", append([]byte{2, 5}, huge...)},
		{"data segment count", "count", append([]byte{11, 5}, huge...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, engine.Config{})
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := e.Compile(context.Background(), append(slices.Clone(preamble), tc.section...))
			runtime.ReadMemStats(&after)
			var ee *engine.Error
			if !errors.As(err, &ee) || !errors.Is(err, engine.ErrCompile) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compile = %v, want an ErrCompile naming %q", err, tc.want)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
				t.Errorf("refusing a %d-byte module allocated %d MiB", len(preamble)+len(tc.section), grew>>20)
			}
		})
	}
}
