package xds

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/wasmesh/wasmesh/host/proxy/module"
	"github.com/wasmesh/wasmesh/oci/cache"
	opxds "github.com/wasmesh/wasmesh/operator/xds"
	"github.com/wasmesh/wasmesh/xdsapi"
)

// TestRestartWithOperatorDown: a proxy loads a module the operator sent over xDS (vm_config.code.remote, pinned
// by sha256), stops; the operator and its module server stop; the proxy restarts from its saved state and serves
// through the filter, whose module comes from the local module cache. Without the cache the same restart fails
// to fetch the module, which is the outage issue #7 asks proxies to survive.
func TestRestartWithOperatorDown(t *testing.T) {
	digest, moduleServer := moduleServer(t, "testdata/envheader")
	seen := make(chan string, 16)
	app := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen <- r.Header.Get("x-env-mode") }))
	defer app.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opCtx, stopOperator := context.WithCancel(ctx)
	op := opxds.New(opxds.Options{Addr: "127.0.0.1:0"})
	opDone := make(chan error, 1)
	go func() { opDone <- op.Start(opCtx) }()
	addr := <-op.Ready()

	dir := t.TempDir()
	opts := Options{Server: addr, Node: xdsapi.Node{ID: "web-1", Namespace: "shop"},
		Base: filepath.Join(dir, "proxy.yaml"), Out: filepath.Join(dir, "proxy.xds.yaml")}
	if err := os.WriteFile(opts.Base, fmt.Appendf(nil, `listeners:
- {name: web, address: "127.0.0.1:0", routes: [{name: all, match: {path: {prefix: /}}, cluster: app}]}
clusters:
- {name: app, endpoints: [{address: %q}]}
`, app.Listener.Addr().String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := New(opts).Merge(); err != nil {
		t.Fatal(err)
	}
	store, err := cache.Open(cache.Options{Dir: filepath.Join(dir, "modules")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cached := func() module.Sources {
		srcs := module.Default(nil)
		srcs["http"] = module.Cached{Source: srcs["http"], Store: store}
		return srcs
	}
	// serves checks a request through the proxy reaches the app with the filter's header.
	serves := func(ps interface{ Addr(string) net.Addr }) {
		t.Helper()
		waitUntil(t, func() bool { return ps.Addr("web") != nil })
		resp, err := http.Get("http://" + ps.Addr("web").String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := <-seen; resp.StatusCode != http.StatusOK || got != "strict" {
			t.Fatalf("status %d, x-env-mode %q: want 200 through the operator's filter (strict)", resp.StatusCode, got)
		}
	}

	ps, stop, err := startProxy(ctx, t, opts, cached())
	if err != nil {
		t.Fatal(err)
	}
	b, err := xdsapi.Build(xdsapi.Filter{Deployment: "shop/env", ModuleDigest: digest,
		URL: moduleServer.URL + "/modules/" + digest, Env: map[string]string{"MODE": "strict"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := op.SetPlan("shop/env", opxds.Plan{"web-1": b}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return op.Progress("shop/env")["web-1"].Acked == b.Hash })
	serves(ps)
	stop()

	// The operator and its module server go down; the proxy restarts from the state it saved.
	stopOperator()
	<-opDone
	moduleServer.Close()

	if _, _, err := startProxy(ctx, t, opts, module.Default(nil)); err == nil {
		t.Fatal("without the module cache the restart loaded a module whose server is down: the test proves nothing")
	}
	ps, stop, err = startProxy(ctx, t, opts, cached())
	if err != nil {
		t.Fatalf("restart from the saved state with the operator down: %v", err)
	}
	defer stop()
	serves(ps)
}
