package proxy

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
	"github.com/wasmesh/wasmesh/host/engine/grpcclient/grpcclienttest"
	"github.com/wasmesh/wasmesh/host/proxy/cluster"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm/wasmtest"
	"github.com/wasmesh/wasmesh/host/proxy/module"
)

// calloutProxy starts a proxy on cfg whose modules' calls go through a Callouts bound to it, with an engine for
// wasm filters. Upstreams a and b of the harness are unused unless cfg names them.
func calloutProxy(t *testing.T, cfg string) *harness {
	t.Helper()
	co := NewCallouts(nil)
	t.Cleanup(func() { _ = co.Close() })
	eng, err := engine.New(engine.Config{CacheDir: wasmtest.CompileCache(t), Caller: co})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close(context.Background()) })
	reg, err := filter.NewRegistry(wasm.Kind(eng, module.Default(nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, path: filepath.Join(t.TempDir(), "proxy.yaml"), callouts: co}
	h.write(cfg)
	return startProxyAt(t, reg, h)
}

// callUpstream answers calls with what it received: method, path, host, x-h and body as response headers,
// and trailer x-trailer: done. /status/N answers N; /slow waits for the request's end; /block waits on block.
func callUpstream(t *testing.T, block chan struct{}) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/slow":
			<-r.Context().Done()
			return
		case r.URL.Path == "/block":
			<-block
		case strings.HasPrefix(r.URL.Path, "/status/"):
			var code int
			fmt.Sscan(strings.TrimPrefix(r.URL.Path, "/status/"), &code)
			w.WriteHeader(code)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Trailer")
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Path", r.URL.RequestURI())
		w.Header().Set("X-Host", r.Host)
		w.Header().Set("X-H", r.Header.Get("X-H"))
		w.Header().Set("X-Body", string(body))
		w.Header().Set("X-Req-Trailer", r.Trailer.Get("X-T"))
		w.Header().Set("X-User-Agent", r.Header.Get("User-Agent"))
		w.Write([]byte("hello"))
		w.Header().Set("X-Trailer", "done")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func pairs(kv ...string) abi.Headers {
	var h abi.Headers
	for i := 0; i < len(kv); i += 2 {
		h = append(h, abi.Header{Key: kv[i], Value: kv[i+1]})
	}
	return h
}

func value(h abi.Headers, k string) string {
	v, _ := h.Get(k)
	return v
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

const calloutConfig = `
listeners:
- name: http
  address: 127.0.0.1:0
  routes:
  - {name: all, match: {path: {prefix: /}}, cluster: echo}
clusters:
- {name: echo, endpoints: [{address: "%[1]s"}]}
- {name: limited, endpoints: [{address: "%[1]s"}], circuit_breaker: {max_requests: 1}}
- {name: legacy, protocol: dubbo, endpoints: [{address: "%[2]s"}]}
- {name: down, endpoints: [{address: "%[2]s"}]}
`

// TestCalloutHTTP sends proxy_http_call's requests as the engine does, through the clusters of a running proxy.
func TestCalloutHTTP(t *testing.T) {
	block := make(chan struct{})
	up := callUpstream(t, block)
	h := calloutProxy(t, fmt.Sprintf(calloutConfig, up.Listener.Addr(), closedAddr(t)))
	co := h.callouts
	call := func(path string) abi.Headers {
		return pairs(":method", "GET", ":path", path, ":authority", "idp.local")
	}
	tests := []struct {
		name     string
		cluster  string
		headers  abi.Headers
		body     string
		trailers abi.Headers
		timeout  time.Duration
		want     map[string]string // response headers
		wantErr  string
	}{
		{name: "get", cluster: "echo", headers: append(call("/keys?x=1"), pairs("x-h", "v", ":scheme", "https")...),
			want: map[string]string{":status": "200", "x-method": "GET", "x-path": "/keys?x=1", "x-host": "idp.local",
				"x-h": "v", "x-user-agent": ""}},
		{name: "post with body and trailers", cluster: "echo", headers: pairs(":method", "POST", ":path", "/p"),
			body: "abc", trailers: pairs("x-t", "1"),
			want: map[string]string{":status": "200", "x-method": "POST", "x-body": "abc", "x-req-trailer": "1", "x-host": "echo"}},
		{name: "status passes through", cluster: "echo", headers: call("/status/503"), want: map[string]string{":status": "503"}},
		{name: "timeout", cluster: "echo", headers: call("/slow"), timeout: 100 * time.Millisecond, wantErr: "context deadline exceeded"},
		{name: "unknown cluster", cluster: "nope", headers: call("/"), wantErr: `cluster "nope": no such cluster`},
		{name: "no method", cluster: "echo", headers: pairs(":path", "/"), wantErr: "no :method"},
		{name: "bad path", cluster: "echo", headers: pairs(":method", "GET", ":path", "keys"), wantErr: `:path "keys" must start with /`},
		{name: "dubbo cluster", cluster: "legacy", headers: call("/"), wantErr: `cluster "legacy" has protocol dubbo, not HTTP`},
		{name: "endpoint down", cluster: "down", headers: call("/"), wantErr: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout) // as the engine does
			defer cancel()
			t0 := time.Now()
			resp, err := co.HTTPCall(ctx, tt.cluster, tt.headers, []byte(tt.body), tt.trailers, timeout)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if time.Since(t0) > 3*time.Second {
					t.Fatalf("the error took %v", time.Since(t0))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.Headers[0].Key != ":status" {
				t.Fatalf(":status is not first: %v", resp.Headers)
			}
			for k, v := range tt.want {
				if got := value(resp.Headers, k); got != v {
					t.Errorf("%s: %q, want %q (headers %v)", k, got, v, resp.Headers)
				}
			}
			if tt.want[":status"] == "200" && (string(resp.Body) != "hello" || value(resp.Trailers, "x-trailer") != "done") {
				t.Errorf("body %q trailers %v", resp.Body, resp.Trailers)
			}
		})
	}

	t.Run("circuit breaker", func(t *testing.T) {
		first := make(chan error, 1)
		go func() {
			_, err := co.HTTPCall(context.Background(), "limited", call("/block"), nil, nil, 5*time.Second)
			first <- err
		}()
		limited := h.srv.gen.Load().clusters["limited"]
		for deadline := time.Now().Add(5 * time.Second); limited.Active() == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the blocking call never became active")
			}
		}
		_, err := co.HTTPCall(context.Background(), "limited", call("/"), nil, nil, time.Second)
		close(block)
		if !errors.Is(err, cluster.ErrCircuitOpen) {
			t.Fatalf("second call while one is active: %v, want %v", err, cluster.ErrCircuitOpen)
		}
		if err := <-first; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h.srv.Metrics().Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		for _, want := range []string{`wasmesh_upstream_requests_total{cluster="echo",result="2xx"} 2`,
			`wasmesh_upstream_requests_total{cluster="echo",result="5xx"} 1`,
			`wasmesh_upstream_requests_total{cluster="down",result="error"} 1`} {
			if !strings.Contains(rec.Body.String(), want) {
				t.Errorf("no %s in the metrics", want)
			}
		}
	})

	t.Run("reload moves the cluster", func(t *testing.T) {
		other := upstream(t, "b")
		h.write(fmt.Sprintf(calloutConfig, other.Listener.Addr(), closedAddr(t)))
		if err := h.srv.Reload(context.Background(), "test"); err != nil {
			t.Fatal(err)
		}
		resp, err := co.HTTPCall(context.Background(), "echo", call("/"), nil, nil, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := value(resp.Headers, "x-upstream"); got != "b" {
			t.Fatalf("after the reload the call reached %q, want b", got)
		}
	})

	t.Run("unbound", func(t *testing.T) {
		_, err := NewCallouts(nil).HTTPCall(context.Background(), "echo", call("/"), nil, nil, time.Second)
		if err == nil || !strings.Contains(err.Error(), "no configuration yet") {
			t.Fatalf("call before a server: %v", err)
		}
	})
}

