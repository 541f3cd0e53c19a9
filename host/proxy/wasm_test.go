package proxy

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/wasmesh/wasmesh/host/engine"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/filter/native/apikey"
	"github.com/wasmesh/wasmesh/host/proxy/filter/native/header"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm/wasmtest"
	"github.com/wasmesh/wasmesh/host/proxy/module"
)

// TestReloadUnderLoadWasm is the reload test with a Wasm filter (a TinyGo-style module built by the wasmesh
// builder) whose plugin configuration changes on every reload; the broken reloads give it the configuration
// its on_configure refuses, so the new VMs fail to start and the old chain keeps serving.
func TestReloadUnderLoadWasm(t *testing.T) {
	path := wasmtest.Build(t, "../../builder/testdata/tinygostyle")
	eng, err := engine.New(engine.Config{CacheDir: wasmtest.CompileCache(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.Background())
	reg, err := filter.NewRegistry(header.Kind(), apikey.Kind(), wasm.Kind(eng, module.Default(nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t}
	h.a = upstream(t, "a").Listener.Addr().String()
	h.b = upstream(t, "b").Listener.Addr().String()
	config := func(i int) string {
		greeting := fmt.Sprintf("gen%d", i)
		if i%5 == 4 {
			greeting = "fail"
		}
		return fmt.Sprintf(`
admin: {address: 127.0.0.1:0}
listeners:
- name: http
  address: 127.0.0.1:0
  filters:
  - {name: greet, kind: wasm, module: {url: "file://%s"}, config: %q, options: {pool_size: 2, callbacks: [request_headers]}}
  - {name: keys, kind: apikey, phase: AUTHN, config: {keys: [k1]}}
  routes:
  - {name: default, match: {path: {prefix: /}}, cluster: a}
clusters:
- {name: a, endpoints: [{address: "%s"}]}
`, path, greeting, h.a)
	}
	h = startProxy(t, reg, config(-1))
	check := func(resp *http.Response) string {
		if g := resp.Header.Get("X-Echo-X-Greeting"); !strings.HasPrefix(g, "gen") || !strings.HasSuffix(g, ", ann") {
			return fmt.Sprintf("greeting %q", g)
		}
		return ""
	}
	reloadUnderLoad(t, h, config, check, "greet")

	// The module answers 401 itself without x-user.
	resp, body := get(t, http.DefaultClient, h.base+"/x", map[string]string{"x-api-key": "k1"})
	if resp.StatusCode != 401 || body != "who are you?" {
		t.Fatalf("without x-user: %d %q", resp.StatusCode, body)
	}
	_, metrics := get(t, http.DefaultClient, "http://"+h.srv.AdminAddr().String()+"/stats/prometheus", nil)
	if !strings.Contains(metrics, `wasmesh_wasm_vms{filter="greet",listener="http",route=""}`) {
		t.Errorf("no VM gauge in /stats/prometheus")
	}
	fs := h.srv.FilterStatus().([]FilterInfo)
	for _, f := range fs {
		if f.Kind == "wasm" && (f.VMs == 0 || !strings.HasPrefix(f.ModuleDigest, "sha256:")) {
			t.Fatalf("/filters entry %+v", f)
		}
	}
}
