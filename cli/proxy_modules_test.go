package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm/wasmtest"
	"github.com/wasmesh/wasmesh/host/proxy/module"
	"github.com/wasmesh/wasmesh/oci"
	"github.com/wasmesh/wasmesh/oci/registrytest"
)

// countingRegistry fronts a registry and counts its requests by kind ("HEAD manifest", "GET blob", ...).
type countingRegistry struct {
	host string
	mu   sync.Mutex
	n    map[string]int
}

func (c *countingRegistry) count(kind string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[kind]
}

func (c *countingRegistry) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n = map[string]int{}
}

func frontRegistry(t *testing.T, reg *registrytest.Registry) *countingRegistry {
	u, _ := url.Parse(reg.URL())
	rp := httputil.NewSingleHostReverseProxy(u)
	c := &countingRegistry{n: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := "other"
		switch {
		case strings.Contains(r.URL.Path, "/manifests/"):
			kind = "manifest"
		case strings.Contains(r.URL.Path, "/blobs/"):
			kind = "blob"
		}
		c.mu.Lock()
		c.n[r.Method+" "+kind]++
		c.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.host = srv.Listener.Addr().String()
	return c
}

// loggedInRegistry starts a registry with basic auth behind a counting front, logs in to the front as
// `wasmesh login --plain-http` does (credentials stored in a Docker config under DOCKER_CONFIG) and pushes wasm
// as filters/auth:v1.
func loggedInRegistry(t *testing.T, wasm []byte) (*countingRegistry, []byte, ocispec.Descriptor) {
	reg := registrytest.Start(t, registrytest.Config{Auth: true})
	front := frontRegistry(t, reg)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	ctx := context.Background()

	// What `wasmesh login --plain-http` does: check the credentials and store them in the Docker config.
	lc, err := oci.NewClient(oci.Options{Registries: map[string]oci.RegistryOptions{front.host: {PlainHTTP: true}}})
	if err != nil {
		t.Fatal(err)
	}
	store, err := oci.DockerCredentialStore()
	if err != nil {
		t.Fatal(err)
	}
	if err := lc.Login(ctx, store, front.host, reg.User, reg.Password); err != nil {
		t.Fatal(err)
	}
	desc, err := lc.Push(ctx, front.host+"/filters/auth:v1", wasm, oci.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return front, wasm, desc
}

// oci:// modules go through the module cache: N loads of one tag or digest download the module once, with
// the credentials `wasmesh login` stored and plain HTTP for the registry named in --registry-plain-http.
func TestModuleSourcesPullOncePerDigest(t *testing.T) {
	front, wasm, desc := loggedInRegistry(t, registrytest.Module(bytes.Repeat([]byte("module"), 1000)))
	ctx := context.Background()
	const reloads = 20
	for _, tt := range []struct {
		policy, ref string
		// what the registry sees for the reloads after the first load: nothing, or one tag resolution each
		wantAfterFirst map[string]int
	}{
		{"IfNotPresent", "filters/auth:v1", map[string]int{}},
		{"Always", "filters/auth:v1", map[string]int{"HEAD manifest": reloads - 1}},
		{"IfNotPresent", "filters/auth@" + desc.Digest.String(), map[string]int{}},
	} {
		t.Run(tt.policy+" "+tt.ref, func(t *testing.T) {
			o := moduleOptions{CacheDir: t.TempDir(), PullPolicy: tt.policy, PlainHTTP: []string{front.host}}
			srcs, c, err := o.sources(slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			ref := filter.ModuleRef{URL: "oci://" + front.host + "/" + tt.ref, SHA256: fmt.Sprintf("%x", sha256.Sum256(wasm))}
			load := func(i int) {
				got, err := module.Fetch(ctx, srcs, ref)
				if err != nil {
					t.Fatalf("load %d: %v", i, err)
				}
				if !bytes.Equal(got, wasm) {
					t.Fatalf("load %d: different bytes", i)
				}
			}
			front.reset()
			load(0)
			if front.count("GET blob") == 0 {
				t.Fatalf("first load did not download: registry saw %v", front.n)
			}
			front.reset()
			for i := 1; i < reloads; i++ {
				load(i)
			}
			front.mu.Lock()
			got := front.n
			front.mu.Unlock()
			if !maps.Equal(got, tt.wantAfterFirst) {
				t.Errorf("%d reloads after the first load: registry saw %v, want %v", reloads-1, got, tt.wantAfterFirst)
			}
			if s := c.Stats(); s.Fetches != 1 {
				t.Errorf("cache downloaded %d times for %d loads, want 1", s.Fetches, reloads)
			}
		})
	}
}

// A pinned http(s) module (what the operator sends over xDS) is kept in --module-cache-dir: a second process
// on the same directory loads it with its server gone; an unpinned one is refused, as before.
func TestModuleSourcesKeepPinnedHTTPModules(t *testing.T) {
	wasm := registrytest.Module([]byte("from the operator"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(wasm) }))
	ref := filter.ModuleRef{URL: srv.URL + "/modules/x", SHA256: fmt.Sprintf("%x", sha256.Sum256(wasm))}
	dir := t.TempDir()
	load := func() ([]byte, error) {
		srcs, _, err := moduleOptions{CacheDir: dir}.sources(slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return module.Fetch(context.Background(), srcs, ref)
	}
	if got, err := load(); err != nil || !bytes.Equal(got, wasm) {
		t.Fatalf("first load: %v", err)
	}
	srv.Close()
	if got, err := load(); err != nil || !bytes.Equal(got, wasm) {
		t.Fatalf("load with the server down: %v", err)
	}
	ref.SHA256 = ""
	if _, err := load(); err == nil || !strings.Contains(err.Error(), "sha256 pin") {
		t.Errorf("unpinned http module: %v, want the pin required", err)
	}
}

// Registry options that contradict each other are refused with the flag to fix.
func TestModuleOptionsErrors(t *testing.T) {
	for _, tt := range []struct {
		o    moduleOptions
		want string
	}{
		{moduleOptions{PullPolicy: "Sometimes"}, "--module-pull-policy"},
		{moduleOptions{PlainHTTP: []string{"r:5000"}, Insecure: []string{"r:5000"}}, "--registry-insecure r:5000"},
		{moduleOptions{PlainHTTP: []string{"r:5000"}, CAFiles: map[string]string{"r:5000": "/ca.pem"}}, "--registry-ca-file r:5000"},
		{moduleOptions{CAFiles: map[string]string{"r:5000": "/nonexistent/ca.pem"}}, "registry options"},
	} {
		tt.o.CacheDir = t.TempDir()
		_, _, err := tt.o.sources(slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: got %v, want an error naming %q", tt.o, err, tt.want)
		}
	}
}

// `wasmesh proxy` reloads a configuration whose Wasm filter comes from oci:// many times: the module is
// downloaded once, and later reloads (IfNotPresent, tag within its TTL) do not touch the registry.
func TestProxyReloadsPullOCIModuleOnce(t *testing.T) {
	front, _, _ := loggedInRegistry(t, readFile(t, wasmtest.Build(t, "../host/engine/testdata/headers")))
	admin := freeAddr(t)
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	write := func(n int) {
		// The plugin configuration changes each time, so every reload builds the filter again.
		os.WriteFile(path, []byte(fmt.Sprintf(`admin: {address: %s}
listeners:
- name: http
  address: 127.0.0.1:0
  filters: [{name: hdr, kind: wasm, module: {url: "oci://%s/filters/auth:v1"}, config: "reload-%d"}]
  routes: [{name: all, cluster: up}]
clusters: [{name: up, endpoints: [{address: "127.0.0.1:1"}]}]
`, admin, front.host, n)), 0o644)
	}
	write(0)
	rt := proxyRuntime{Modules: moduleOptions{CacheDir: t.TempDir(), PlainHTTP: []string{front.host}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	front.reset()
	go func() { done <- runProxy(ctx, path, rt, 0, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxy stopped with %v", err)
		}
	}()
	waitUntil(t, func() bool {
		resp, err := http.Get("http://" + admin + "/ready")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	if front.count("GET blob") == 0 {
		t.Fatalf("the start did not pull the module: registry saw %v", front.n)
	}
	front.reset()
	const reloads = 10
	for i := 1; i <= reloads; i++ {
		write(i)
		resp, err := http.Post("http://"+admin+"/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("reload %d: %s %s", i, resp.Status, body)
		}
	}
	front.mu.Lock()
	defer front.mu.Unlock()
	if len(front.n) != 0 {
		t.Fatalf("%d reloads reached the registry: %v", reloads, front.n)
	}
}

func readFile(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