const grpcCallConfig = `
listeners:
- name: http
  address: 127.0.0.1:0
  filters:
  - {name: grpccall, kind: wasm, module: {url: "file://%[1]s"}, options: {pool_size: 1}}
  routes:
  - {name: all, match: {path: {prefix: /}}, cluster: echo}
clusters:
- {name: echo, protocol: h2c, endpoints: [{address: "%[2]s"}]}
- {name: plain, endpoints: [{address: "%[2]s"}]}
- {name: moving, protocol: h2c, endpoints: [{address: "%[3]s"}]}
`

// TestCalloutGRPC: a module's unary proxy_grpc_call goes through the proxy's cluster to a real gRPC server on
// loopback, and the module answers the HTTP request with what came back (testdata/grpccall). A cluster whose
// endpoints change on reload gets a new connection.
func TestCalloutGRPC(t *testing.T) {
	mod := wasmtest.Build(t, "testdata/grpccall")
	echo := grpcclienttest.EchoServer(t)
	h := calloutProxy(t, fmt.Sprintf(grpcCallConfig, mod, echo, closedAddr(t)))
	tests := []struct{ path, want string }{
		{"/echo/Say/hi", "initial=hello,hi message=echo:hi trailing=bye status=0"},
		{"/echo/Fail/x", "initial= message= trailing= status=7"},    // PERMISSION_DENIED from the server
		{"/nowhere/Say/x", "initial= message= trailing= status=14"}, // unknown cluster: UNAVAILABLE
		{"/plain/Say/x", "initial= message= trailing= status=14"},   // an http1 cluster cannot carry gRPC
		{"/moving/Say/x", "initial= message= trailing= status=14"},  // nothing listens there yet
	}
	for _, tt := range tests {
		resp, body := get(t, http.DefaultClient, h.base+tt.path, nil)
		if resp.StatusCode != 200 || body != tt.want {
			t.Errorf("%s: %d %q, want %q", tt.path, resp.StatusCode, body, tt.want)
		}
	}
	rec := httptest.NewRecorder()
	h.srv.Metrics().Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if want := `wasmesh_upstream_requests_total{cluster="echo",result="2xx"} 2`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("no %s in the metrics", want)
	}

	h.write(fmt.Sprintf(grpcCallConfig, mod, echo, echo))
	if err := h.srv.Reload(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	if resp, body := get(t, http.DefaultClient, h.base+"/moving/Say/back", nil); resp.StatusCode != 200 ||
		body != "initial=hello,back message=echo:back trailing=bye status=0" {
		t.Fatalf("after moving the cluster: %d %q", resp.StatusCode, body)
	}
}

