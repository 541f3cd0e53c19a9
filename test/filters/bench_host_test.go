package filters

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
)

const samplesDir = "../../samples/filters"

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samplesDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// demoToken mints a token for the sample auth configuration with the demo-only key under samples/filters/keys,
// the way the demo does.
func demoToken(t testing.TB, sub string, extra ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samplesDir, "keys", "DEMO-ONLY-jwt-private.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("demo key: no PEM block")
		return ""
	}
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": "demo-ed25519"})
	claims := map[string]any{"iss": "https://issuer.wasmesh.demo", "aud": "greeter", "sub": sub,
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	for i := 0; i+1 < len(extra); i += 2 {
		claims[extra[i]] = extra[i+1]
	}
	c, _ := json.Marshal(claims)
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	return input + "." + enc.EncodeToString(ed25519.Sign(key.(ed25519.PrivateKey), []byte(input)))
}

func startPlugin(t testing.TB, f *hostFilter, vmID string, cfg []byte, pool int) *engine.Plugin {
	t.Helper()
	ctx := f.compileCtx
	if ctx == nil {
		ctx = context.Background()
	}
	p, err := f.eng.NewPlugin(ctx, engine.PluginConfig{Module: f.mod, Name: f.name, VMID: vmID,
		Configuration: cfg, PoolSize: pool, CallTimeout: callTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// hostCase is one request shape of BenchmarkHost: a filter, its configuration and the request headers.
type hostCase struct {
	name, filter, vmID string
	cfg                []byte
	req                abi.Headers
}

// hostCases are BenchmarkHost's cases; TestGuestCalls profiles the same ones.
func hostCases(t testing.TB) []hostCase {
	httpReq := func(kv ...string) abi.Headers {
		h := abi.Headers{{Key: ":method", Value: "GET"}, {Key: ":path", Value: "/hello"}, {Key: ":authority", Value: "api.example.com"},
			{Key: "user-agent", Value: "bench"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h = append(h, abi.Header{Key: kv[i], Value: kv[i+1]})
		}
		return h
	}
	dubboReq := abi.Headers{{Key: ":method", Value: "DUBBO"}, {Key: ":path", Value: "/org.example.GreetingService/sayHello"},
		{Key: "x-dubbo-service", Value: "org.example.GreetingService"}, {Key: "x-dubbo-method", Value: "sayHello"},
		{Key: "x-dubbo-version", Value: "1.0.0"}, {Key: "x-dubbo-group", Value: ""}, {Key: "x-dubbo-protocol-version", Value: "2.0.2"},
		{Key: "x-user-id", Value: "user-42"}}
	bigLimit := []byte(`{"rules": [{"name": "per-consumer", "key": {"source": "consumer"},
	  "limit_keys": [{"value": "*", "requests": 1000000000, "per": "second"}]}]}`)
	noop := func(name, cfg string) hostCase {
		return hostCase{name: "baseline/" + name, filter: "noop", vmID: "bench-noop", cfg: []byte(cfg), req: httpReq()}
	}
	authCfg := sample(t, "auth")
	return []hostCase{
		noop("nothing", `[]`),
		noop("get-headers", `["headers"]`),
		noop("get-one-header", `["header"]`),
		noop("get-property", `["property"]`),
		noop("time-now", `["now"]`),
		noop("time-now-mono", `["now-mono"]`),
		noop("set-header", `["set-header"]`),
		noop("remove-header", `["remove-header"]`),
		noop("metric", `["metric"]`),
		noop("alloc", `["alloc"]`),
		{"auth/api-key", "auth", "bench-auth", authCfg, httpReq("x-api-key", "alice-demo-key-0001")},
		{"auth/basic-warm", "auth", "bench-auth", authCfg,
			httpReq("authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("bob:bob-demo-password")))},
		{"auth/jwt-cached", "auth", "bench-auth", authCfg, httpReq("authorization", "Bearer "+demoToken(t, "carol"))},
		{"ratelimit/consumer", "ratelimit", "bench-rl", bigLimit, httpReq("x-wasmesh-consumer", "alice")},
		{"dubbo-routing/sticky-weights", "dubbo-routing", "bench-dr", sample(t, "dubbo-routing"), dubboReq},
	}
}

// benchInfo is the stream every BenchmarkHost request runs on (ratelimit rules may read the client address).
var benchInfo = engine.StreamInfo{Properties: engine.PropertyMap{"source.address": []byte("10.0.0.1:40000")}}

// runRequest runs one request of c on p: create the stream, run proxy_on_request_headers (host calls included),
// end the stream. h is reused between calls. A local response fails the benchmark: every case is allowed.
func runRequest(t testing.TB, p *engine.Plugin, c hostCase, h *abi.Headers) {
	s, err := p.NewHTTPStream(context.Background(), benchInfo)
	if err != nil {
		t.Fatal(err)
	}
	*h = append((*h)[:0], c.req...)
	s.OnRequestHeaders(h, true)
	if lr := s.LocalResponse(); lr != nil {
		t.Fatalf("%s: local response %d", c.name, lr.StatusCode)
	}
	s.Done()
}

// BenchmarkHost measures one request through a compiled filter in the engine: create the stream, run
// proxy_on_request_headers (host calls included), end the stream.
func BenchmarkHost(b *testing.B) {
	filters := map[string]*hostFilter{}
	for _, c := range hostCases(b) {
		f := filters[c.filter]
		if f == nil {
			f = newHostFilter(b, c.filter)
			filters[c.filter] = f
		}
		p := startPlugin(b, f, c.vmID, c.cfg, 1)
		b.Run(c.name, func(b *testing.B) {
			h := make(abi.Headers, 0, 32)
			runRequest(b, p, c, &h) // warm the caches (bcrypt, token verification)
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				runRequest(b, p, c, &h)
			}
			reportCPU(b, cpu)
		})
	}
}

// openStreams opens n streams at once; while they stay open each holds its VM, so they land on n VMs up to the
// pool bound.
func openStreams(t *testing.T, p *engine.Plugin, n int) []*engine.HTTPStream {
	t.Helper()
	var open []*engine.HTTPStream
	for i := 0; i < n; i++ {
		s, err := p.NewHTTPStream(context.Background(), engine.StreamInfo{})
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, s)
	}
	return open
}

// cpuTime is the process's user+system CPU time. On a machine shared with other builds, CPU time per operation
// varies much less than wall time, which also counts the time the benchmark waited for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the CPU time per operation since start as "cpu-ns/op".
func reportCPU(b *testing.B, start time.Duration) {
	if b.N > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

// TestRateLimitAcrossVMs checks that the limit holds for the plugin, not per VM: four VMs share the buckets.
func TestRateLimitAcrossVMs(t *testing.T) {
	f := newHostFilter(t, "ratelimit")
	cfg := []byte(`{"rules": [{"name": "shared", "key": {"source": "header", "name": "x-user"},
	  "limit_keys": [{"value": "*", "requests": 5, "per": "hour"}]}]}`)
	p := startPlugin(t, f, "rl-shared", cfg, 4)
	streams := openStreams(t, p, 4)
	if p.VMs() != 4 {
		t.Fatalf("%d VMs, want 4", p.VMs())
	}
	for _, s := range streams {
		s.Done()
	}
	allowed := 0
	for round := 0; round < 3; round++ {
		open := openStreams(t, p, 4)
		for _, s := range open {
			h := abi.Headers{{Key: ":method", Value: "GET"}, {Key: ":path", Value: "/"}, {Key: "x-user", Value: "u1"}}
			s.OnRequestHeaders(&h, true)
			if s.LocalResponse() == nil {
				allowed++
			}
		}
		for _, s := range open {
			s.Done()
		}
	}
	if allowed != 5 {
		t.Fatalf("%d of 12 requests allowed across 4 VMs, want the plugin-wide 5", allowed)
	}
	if got := f.counter("wasmesh_ratelimit_requests_total.rule=shared.result=limited"); got != 7 {
		t.Fatalf("limited counter = %d, want 7", got)
	}
}

// TestRateLimitConcurrentStreams checks the proxy-wide limit under contention: four VMs serve eight goroutines at
// once, on one key and on keys that share a small bucket table, and no key admits more than its burst.
func TestRateLimitConcurrentStreams(t *testing.T) {
	f := newHostFilter(t, "ratelimit")
	cfg := []byte(`{"max_buckets": 64, "rules": [{"name": "u", "key": {"source": "header", "name": "x-user"},
	  "limit_keys": [{"value": "*", "requests": 20, "per": "hour"}]}]}`)
	p := startPlugin(t, f, "rl-concurrent", cfg, 4)
	const goroutines, perG, users = 8, 60, 4
	var mu sync.Mutex
	allowed := map[string]int{}
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perG; i++ {
				user := "user-" + strconv.Itoa(i%users)
				s, err := p.NewHTTPStream(context.Background(), engine.StreamInfo{})
				if err != nil {
					t.Error(err)
					return
				}
				h := abi.Headers{{Key: ":method", Value: "GET"}, {Key: ":path", Value: "/"}, {Key: "x-user", Value: user}}
				s.OnRequestHeaders(&h, true)
				if s.LocalResponse() == nil {
					mu.Lock()
					allowed[user]++
					mu.Unlock()
				}
				s.Done()
			}
		}()
	}
	wg.Wait()
	if p.VMs() < 2 {
		t.Logf("only %d VM served the streams; the cross-VM part was not exercised", p.VMs())
	}
	for u := 0; u < users; u++ {
		if n := allowed["user-"+strconv.Itoa(u)]; n != 20 {
			t.Errorf("user-%d: %d of %d requests allowed, want exactly the burst of 20", u, n, goroutines*perG/users)
		}
	}
	if got := f.counter("wasmesh_ratelimit_store_errors_total"); got != 0 {
		t.Errorf("%d store errors (CAS retries exhausted?)", got)
	}
}

// callTimeout is the benchmark plugins' callback deadline; see BenchmarkHost for the figures with and without.
var callTimeout = -1 * time.Nanosecond

// TestSampleAuthWithDemoToken checks what the demo relies on: the sample auth configuration accepts tokens minted
// with the demo-only key, forwards the subject, and keeps /admin for bob or the admin scope.
func TestSampleAuthWithDemoToken(t *testing.T) {
	f := newHostFilter(t, "auth")
	p := startPlugin(t, f, "demo-auth", sample(t, "auth"), 1)
	tests := []struct {
		name, path, auth string
		status           uint32
		consumer         string
	}{
		{"token", "/hello", "Bearer " + demoToken(t, "carol"), 0, "carol"},
		{"token without admin scope", "/admin/stats", "Bearer " + demoToken(t, "carol"), 403, ""},
		{"token with admin scope", "/admin/stats", "Bearer " + demoToken(t, "dave", "scope", "admin"), 0, "dave"},
		{"bob on admin", "/admin/stats", "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:bob-demo-password")), 0, "bob"},
		{"forged token", "/hello", "Bearer " + demoToken(t, "carol")[:40] + "x.y.z", 401, ""},
	}
	for _, tt := range tests {
		s, err := p.NewHTTPStream(context.Background(), engine.StreamInfo{})
		if err != nil {
			t.Fatal(err)
		}
		h := abi.Headers{{Key: ":method", Value: "GET"}, {Key: ":path", Value: tt.path}, {Key: ":authority", Value: "greeter"},
			{Key: "authorization", Value: tt.auth}, {Key: "x-wasmesh-consumer", Value: "mallory"}}
		s.OnRequestHeaders(&h, true)
		var status uint32
		if lr := s.LocalResponse(); lr != nil {
			status = lr.StatusCode
		}
		consumer, _ := h.Get("x-wasmesh-consumer")
		if status != tt.status || (status == 0 && consumer != tt.consumer) {
			t.Errorf("%s: status %d consumer %q, want %d %q", tt.name, status, consumer, tt.status, tt.consumer)
		}
		if _, ok := h.Get("authorization"); ok && status == 0 {
			t.Errorf("%s: credentials forwarded upstream", tt.name)
		}
		s.Done()
	}
}
