package xds

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/config"
	opxds "github.com/wasmesh/wasmesh/operator/xds"
	"github.com/wasmesh/wasmesh/xdsapi"
)

const base = `admin: {address: "127.0.0.1:0"}
listeners:
- name: web
  address: "127.0.0.1:0"
  filters:
  - {name: own, kind: header}
  routes:
  - {name: health, match: {path: {exact: /healthz}}, cluster: app}
  - {name: api, match: {host: api.example.com, path: {prefix: /v1/}}, cluster: app}
  - {name: all, match: {path: {prefix: /}}, cluster: app}
clusters:
- name: app
  endpoints: [{address: "127.0.0.1:9"}]
`

// TestClientAckNack runs the client against the operator's ADS server: a filter the proxy loads is
// acknowledged, one its reload refuses is rejected with the error and the previous file is restored.
func TestClientAckNack(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := opxds.New(opxds.Options{Addr: "127.0.0.1:0"})
	go func() { _ = srv.Start(ctx) }()
	addr := <-srv.Ready()

	dir := t.TempDir()
	basePath, out := filepath.Join(dir, "proxy.yaml"), filepath.Join(dir, "proxy.xds.yaml")
	if err := os.WriteFile(basePath, []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	var refuse atomic.Bool
	var reloads atomic.Int32
	c := New(Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)), Server: addr, Node: xdsapi.Node{ID: "p1", Namespace: "shop", Labels: map[string]string{"app": "web"}}, Base: basePath, Out: out,
		Reload: func(context.Context) error {
			reloads.Add(1)
			data, err := os.ReadFile(out)
			if err != nil {
				return err
			}
			if _, err := config.Parse(out, data, []string{"header", "wasm"}); err != nil {
				return err
			}
			if refuse.Load() {
				return errors.New("on_configure returned false")
			}
			return nil
		}})
	if err := c.Merge(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	waitUntil(t, func() bool { return len(srv.Nodes()) == 1 })

	good, err := xdsapi.Build(xdsapi.Filter{Deployment: "shop/auth", ModuleDigest: "sha256:" + strings.Repeat("a", 64), URL: "http://op/modules/sha256:" + strings.Repeat("a", 64),
		Configuration: []byte(`{"k":"v"}`), Phase: "AUTHN", FailStrategy: "FAIL_OPEN",
		Routes: []xdsapi.RouteOverride{
			{Name: "no-health", PathExact: "/healthz", Disabled: true},
			{Name: "api", Host: "api.example.com", Configuration: `{"k":"api"}`},
			{Name: "dubbo", DubboService: "org.example.Greeter", Disabled: true},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetPlan("shop/auth", opxds.Plan{"p1": good}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return srv.Progress("shop/auth")["p1"].Acked == good.Hash })
	data, _ := os.ReadFile(out)
	f, err := config.Parse(out, data, []string{"header", "wasm"})
	if err != nil {
		t.Fatal(err)
	}
	fs := f.Listeners[0].Filters
	if len(fs) != 2 || fs[0].Name != "own" || fs[1].Name != "xds/shop/auth" || fs[1].Module.SHA256 != strings.Repeat("a", 64) || string(fs[1].Config) != `{"k":"v"}` || !strings.EqualFold(fs[1].Phase, "AUTHN") {
		t.Fatalf("merged filters %+v", fs)
	}
	routes := f.Listeners[0].Routes
	if o := routes[0].Filters["xds/shop/auth"]; !o.Disabled {
		t.Errorf("route health: %+v, want the filter disabled", routes[0].Filters)
	}
	if o := routes[1].Filters["xds/shop/auth"]; o.Disabled || string(o.Config) != `{"k":"api"}` {
		t.Errorf("route api: %+v, want the api configuration", routes[1].Filters)
	}
	if len(routes[2].Filters) != 0 {
		t.Errorf("route all: %+v, want no override", routes[2].Filters)
	}
	if c.Applied()["wasmesh.io/filter/shop/auth"] != "sha256:"+strings.Repeat("a", 64) {
		t.Errorf("applied %v", c.Applied())
	}

	refuse.Store(true)
	bad, err := xdsapi.Build(xdsapi.Filter{Deployment: "shop/auth", ModuleDigest: "sha256:" + strings.Repeat("b", 64), URL: "http://op/modules/sha256:" + strings.Repeat("b", 64)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetPlan("shop/auth", opxds.Plan{"p1": bad}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return srv.Progress("shop/auth")["p1"].Nacked == bad.Hash })
	p := srv.Progress("shop/auth")["p1"]
	if p.Acked != good.Hash || !strings.Contains(p.Message, "on_configure") {
		t.Errorf("after the NACK: %+v", p)
	}
	after, _ := os.ReadFile(out)
	if string(after) != string(data) {
		t.Error("the refused configuration was left in place")
	}
}

func waitUntil(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