// jwksServer serves a JWKS that the test changes, and counts the fetches.
type jwksServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	keys    map[string]ed25519.PrivateKey // by kid
	served  []string                      // kids in the set
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T) *jwksServer {
	j := &jwksServer{keys: map[string]ed25519.PrivateKey{}}
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.fetches.Add(1)
		if r.URL.Path != "/jwks.json" {
			http.NotFound(w, r)
			return
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		var keys []map[string]string
		for _, kid := range j.served {
			pub := j.keys[kid].Public().(ed25519.PublicKey)
			keys = append(keys, map[string]string{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
				"x": base64.RawURLEncoding.EncodeToString(pub)})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	t.Cleanup(j.srv.Close)
	return j
}

// serve makes the set hold these kids (keys are made on first use).
func (j *jwksServer) serve(kids ...string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, kid := range kids {
		j.key(kid)
	}
	j.served = kids
}

func (j *jwksServer) key(kid string) ed25519.PrivateKey {
	if k, ok := j.keys[kid]; ok {
		return k
	}
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	j.keys[kid] = k
	return k
}

// token is an EdDSA JWT for sub signed with kid's key, valid for an hour.
func (j *jwksServer) token(kid, sub string) string {
	j.mu.Lock()
	key := j.key(kid)
	j.mu.Unlock()
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	in := enc(map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": kid}) + "." +
		enc(map[string]any{"iss": "https://idp.test", "sub": sub, "exp": time.Now().Add(time.Hour).Unix()})
	return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(in)))
}

const authJWKSConfig = `
listeners:
- name: http
  address: 127.0.0.1:0
  filters:
  - name: auth
    kind: wasm
    phase: AUTHN
    module: {url: "file://%s"}
    options: {pool_size: 1}
    config: {"jwt": {"providers": [{"issuer": "https://idp.test",
      "remote_jwks": {"cluster": "idp", "path": "/jwks.json", "timeout": "2s", "retry_interval": "1m", "unknown_kid_interval": "1ms"}}]}}
  routes:
  - {name: all, match: {path: {prefix: /}}, cluster: app}
clusters:
- {name: app, endpoints: [{address: "%s"}]}
- {name: idp, endpoints: [{address: "%s"}]}
`

// TestCalloutAuthRemoteJWKS runs the real auth filter with a remote JWKS fetched through a cluster of the proxy
// (filters/auth/README.md): the set is fetched when the filter starts, a token with an unknown kid makes it fetch
// again, and when the JWKS server is down a token with an unknown kid gets 401 while known keys keep working.
func TestCalloutAuthRemoteJWKS(t *testing.T) {
	mod := wasmtest.Build(t, "../../filters/auth")
	idp := newJWKSServer(t)
	idp.serve("k1")
	app := upstream(t, "app")
	h := calloutProxy(t, fmt.Sprintf(authJWKSConfig, mod, app.Listener.Addr(), idp.srv.Listener.Addr()))
	for deadline := time.Now().Add(5 * time.Second); idp.fetches.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond) // the filter fetches when it starts, before its configuration runs
	}
	if n := idp.fetches.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches once the proxy started, want 1", n)
	}
	bearer := func(tok string) map[string]string { return map[string]string{"authorization": "Bearer " + tok} }

	resp, _ := get(t, http.DefaultClient, h.base+"/", bearer(idp.token("k1", "alice")))
	if resp.StatusCode != 200 || resp.Header.Get("X-Echo-X-Wasmesh-Consumer") != "alice" {
		t.Fatalf("token signed with k1: %d, consumer %q", resp.StatusCode, resp.Header.Get("X-Echo-X-Wasmesh-Consumer"))
	}
	if resp, _ := get(t, http.DefaultClient, h.base+"/", nil); resp.StatusCode != 401 {
		t.Fatalf("no token: %d, want 401", resp.StatusCode)
	}

	idp.serve("k1", "k2") // key rotation: the proxy learns k2 when a token names it
	resp, _ = get(t, http.DefaultClient, h.base+"/", bearer(idp.token("k2", "bob")))
	if resp.StatusCode != 200 || resp.Header.Get("X-Echo-X-Wasmesh-Consumer") != "bob" {
		t.Fatalf("token signed with the new k2: %d, consumer %q %v", resp.StatusCode, resp.Header.Get("X-Echo-X-Wasmesh-Consumer"), resp.Header)
	}
	if n := idp.fetches.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches after an unknown kid, want 2", n)
	}

	idp.srv.Close() // the JWKS server is down
	resp, _ = get(t, http.DefaultClient, h.base+"/", bearer(idp.token("k3", "eve")))
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("unknown kid with the JWKS server down: %d %q, want 401 invalid_token", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp, _ := get(t, http.DefaultClient, h.base+"/", bearer(idp.token("k2", "bob"))); resp.StatusCode != 200 {
		t.Fatalf("known key with the JWKS server down: %d, want 200 (the previous keys stay)", resp.StatusCode)
	}
}

