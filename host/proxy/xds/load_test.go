package xds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
	wasmBytes, err := os.ReadFile(wasmtest.Build(t, "../../engine/testdata/trap"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasmBytes)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	modules := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(wasmBytes) }))
	defer modules.Close()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer app.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := opxds.New(opxds.Options{Addr: "127.0.0.1:0", LoadReportInterval: 100 * time.Millisecond})
	go func() { _ = srv.Start(ctx) }()
	addr := <-srv.Ready()

	dir := t.TempDir()
	basePath, out := filepath.Join(dir, "proxy.yaml"), filepath.Join(dir, "proxy.xds.yaml")
	base := fmt.Sprintf(`listeners:
- {name: web, address: "127.0.0.1:0", routes: [{name: all, match: {path: {prefix: /}}, cluster: app}]}
clusters:
- {name: app, endpoints: [{address: %q}]}
`, app.Listener.Addr().String())
	if err := os.WriteFile(basePath, []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{CacheDir: wasmtest.CompileCache(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.Background())
	reg, err := filter.NewRegistry(wasm.Kind(eng, module.Default(nil)))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Server: addr, Node: xdsapi.Node{ID: "web-1", Namespace: "shop"}, Base: basePath, Out: out}
	if err := New(opts).Merge(); err != nil {
		t.Fatal(err)
	}
	ps, err := proxy.New(ctx, proxy.Options{ConfigPath: out, Registry: reg, WatchInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ps.Start(ctx) }()
	defer func() { cancel(); <-done }()
	opts.Reload = func(ctx context.Context) error { return ps.Reload(ctx, "xds") }
	opts.Stats = StatsOf(ps)
	go func() { _ = New(opts).Start(ctx) }()
	waitUntil(t, func() bool { return len(srv.Nodes()) == 1 })

	b, err := xdsapi.Build(xdsapi.Filter{Deployment: "shop/trap", ModuleDigest: digest, URL: modules.URL + "/modules/" + digest, FailStrategy: "FAIL_CLOSE"})
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
