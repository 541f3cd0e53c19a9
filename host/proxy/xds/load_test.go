package xds

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/engine"
	"github.com/wasmesh/wasmesh/host/proxy"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm/wasmtest"
	"github.com/wasmesh/wasmesh/host/proxy/module"
	opxds "github.com/wasmesh/wasmesh/operator/xds"
	"github.com/wasmesh/wasmesh/xdsapi"
)

// TestLoadReportsFromARealProxy runs a real proxy with the operator's filter: a module that traps on requests
// with x-panic. Its calls and failures reach the operator's xDS server as load reports, counted by module digest.
func TestLoadReportsFromARealProxy(t *testing.T) {
	digest, moduleURL := serveModule(t, "../../engine/testdata/trap")
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer app.Close()

	base := fmt.Sprintf(`listeners:
- {name: web, address: "127.0.0.1:0", routes: [{name: all, match: {path: {prefix: /}}, cluster: app}]}
clusters:
- {name: app, endpoints: [{address: %q}]}
`, app.Listener.Addr().String())
	srv, ps := realProxy(t, base)

	b, err := xdsapi.Build(xdsapi.Filter{Deployment: "shop/trap", ModuleDigest: digest, URL: moduleURL, FailStrategy: "FAIL_CLOSE"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetPlan("shop/trap", opxds.Plan{"web-1": b}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return srv.Progress("shop/trap")["web-1"].Acked == b.Hash })

	since := time.Now()
	url := "http://" + ps.Addr("web").String() + "/"
	const calls, traps = 12, 3
	statuses := map[int]int{}
	for i := range calls {
		req, _ := http.NewRequest("GET", url, nil)
		if i%4 == 0 {
			req.Header.Set("x-panic", "yes")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		statuses[resp.StatusCode]++
	}
	if statuses[503] != traps || statuses[200] != calls-traps {
		t.Fatalf("statuses %v: want %d trapped (503, FAIL_CLOSE) and the rest 200", statuses, traps)
	}
	waitUntil(t, func() bool { c, _ := srv.Load("shop/trap", digest, since); return c >= calls })
	time.Sleep(300 * time.Millisecond) // more reports must not count the same calls again
	c, f := srv.Load("shop/trap", digest, since)
	if c != calls || f != traps {
		t.Errorf("operator saw %d calls, %d failures; want %d and %d", c, f, calls, traps)
	}
}

// realProxy runs the operator's xDS server (load reports every 100ms) and a proxy on base connected to it as
// node web-1, with the Wasm filter kind; both stop with the test.
func realProxy(t *testing.T, base string) (*opxds.Server, *proxy.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := opxds.New(opxds.Options{Addr: "127.0.0.1:0", LoadReportInterval: 100 * time.Millisecond})
	go func() { _ = srv.Start(ctx) }()
	addr := <-srv.Ready()
	dir := t.TempDir()
	basePath, out := filepath.Join(dir, "proxy.yaml"), filepath.Join(dir, "proxy.xds.yaml")
	if err := os.WriteFile(basePath, []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := Options{Server: addr, Node: xdsapi.Node{ID: "web-1", Namespace: "shop"}, Base: basePath, Out: out}
	if err := New(opts).Merge(); err != nil {
		t.Fatal(err)
	}
	ps, stop, err := startProxy(ctx, t, opts, module.Default(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); stop() })
	waitUntil(t, func() bool { return len(srv.Nodes()) == 1 })
	return srv, ps
}

// startProxy runs a proxy on opts.Out, with the Wasm filter kind fetching modules through srcs, and its xDS
// client on opts, as `wasmesh proxy --xds` does, until ctx ends; stop waits until both are stopped.
func startProxy(ctx context.Context, t *testing.T, opts Options, srcs module.Sources) (ps *proxy.Server, stop func(), err error) {
	t.Helper()
	eng, err := engine.New(engine.Config{CacheDir: wasmtest.CompileCache(t)})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := filter.NewRegistry(wasm.Kind(eng, srcs))
	if err != nil {
		t.Fatal(err)
	}
	ps, err = proxy.New(ctx, proxy.Options{ConfigPath: opts.Out, Registry: reg, WatchInterval: -1})
	if err != nil {
		eng.Close(context.Background())
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() { done <- ps.Start(ctx) }()
	opts.Reload = func(ctx context.Context) error { return ps.Reload(ctx, "xds") }
	opts.Stats = StatsOf(ps)
	go func() { done <- New(opts).Start(ctx) }()
	return ps, func() { cancel(); <-done; <-done; eng.Close(context.Background()) }, nil
}

// serveModule serves a module built from a test fixture over HTTP, as the operator's module server does, and
// returns its digest and URL.
func serveModule(t *testing.T, fixture string) (digest, url string) {
	t.Helper()
	digest, modules := moduleServer(t, fixture)
	return digest, modules.URL + "/modules/" + digest
}

// moduleServer is serveModule's server, for a test that stops it before its end.
func moduleServer(t *testing.T, fixture string) (digest string, modules *httptest.Server) {
	t.Helper()
	wasmBytes, err := os.ReadFile(wasmtest.Build(t, fixture))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasmBytes)
	digest = "sha256:" + hex.EncodeToString(sum[:])
	modules = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(wasmBytes) }))
	t.Cleanup(modules.Close)
	return digest, modules
}