// streamEvents records what a stream reports, as the engine's queue would receive it.
type streamEvents struct {
	mu     sync.Mutex
	got    []string
	closed chan struct{}
}

func (e *streamEvents) add(s string) {
	e.mu.Lock()
	e.got = append(e.got, s)
	e.mu.Unlock()
}
func (e *streamEvents) InitialMetadata(md abi.Headers)  { e.add("I:" + value(md, "x-md")) }
func (e *streamEvents) Message(msg []byte)              { e.add("M:" + string(msg)) }
func (e *streamEvents) TrailingMetadata(md abi.Headers) { e.add("T:" + value(md, "x-md")) }
func (e *streamEvents) Close(status uint32, _ string) {
	e.add(fmt.Sprint("C:", status))
	close(e.closed)
}

// grpcEchoProxy runs a proxy whose cluster "echo" (h2c, with extra settings appended to its YAML) is a real gRPC
// echo server.
func grpcEchoProxy(t *testing.T, extra string) *harness {
	return calloutProxy(t, fmt.Sprintf(`
listeners:
- name: http
  address: 127.0.0.1:0
  routes: [{name: all, cluster: echo}]
clusters:
- {name: echo, protocol: h2c, endpoints: [{address: "%s"}]%s}
`, grpcclienttest.EchoServer(t), extra))
}

