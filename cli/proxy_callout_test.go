package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm/wasmtest"
)

// `wasmesh proxy` gives modules' proxy_http_call to its clusters: the auth filter fetches its remote JWKS through
// cluster idp when it starts, and the fetch shows in the cluster's upstream metrics.
func TestProxyCommandModuleCalls(t *testing.T) {
	mod := wasmtest.Build(t, "../filters/auth")
	var fetches atomic.Int32
	pub := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		fmt.Fprintf(w, `{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": %q}]}`, base64.RawURLEncoding.EncodeToString(pub))
	}))
	defer idp.Close()
	admin := freeAddr(t)
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	os.WriteFile(path, []byte(fmt.Sprintf(`admin: {address: %s}
listeners:
- name: http
  address: 127.0.0.1:0
  filters:
  - name: auth
    kind: wasm
    module: {url: "file://%s"}
    options: {pool_size: 1}
    config: {"jwt": {"providers": [{"issuer": "https://idp.test", "remote_jwks": {"cluster": "idp", "path": "/jwks.json"}}]}}
  routes: [{name: all, cluster: up}]
clusters:
- {name: up, endpoints: [{address: "127.0.0.1:1"}]}
- {name: idp, endpoints: [{address: "%s"}]}
`, admin, mod, idp.Listener.Addr())), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runProxy(ctx, path, proxyRuntime{WasmCacheDir: wasmtest.CompileCache(t)}, 0, slog.New(slog.DiscardHandler))
	}()
	metrics := func() string {
		resp, err := http.Get("http://" + admin + "/stats/prometheus")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitUntil(t, func() bool {
		return strings.Contains(metrics(), `wasmesh_upstream_requests_total{cluster="idp",result="2xx"} 1`)
	})
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches, want 1", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("proxy stopped with %v", err)
	}
}