// TestNetworkFilterFromOperator: a NETWORK filter from the operator runs on the proxy's tcp listener (the
// engine's tcp fixture prefixes client data with "hello " and upper-cases the reply), and its connections are
// reported.
func TestNetworkFilterFromOperator(t *testing.T) {
	digest, url := serveModule(t, "../../engine/testdata/tcp")
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	base := fmt.Sprintf(`listeners:
- {name: db, address: "127.0.0.1:0", protocol: tcp, routes: [{name: all, match: {}, cluster: echo}]}
clusters:
- {name: echo, protocol: tcp, endpoints: [{address: %q}]}
`, echo.Addr().String())
	srv, ps := realProxy(t, base)
	b, err := xdsapi.Build(xdsapi.Filter{Deployment: "shop/l4", ModuleDigest: digest, URL: url, Type: "NETWORK"})
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now()
	if err := srv.SetPlan("shop/l4", opxds.Plan{"web-1": b}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return srv.Progress("shop/l4")["web-1"].Acked == b.Hash })
	c, err := net.Dial("tcp", ps.Addr("db").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("abc\n")); err != nil {
		t.Fatal(err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != "HELLO ABC\n" {
		t.Fatalf("through the operator's NETWORK filter: %q %v", got, err)
	}
	waitUntil(t, func() bool { calls, _ := srv.Load("shop/l4", digest, since); return calls == 1 })
	if _, failures := srv.Load("shop/l4", digest, since); failures != 0 {
		t.Errorf("%d failed connections, want 0", failures)
	}
}

// TestEnvFromOperator: vmConfig.env reaches the guest's WASI environment, inline values and a variable of the
// proxy's own environment (HOST).
func TestEnvFromOperator(t *testing.T) {
	t.Setenv("REGION", "eu-1")
	digest, url := serveModule(t, "testdata/envheader")
	seen := make(chan http.Header, 1)
	app := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case seen <- r.Header.Clone():
		default:
		}
	}))
	defer app.Close()
	srv, ps := realProxy(t, fmt.Sprintf(`listeners:
- {name: web, address: "127.0.0.1:0", routes: [{name: all, match: {path: {prefix: /}}, cluster: app}]}
clusters:
- {name: app, endpoints: [{address: %q}]}
`, app.Listener.Addr().String()))
	b, err := xdsapi.Build(xdsapi.Filter{Deployment: "shop/env", ModuleDigest: digest, URL: url,
		Env: map[string]string{"MODE": "strict"}, HostEnvKeys: []string{"REGION"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetPlan("shop/env", opxds.Plan{"web-1": b}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return srv.Progress("shop/env")["web-1"].Acked == b.Hash })
	resp, err := http.Get("http://" + ps.Addr("web").String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := <-seen
	if h.Get("x-env-region") != "eu-1" || h.Get("x-env-mode") != "strict" {
		t.Errorf("the guest saw REGION=%q MODE=%q, want eu-1 and strict", h.Get("x-env-region"), h.Get("x-env-mode"))
	}
}