// TestCalloutGRPCStream opens a proxy_grpc_stream through a cluster of the proxy to a real gRPC server.
func TestCalloutGRPCStream(t *testing.T) {
	h := grpcEchoProxy(t, "")
	ev := &streamEvents{closed: make(chan struct{})}
	st, err := h.callouts.GRPCStream(context.Background(), "echo", "echo.Echo", "Chat", nil, ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send([]byte("one"), false); err != nil {
		t.Fatal(err)
	}
	if err := st.Send([]byte("two"), true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ev.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not close")
	}
	if got := strings.Join(ev.got, " "); got != "I:hello M:echo:one M:echo:two T:bye C:0" {
		t.Fatalf("stream events %q", got)
	}
	if _, err := h.callouts.GRPCStream(context.Background(), "nope", "echo.Echo", "Chat", nil, ev); err == nil ||
		!strings.Contains(err.Error(), `cluster "nope"`) {
		t.Fatalf("stream to an unknown cluster: %v", err)
	}
}

// TestCalloutGRPCStreamCircuitBreaker: an open stream holds one of the cluster's requests until it ends, so a
// second stream over max_requests closes at once with UNAVAILABLE, and once the first ends a third one opens.
func TestCalloutGRPCStreamCircuitBreaker(t *testing.T) {
	h := grpcEchoProxy(t, ", circuit_breaker: {max_requests: 1}")
	echo := h.srv.gen.Load().clusters["echo"]
	open := func() (engine.GRPCClientStream, *streamEvents) {
		t.Helper()
		ev := &streamEvents{closed: make(chan struct{})}
		st, err := h.callouts.GRPCStream(context.Background(), "echo", "echo.Echo", "Chat", nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		return st, ev
	}
	closed := func(ev *streamEvents) string {
		t.Helper()
		select {
		case <-ev.closed:
		case <-time.After(5 * time.Second):
			t.Fatal("the stream did not close")
		}
		ev.mu.Lock()
		defer ev.mu.Unlock()
		return ev.got[len(ev.got)-1]
	}

	first, ev1 := open()
	if err := first.Send([]byte("one"), false); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); echo.Active() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first stream never counted as an active request")
		}
	}
	_, ev2 := open()
	if got := closed(ev2); got != fmt.Sprint("C:", uint32(codes.Unavailable)) {
		t.Fatalf("second stream over max_requests ended with %q, want UNAVAILABLE", got)
	}
	if err := first.Send([]byte("two"), true); err != nil {
		t.Fatal(err)
	}
	if got := closed(ev1); got != "C:0" {
		t.Fatalf("first stream ended with %q", got)
	}
	for deadline := time.Now().Add(5 * time.Second); echo.Active() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the ended stream still holds its request")
		}
	}
	third, ev3 := open()
	if err := third.Send([]byte("three"), true); err != nil {
		t.Fatal(err)
	}
	if got := closed(ev3); got != "C:0" {
		t.Fatalf("third stream, after the first ended: %q", got)
	}
}
