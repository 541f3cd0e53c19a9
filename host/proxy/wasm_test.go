package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wasmesh/wasmesh/host/engine"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/filter/native/apikey"
	"github.com/wasmesh/wasmesh/host/proxy/filter/native/header"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm/wasmtest"
	"github.com/wasmesh/wasmesh/host/proxy/module"
)

// tinygostyle builds the builder's TinyGo-style test module and returns its path and sha256 (hex).
func tinygostyle(t testing.TB) (path, sha string) {
	t.Helper()
	path = wasmtest.Build(t, "../../builder/testdata/tinygostyle")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return path, hex.EncodeToString(sum[:])
}

// wasmRegistry is a registry with the header, apikey and wasm kinds, on an engine closed when t ends.
func wasmRegistry(t testing.TB) *filter.Registry {
	t.Helper()
	eng, err := engine.New(engine.Config{CacheDir: wasmtest.CompileCache(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	reg, err := filter.NewRegistry(header.Kind(), apikey.Kind(), wasm.Kind(eng, module.Default(nil)))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestReloadUnderLoadWasm is the reload test with a Wasm filter (a TinyGo-style module built by the wasmesh
// builder) whose plugin configuration changes on every reload; the broken reloads give it the configuration
// its on_configure refuses, so the new VMs fail to start and the old chain keeps serving.
func TestReloadUnderLoadWasm(t *testing.T) {
	path, _ := tinygostyle(t)
	reg := wasmRegistry(t)
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

// TestReloadKeepsUnchangedFilters: a reload keeps the instance of every filter whose definition did not change
// and whose module is pinned by digest (its VMs and what they hold survive), builds again the ones that changed
// and those whose module may have changed under the same URL, and the retired configuration closes only what
// it alone used.
func TestReloadKeepsUnchangedFilters(t *testing.T) {
	path, pin := tinygostyle(t)
	reg := wasmRegistry(t)
	h := &harness{t: t}
	h.a = upstream(t, "a").Listener.Addr().String()
	config := func(greeting, routeHeader string) string {
		return fmt.Sprintf(`
listeners:
- name: http
  address: 127.0.0.1:0
  filters:
  - {name: pinned, kind: wasm, module: {url: "file://%[1]s", sha256: "%[2]s"}, config: %[3]q, options: {pool_size: 1, vm_id: pinned}}
  - {name: unpinned, kind: wasm, module: {url: "file://%[1]s"}, config: "other", options: {pool_size: 1, vm_id: unpinned}}
  - {name: tag, kind: header, config: {request_set: {x-tag: t}}}
  routes:
  - {name: default, match: {path: {prefix: /}}, cluster: a, request_headers: {set: {x-route: %[4]q}}}
clusters:
- {name: a, endpoints: [{address: "%[5]s"}]}
`, path, pin, greeting, routeHeader, h.a)
	}
	h = startProxy(t, reg, config("hello", "r1"))
	instances := func() map[string]filter.Filter {
		out := map[string]filter.Filter{}
		for _, bf := range h.srv.gen.Load().filters {
			out[bf.spec.Name] = bf.shared.f
		}
		return out
	}
	// Both Wasm filters set x-greeting; the pinned one runs first, so its greeting is the one upstream sees
	// unless the unpinned one overwrites it: check the route header and that requests pass, not which greeting.
	served := func(wantRoute string) {
		t.Helper()
		for i := 0; i < 20; i++ {
			resp, _ := get(t, http.DefaultClient, h.base+"/x", map[string]string{"x-user": "ann"})
			if resp.StatusCode != 200 || resp.Header.Get("X-Echo-X-Route") != wantRoute || resp.Header.Get("X-Echo-X-Tag") != "t" {
				t.Fatalf("request %d: %d, route header %q, tag %q", i, resp.StatusCode, resp.Header.Get("X-Echo-X-Route"), resp.Header.Get("X-Echo-X-Tag"))
			}
		}
	}
	// reload writes the configuration, reloads, and returns the instances it runs.
	reload := func(greeting, routeHeader string) map[string]filter.Filter {
		t.Helper()
		h.write(config(greeting, routeHeader))
		if err := h.srv.Reload(context.Background(), "test"); err != nil {
			t.Fatal(err)
		}
		return instances()
	}
	served("r1")
	before := instances()

	// Only a route changed: the pinned and native filters are kept, the unpinned module is built again.
	after := reload("hello", "r2")
	if after["pinned"] != before["pinned"] || after["tag"] != before["tag"] {
		t.Error("a reload that changed only a route built the unchanged pinned and native filters again")
	}
	if after["unpinned"] == before["unpinned"] {
		t.Error("a module referenced without a digest was kept across a reload; it must be built again")
	}
	served("r2")
	for deadline := time.Now().Add(10 * time.Second); testutil.ToFloat64(h.srv.metrics.Draining) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the retired configuration was not closed")
		}
	}
	served("r2") // the kept instances were not closed with the retired configuration

	// A kept filter that has failed (no VM left) is built again by the next reload, the usual way to recover it.
	if err := after["pinned"].(filter.Closer).Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := after["pinned"].(filter.Describer).Describe(); st.State != "failed" {
		t.Fatalf("closed filter reports %q, want failed", st.State)
	}
	recovered := reload("hello", "r3")
	if recovered["pinned"] == after["pinned"] {
		t.Fatal("a failed filter was kept across a reload")
	}
	served("r3")

	// The pinned filter's configuration changed: a new instance, and the old one goes with the old generation.
	if reload("bonjour", "r3")["pinned"] == recovered["pinned"] {
		t.Error("a filter whose configuration changed was kept")
	}
	served("r3")
}
