package dubbotest_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/dubbo"
	"github.com/wasmesh/wasmesh/host/dubbo/dubbotest"
	"github.com/wasmesh/wasmesh/host/dubbo/internal/cputime"
	"github.com/wasmesh/wasmesh/host/dubbo/upstream"
	"github.com/wasmesh/wasmesh/host/engine"
	"github.com/wasmesh/wasmesh/host/proxy"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/filter/native/apikey"
	"github.com/wasmesh/wasmesh/host/proxy/filter/native/header"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm/wasmtest"
	"github.com/wasmesh/wasmesh/host/proxy/module"
)

// proxyBenchConfig is a dubbo listener in front of two providers; %s are the filters.
const proxyBenchConfig = `
listeners:
- name: dubbo
  address: 127.0.0.1:0
  protocol: dubbo
  filters: %s
  routes: [{name: greeter, match: {service: org.example.GreetingService}, cluster: dubbo-greeter-v1}]
clusters:
- {name: dubbo-greeter-v1, protocol: dubbo, endpoints: [{address: "%s"}]}
- {name: dubbo-greeter-v2, protocol: dubbo, endpoints: [{address: "%s"}]}
`

// BenchmarkProxy measures one Dubbo call side by side: straight to the provider, through wasmesh's Dubbo
// listener with no filter, with the native API-key filter, with the Wasm auth filter (API-key mode), with the
// Wasm dubbo-routing filter (samples/filters/dubbo-routing.json), and with both Wasm filters. The load is 32
// callers sharing 2 connections (the multiplexing client sends ready frames, so the client costs little); the
// provider, the proxy and the client share the process, so the proxy's cost is a variant's cpu-ns/op (and
// allocs/op) minus direct's.
func BenchmarkProxy(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bs := newBenchSetup(b, ctx)
	eng, err := engine.New(engine.Config{CacheDir: wasmtest.CompileCache(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close(context.Background())
	reg, err := filter.NewRegistry(wasm.Kind(eng, module.Default(nil)), header.Kind(), apikey.Kind())
	if err != nil {
		b.Fatal(err)
	}
	variants := []struct{ name, filters string }{
		{"direct", ""},
		{"wasmesh-nofilter", "[]"},
		{"wasmesh-native-apikey", `[{name: keys, kind: apikey, config: {header: x-api-key, keys: [bench-key-0001]}}]`},
		{"wasmesh-wasm-auth", "[" + bs.auth + "]"},
		{"wasmesh-wasm-dubbo-routing", "[" + bs.route + "]"},
		{"wasmesh-wasm-auth+routing", "[" + bs.auth + ", " + bs.route + "]"},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			addr := bs.v1
			if v.filters != "" {
				addr = startProxy(b, ctx, reg, fmt.Sprintf(proxyBenchConfig, v.filters, bs.v1, bs.v2))
			}
			c := loadClient(b, ctx, addr, bs.req)
			b.SetParallelism(16)
			b.ReportAllocs()
			b.ResetTimer()
			defer cputime.Report(b, cputime.Process())
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					call(b, c, bs.req)
				}
			})
		})
	}
}

// benchSetup is what both proxy benchmarks share: two providers, the Wasm filters' YAML and the request.
type benchSetup struct {
	v1, v2, auth, route string
	req                 []byte
}

func newBenchSetup(b *testing.B, ctx context.Context) benchSetup {
	bs := benchSetup{v1: startProvider(b, ctx, "v1"), v2: startProvider(b, ctx, "v2")}
	authWasm := wasmtest.Build(b, "../../../filters/auth")
	routingWasm := wasmtest.Build(b, "../../../filters/dubbo-routing")
	routing, err := os.ReadFile("../../../samples/filters/dubbo-routing.json")
	if err != nil {
		b.Fatal(err)
	}
	// Both filters act on request headers only; options.callbacks says so (as bench/run-proxy.sh does for HTTP),
	// so the proxy neither decodes the Dubbo response for them nor calls them with it.
	bs.auth = fmt.Sprintf(`{name: auth, kind: wasm, module: {url: "file://%s"}, config: {consumers: [{name: bench, keys: [bench-key-0001]}]}, options: {callbacks: [request_headers]}}`, authWasm)
	bs.route = fmt.Sprintf(`{name: dubbo-routing, kind: wasm, module: {url: "file://%s"}, config: %s, options: {callbacks: [request_headers]}}`, routingWasm, routing)
	// The call the brief calls typical: two arguments, five attachments (with the API key and a user id for the
	// routing hash).
	bs.req, err = dubbotest.RequestFrame(1, dubbotest.Invocation{Service: dubbotest.ExampleGreetingService, Version: "1.0.0",
		Method: "greet", Args: []any{"Alice"}, Attachments: map[string]string{"x-api-key": "bench-key-0001",
			"x-user-id": "u-42", "group": "g1", "traceid": "0af7651916cd43dd8448eb211c80319c"}})
	if err != nil {
		b.Fatal(err)
	}
	return bs
}

// loadClient is the load generator: a multiplexing client with 2 connections to addr, warmed up with the
// benchmarks' concurrency so connections and the VMs of the Wasm filters' pools exist before the timer starts.
func loadClient(b *testing.B, ctx context.Context, addr string, req []byte) *upstream.Client {
	c, err := upstream.New(upstream.Config{Addr: addr, MaxConns: 2})
	if err != nil {
		b.Fatal(err)
	}
	cctx, stop := context.WithCancel(ctx)
	b.Cleanup(stop)
	go c.Start(cctx)
	var wg sync.WaitGroup
	for range 16 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for range 50 {
				call(b, c, req)
			}
		})
	}
	wg.Wait()
	return c
}

func call(b *testing.B, c *upstream.Client, req []byte) {
	resp, err := c.Do(context.Background(), req)
	if err != nil {
		b.Error(err)
		return
	}
	if h, _ := dubbo.ParseHeader(resp, len(resp)); h.Status != dubbo.StatusOK {
		b.Errorf("status %d: %q", h.Status, resp)
	}
}

func startProvider(b *testing.B, ctx context.Context, label string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go dubbotest.NewProvider(dubbotest.ProviderConfig{Label: label}).Serve(ctx, ln)
	return ln.Addr().String()
}

func startProxy(b *testing.B, ctx context.Context, reg *filter.Registry, cfg string) string {
	path := filepath.Join(b.TempDir(), "proxy.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	srv, err := proxy.New(ctx, proxy.Options{ConfigPath: path, Registry: reg, WatchInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	pctx, stop := context.WithCancel(ctx)
	b.Cleanup(stop)
	go srv.Start(pctx)
	deadline := time.Now().Add(10 * time.Second)
	for !srv.Ready() {
		if time.Now().After(deadline) {
			b.Fatal("proxy not ready")
		}
		time.Sleep(time.Millisecond)
	}
	return srv.Addr("dubbo").String()
}
