package filters

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/builder"
	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
)

// filtersDir is the filters module, relative to this package.
const filtersDir = "../../filters"

var buildMu sync.Mutex

func cacheDir(t testing.TB) string {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatalf("no cache dir: set XDG_CACHE_HOME or HOME: %v", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "wasmesh", "test-filters")
}

// builderDir is the builder: its ABI bridge is compiled into every filter and its go command settings (GOWASM) shape
// the code, so a module built by another builder must not be reused.
const builderDir = "../../builder"

// sourceHash covers a whole module (every filter shares filters/internal), the builder with its bridge, and the Go
// version.
func sourceHash(t testing.TB, root string) string {
	h := sha256.New()
	h.Write([]byte(runtime.Version()))
	var files []string
	walk := func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "go.mod") || strings.HasSuffix(p, "go.sum")) {
			files = append(files, p)
		}
		return nil
	}
	for _, dir := range []string{root, builderDir} {
		if err := filepath.WalkDir(dir, walk); err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(f))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// buildFilter builds filters/<name> with the builder (or testdata/<name> for "noop"), reusing a module built from
// the same sources.
func buildFilter(t testing.TB, name string) []byte {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	root, dir := filtersDir, filepath.Join(filtersDir, name)
	if name == "noop" {
		root, dir = filepath.Join("testdata", name), filepath.Join("testdata", name)
	}
	out := filepath.Join(cacheDir(t), name+"-"+sourceHash(t, root)+".wasm")
	if b, err := os.ReadFile(out); err == nil {
		return b
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := builder.Build(ctx, builder.Options{Dir: dir, Output: out + ".tmp"})
	if err != nil {
		t.Fatalf("build %s: %v", dir, err)
	}
	if err := os.Rename(res.Path, out); err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %s (%d bytes)", dir, res.Duration.Round(time.Millisecond), res.Module.Size)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// call is one proxy_http_call the filter made; the runner answers it from a callout step.
type call struct {
	cluster, path string
	answer        chan *engine.CallResponse // nil response = the call failed
	answered      bool
}

// heldCaller holds every HTTP call until the scenario answers it, as proxytest does.
type heldCaller struct {
	mu    sync.Mutex
	calls []*call
}

func (c *heldCaller) HTTPCall(ctx context.Context, cluster string, h abi.Headers, _ []byte, _ abi.Headers, _ time.Duration) (*engine.CallResponse, error) {
	path, _ := h.Get(":path")
	cl := &call{cluster: cluster, path: path, answer: make(chan *engine.CallResponse, 1)}
	c.mu.Lock()
	c.calls = append(c.calls, cl)
	c.mu.Unlock()
	select {
	case r := <-cl.answer:
		if r == nil {
			return nil, errors.New("upstream unreachable (scenario)")
		}
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *heldCaller) snapshot() []*call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*call(nil), c.calls...)
}

// reset fails every call still held, so the next scenario starts clean.
func (c *heldCaller) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.calls {
		if !cl.answered {
			cl.answered = true
			cl.answer <- nil
		}
	}
	c.calls = nil
}

// logLines captures the guest's log lines of one plugin.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.lines = append(l.lines, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logLines) WithGroup(string) slog.Handler      { return l }

func (l *logLines) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// hostFilter is one compiled filter in one engine.
type hostFilter struct {
	name   string
	eng    *engine.Engine
	mod    *engine.Module
	caller *heldCaller
	// compileCtx, when set, is the context plugins start with: the engine compiles a module again for a plugin
	// whose deadline setting differs from the default, and TestGuestCalls's listener must reach that compile too.
	compileCtx context.Context
}

func newHostFilter(t testing.TB, name string) *hostFilter {
	t.Helper()
	wasm := buildFilter(t, name)
	caller := &heldCaller{}
	eng, err := engine.New(engine.Config{Caller: caller, CacheDir: filepath.Join(cacheDir(t), "compiled")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close(context.Background()) })
	mod, err := eng.Compile(context.Background(), wasm)
	if err != nil {
		t.Fatalf("compile filters/%s: %v", name, err)
	}
	return &hostFilter{name: name, eng: eng, mod: mod, caller: caller}
}

func (f *hostFilter) counter(name string) int64 {
	m, ok := f.eng.Metrics().Get(name)
	if !ok {
		return 0
	}
	return m.Value
}

func toHeaders(kv [][2]string) abi.Headers {
	h := make(abi.Headers, 0, len(kv))
	for _, p := range kv {
		h = append(h, abi.Header{Key: strings.ToLower(p[0]), Value: p[1]})
	}
	return h
}

func props(sets ...map[string]string) engine.PropertyMap {
	m := engine.PropertyMap{}
	for _, s := range sets {
		for k, v := range s {
			m[k] = []byte(v)
		}
	}
	return m
}

// TestBasicGuardAcrossVMs checks that the limit on cold bcrypt checks holds for the plugin, not per VM: two VMs
// draw from one proxy-wide bucket of 2, so of six new wrong passwords two are checked (401) and four refused (429).
func TestBasicGuardAcrossVMs(t *testing.T) {
	f := newHostFilter(t, "auth")
	// bcrypt of "bob-password" at cost 10, the common default, so each check costs what the README says.
	const hash = "$2a$10$oVFxzNyZ6cf9aYB5PPmiLOOVLuFYHX5/cEDSloj1aArJhmFbx1D5C"
	cfg := []byte(`{"consumers": [{"name": "bob", "basic": {"username": "bob", "bcrypt": "` + hash + `"}}],
	  "basic_guard": {"cold_checks": {"requests": 1, "per": "hour", "burst": 2},
	                  "cold_checks_per_consumer": {"requests": 100, "per": "second"}}}`)
	p := startPlugin(t, f, "auth-guard", cfg, 2)
	statuses := map[uint32]int{}
	guess := 0
	for round := 0; round < 3; round++ {
		open := openStreams(t, p, 2)
		for _, s := range open {
			guess++
			cred := base64.StdEncoding.EncodeToString([]byte("bob:guess-" + strconv.Itoa(guess)))
			h := abi.Headers{{Key: ":method", Value: "GET"}, {Key: ":path", Value: "/"}, {Key: "authorization", Value: "Basic " + cred}}
			s.OnRequestHeaders(&h, true)
			lr := s.LocalResponse()
			if lr == nil {
				t.Fatalf("guess %d was let through", guess)
			}
			statuses[lr.StatusCode]++
			if lr.StatusCode == 429 {
				if v, ok := lr.Headers.Get("retry-after"); !ok || v == "" {
					t.Errorf("429 without retry-after: %v", lr.Headers)
				}
			}
		}
		for _, s := range open {
			s.Done()
		}
	}
	if p.VMs() != 2 {
		t.Fatalf("%d VMs, want 2", p.VMs())
	}
	if statuses[401] != 2 || statuses[429] != 4 {
		t.Fatalf("statuses %v, want 2×401 (checked) and 4×429 (over the proxy-wide limit)", statuses)
	}
	if got := f.counter("wasmesh_auth_requests_total.result=throttled"); got != 4 {
		t.Fatalf("throttled counter = %d, want 4", got)
	}
}
