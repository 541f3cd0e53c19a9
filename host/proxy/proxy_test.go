package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/filter/native/apikey"
	"github.com/wasmesh/wasmesh/host/proxy/filter/native/header"
)

// Test-only filter kinds exercising the parts of the stream API the native filters do not.

// pick sets upstream_cluster from the x-cluster header, as a routing filter would.
type pick struct{ filter.Base }

func (pick) Wants() filter.Wants { return filter.WantRequestHeaders }
func (pick) OnRequestHeaders(s *filter.Stream, _ bool) filter.Action {
	if c := s.RequestHeaders.Get("x-cluster"); c != "" {
		s.SetUpstreamCluster(c)
	}
	return filter.Continue
}

// pauser pauses every request and resumes it from another goroutine, as a filter waiting on a callout does.
type pauser struct{ filter.Base }

func (pauser) Wants() filter.Wants { return filter.WantRequestHeaders }
func (pauser) OnRequestHeaders(s *filter.Stream, _ bool) filter.Action {
	s.RequestHeaders.Set("x-paused", "yes")
	go func() { time.Sleep(time.Millisecond); s.Resume() }()
	return filter.Pause
}

// upper wants bodies: it upper-cases the request body and appends to the response body.
type upper struct{ filter.Base }

func (upper) Wants() filter.Wants { return filter.WantRequestBody | filter.WantResponseBody }
func (upper) OnRequestBody(s *filter.Stream, end bool) filter.Action {
	s.RequestBody = bytes.ToUpper(s.RequestBody)
	return filter.Continue
}
func (upper) OnResponseBody(s *filter.Stream, end bool) filter.Action {
	s.ResponseBody = append(s.ResponseBody, "+filtered"...)
	return filter.Continue
}

// failing refuses to build, like a Wasm module whose on_configure returns false.
func failingKind() filter.Kind {
	return filter.Kind{Name: "failing", New: func(context.Context, filter.Spec) (filter.Filter, error) {
		return nil, fmt.Errorf("on_configure returned false")
	}}
}

func stateless(name string, f filter.Filter) filter.Kind {
	return filter.Kind{Name: name, New: func(context.Context, filter.Spec) (filter.Filter, error) { return f, nil }}
}

func testRegistry(t testing.TB) *filter.Registry {
	reg, err := filter.NewRegistry(header.Kind(), apikey.Kind(), failingKind(),
		stateless("pick", pick{}), stateless("pauser", pauser{}), stateless("upper", upper{}))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// upstream echoes what it received: method, path, the headers as x-echo-*, the body, and a trailer.
func upstream(t testing.TB, name string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(503)
			return
		}
		w.Header().Set("X-Upstream", name)
		w.Header().Set("X-Echo-Path", r.URL.RequestURI())
		for k, v := range r.Header {
			w.Header()["X-Echo-"+k] = v
		}
		w.Header().Set("Trailer", "X-Upstream-Trailer")
		body, _ := io.ReadAll(r.Body)
		for k, v := range r.Trailer {
			w.Header()["X-Echo-Trailer-"+k] = v
		}
		w.Write(body)
		w.Header().Set("X-Upstream-Trailer", "done")
	}))
	t.Cleanup(srv.Close)
	return srv
}

const baseConfig = `
drain_timeout: 5s
listeners:
- name: http
  address: 127.0.0.1:0
  filters:
  - {name: tag, kind: header, config: {request_set: {x-tag: "%s"}, response_set: {x-resp-tag: "%s"}}}
  - {name: keys, kind: apikey, phase: AUTHN, config: {keys: [k1]}}
  - {name: pick, kind: pick, phase: AUTHZ, priority: 1}
  routes:
  - name: open
    match: {path: {prefix: /open}}
    cluster: a
    filters: {keys: {disabled: true}, tag: {config: {request_set: {x-tag: route}}}}
  - name: body
    match: {path: {prefix: /body}}
    cluster: a
    filters: {keys: {disabled: true}}
  - name: retry
    match: {path: {exact: /fail}}
    cluster: a
    retries: {attempts: 2, retry_on: [5xx]}
  - name: default
    match: {path: {prefix: /}}
    cluster: a
    request_headers: {set: {x-route: default}}
clusters:
- {name: a, endpoints: [{address: "%s"}]}
- {name: b, endpoints: [{address: "%s"}]}
`

type harness struct {
	t      testing.TB
	srv    *Server
	path   string
	base   string
	a, b   string
	cancel context.CancelFunc
	done   chan error
	watch  time.Duration // config file polling; 0: off
	// callouts, when set, serves the modules' calls (Options.Callouts); its engine is the registry's.
	callouts *Callouts
}

func startProxy(t testing.TB, reg *filter.Registry, cfg string) *harness {
	t.Helper()
	h := &harness{t: t, path: filepath.Join(t.TempDir(), "proxy.yaml")}
	h.a = upstream(t, "a").Listener.Addr().String()
	h.b = upstream(t, "b").Listener.Addr().String()
	if cfg == "" {
		cfg = h.config("v1")
	}
	h.write(cfg)
	return startProxyAt(t, reg, h)
}

// startProxyAt starts a proxy on h's config file and upstreams.
func startProxyAt(t testing.TB, reg *filter.Registry, prev *harness) *harness {
	t.Helper()
	h := &harness{t: t, path: prev.path, a: prev.a, b: prev.b, callouts: prev.callouts}
	watch := time.Duration(-1)
	if prev.watch > 0 {
		watch = prev.watch
	}
	srv, err := New(context.Background(), Options{ConfigPath: h.path, Registry: reg, WatchInterval: watch, Callouts: h.callouts})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- srv.Start(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for !srv.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("proxy not ready")
		}
		time.Sleep(time.Millisecond)
	}
	if a := srv.Addr("http"); a != nil {
		h.base = "http://" + a.String()
	}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) config(tag string) string {
	return fmt.Sprintf(baseConfig, tag, tag, h.a, h.b)
}

func (h *harness) write(cfg string) {
	if err := os.WriteFile(h.path, []byte(cfg), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	if err := <-h.done; err != nil {
		h.t.Errorf("Start returned %v", err)
	}
}

func get(t testing.TB, c *http.Client, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestProxyHTTP(t *testing.T) {
	h := startProxy(t, testRegistry(t), "")
	c := &http.Client{}
	tests := []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
		check  map[string]string // response headers
	}{
		{"denied without key", "/x", nil, 401, map[string]string{"Www-Authenticate": "ApiKey"}},
		{"wrong key", "/x", map[string]string{"x-api-key": "nope"}, 401, nil},
		{"allowed", "/x?q=1", map[string]string{"x-api-key": "k1"}, 200, map[string]string{
			"X-Upstream": "a", "X-Echo-X-Tag": "v1", "X-Resp-Tag": "v1", "X-Echo-X-Route": "default", "X-Echo-Path": "/x?q=1"}},
		{"route disables apikey and overrides tag", "/open", nil, 200, map[string]string{"X-Echo-X-Tag": "route", "X-Resp-Tag": ""}},
		{"filter overrides cluster", "/x", map[string]string{"x-api-key": "k1", "x-cluster": "b"}, 200, map[string]string{"X-Upstream": "b"}},
		{"unknown override cluster", "/x", map[string]string{"x-api-key": "k1", "x-cluster": "zz"}, 503, nil},
		{"hop-by-hop removed", "/open", map[string]string{"Connection": "x-secret", "x-secret": "1", "Keep-Alive": "5"}, 200,
			map[string]string{"X-Echo-X-Secret": "", "X-Echo-Keep-Alive": ""}},
		{"retries 5xx then gives up", "/fail", map[string]string{"x-api-key": "k1"}, 503, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := get(t, c, h.base+tt.path, tt.hdr)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			for k, v := range tt.check {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestProxyBodiesAndTrailers(t *testing.T) {
	reg := testRegistry(t)
	h := startProxy(t, reg, "")
	// Streaming: no filter wants bodies; the request trailer reaches the upstream and the response trailer
	// reaches the client.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", h.base+"/open", pr)
	req.Trailer = http.Header{"X-Client-Trailer": nil}
	go func() {
		pw.Write([]byte("hello "))
		req.Trailer.Set("X-Client-Trailer", "sent")
		pw.Write([]byte("world"))
		pw.Close()
	}()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello world" {
		t.Errorf("body %q", body)
	}
	if got := resp.Trailer.Get("X-Upstream-Trailer"); got != "done" {
		t.Errorf("response trailer %q (trailers %v)", got, resp.Trailer)
	}
	if got := resp.Header.Get("X-Echo-Trailer-X-Client-Trailer"); got != "sent" {
		t.Errorf("request trailer not forwarded: %v", resp.Header)
	}
}

func TestProxyBufferedBodyFilter(t *testing.T) {
	reg := testRegistry(t)
	h := startProxy(t, reg, "")
	cfg := strings.Replace(h.config("v1"), "  - {name: pick, kind: pick, phase: AUTHZ, priority: 1}",
		"  - {name: pick, kind: pick, phase: AUTHZ, priority: 1}\n  - {name: up, kind: upper}\n  - {name: pause, kind: pauser}", 1)
	h.write(cfg)
	if err := h.srv.Reload(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(h.base+"/body", "text/plain", strings.NewReader("quiet"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "QUIET+filtered" || resp.Header.Get("X-Echo-X-Paused") != "yes" {
		t.Fatalf("body %q, paused %q", b, resp.Header.Get("X-Echo-X-Paused"))
	}
	if resp.ContentLength != int64(len("QUIET+filtered")) {
		t.Errorf("content-length %d", resp.ContentLength)
	}
}

func TestProxyH2C(t *testing.T) {
	h := startProxy(t, testRegistry(t), "")
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	c := &http.Client{Transport: &http.Transport{Protocols: &p}}
	resp, _ := get(t, c, h.base+"/open", nil)
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Fatalf("proto %s status %d", resp.Proto, resp.StatusCode)
	}
	if resp.Trailer.Get("X-Upstream-Trailer") != "done" {
		t.Errorf("h2 response trailer missing: %v", resp.Trailer)
	}
}

func TestProxyTLSALPN(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600)
	h := startProxy(t, testRegistry(t), "")
	cfg := strings.Replace(h.config("v1"), "  address: 127.0.0.1:0\n",
		fmt.Sprintf("  address: 127.0.0.1:0\n  tls: {cert_file: %s/cert.pem, key_file: %s/key.pem}\n", dir, dir), 1)
	h.write(cfg)
	if err := h.srv.Reload(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	addr := h.srv.Addr("http").String()
	for _, h2 := range []bool{true, false} {
		tr := tlsClient(certPEM, h2)
		resp, _ := get(t, &http.Client{Transport: tr}, "https://"+addr+"/open", nil)
		if resp.StatusCode != 200 || (resp.ProtoMajor == 2) != h2 {
			t.Errorf("h2=%v: status %d proto %s", h2, resp.StatusCode, resp.Proto)
		}
	}
}

func TestProxyWebSocketUpgrade(t *testing.T) {
	// An upstream that speaks a line protocol after a 101, like a WebSocket would after its handshake.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "no upgrade", 400)
			return
		}
		conn, brw, _ := http.NewResponseController(w).Hijack()
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo: " + line)
		brw.Flush()
	}))
	defer up.Close()
	h := startProxy(t, testRegistry(t), "")
	h.write(strings.Replace(h.config("v1"), h.a, up.Listener.Addr().String(), 1))
	if err := h.srv.Reload(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", h.srv.Addr("http").String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /open HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	fmt.Fprintf(conn, "ping\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: ping\n" {
		t.Fatalf("after upgrade got %q, %v", line, err)
	}
}

func TestNoRouteAndInvalidStart(t *testing.T) {
	h := startProxy(t, testRegistry(t), "")
	h.write(strings.Replace(h.config("v1"), "match: {path: {prefix: /}}", "match: {path: {prefix: /only}}", 1))
	if err := h.srv.Reload(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	resp, _ := get(t, http.DefaultClient, h.base+"/elsewhere", map[string]string{"x-api-key": "k1"})
	if resp.StatusCode != 404 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	bad := filepath.Join(t.TempDir(), "proxy.yaml")
	os.WriteFile(bad, []byte(strings.Replace(h.config("v1"), "cluster: a\n", "cluster: backnd\n", 1)), 0o644)
	_, err := New(context.Background(), Options{ConfigPath: bad, Registry: testRegistry(t)})
	if err == nil || !strings.Contains(err.Error(), `routes[0].cluster: unknown cluster "backnd" (known: a, b)`) {
		t.Fatalf("start with a bad config: %v", err)
	}
}

// TestReloadUnderLoad swaps the configuration 50 times, one in five to a configuration that fails to build,
// while clients send requests without pause, and requires every request to succeed on the configuration it
// started with.
func TestReloadUnderLoad(t *testing.T) {
	h := startProxy(t, testRegistry(t), "")
	config := func(i int) string {
		cfg := h.config(fmt.Sprintf("gen%d", i))
		if i%5 == 4 {
			cfg = strings.Replace(cfg, "  - {name: pick, kind: pick, phase: AUTHZ, priority: 1}",
				"  - {name: pick, kind: pick, phase: AUTHZ, priority: 1}\n  - {name: broken, kind: failing}", 1)
		}
		return cfg
	}
	check := func(resp *http.Response) string {
		tag := resp.Header.Get("X-Echo-X-Tag")
		if !strings.HasPrefix(tag, "gen") && tag != "v1" || resp.Header.Get("X-Resp-Tag") != tag {
			return fmt.Sprintf("tag %q/%q", tag, resp.Header.Get("X-Resp-Tag"))
		}
		return ""
	}
	reloadUnderLoad(t, h, config, check, "on_configure returned false")
	d := h.srv.ConfigDump().(Dump)
	if tag := d.Listeners[0].FilterChain; len(tag) != 3 || tag[0].Name != "keys" || tag[1].Name != "pick" || tag[2].Name != "tag" {
		t.Fatalf("filter order %+v", tag)
	}
	b, _ := json.Marshal(d)
	if !bytes.Contains(b, []byte(`"effective_filter_chain"`)) {
		t.Fatalf("dump %s", b)
	}
}

// reloadUnderLoad runs 4 clients (GETs and POSTs with bodies) while the config file is rewritten with
// config(i) and reloaded 50 times; the reloads with i%5 == 4 must fail with failText, every other must succeed,
// and every request must get a 200 that check accepts.
func reloadUnderLoad(t *testing.T, h *harness, config func(i int) string, check func(*http.Response) string, failText string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for w := range 4 {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil && n < 20000; n++ {
				var body io.Reader
				method := "GET"
				if n%3 == 0 {
					method, body = "POST", strings.NewReader(strings.Repeat("x", 1000+w))
				}
				req, _ := http.NewRequest(method, h.base+"/x", body)
				req.Header.Set("x-api-key", "k1")
				req.Header.Set("x-user", "ann")
				resp, err := c.Do(req)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				msg := check(resp)
				if resp.StatusCode != 200 || msg != "" || (method == "POST" && len(b) != 1000+w) {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d body %d: %s", resp.StatusCode, len(b), msg))
					continue
				}
				ok.Add(1)
			}
		})
	}
	reloadsOK, reloadsFailed := 0, 0
	for i := range 50 {
		h.write(config(i))
		if err := h.srv.Reload(context.Background(), "test"); err != nil {
			reloadsFailed++
			if i%5 != 4 || !strings.Contains(err.Error(), failText) {
				t.Errorf("reload %d: unexpected error %v", i, err)
			}
		} else {
			reloadsOK++
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	t.Logf("%d requests ok, %d failed; %d reloads ok, %d refused", ok.Load(), failed.Load(), reloadsOK, reloadsFailed)
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed during reloads; first: %v", failed.Load(), firstErr.Load())
	}
	if ok.Load() < 200 || reloadsOK != 40 || reloadsFailed != 10 {
		t.Fatalf("load or reload counts too low: ok=%d reloads ok=%d refused=%d", ok.Load(), reloadsOK, reloadsFailed)
	}
	// The last swap (i=49) was to the broken config: it is reported, and the previous generation still serves.
	d := h.srv.ConfigDump().(Dump)
	if st := h.srv.LastReload(); st.OK || !strings.Contains(st.Error, failText) || st.Generation != d.Generation {
		t.Fatalf("last reload %+v, serving generation %d", st, d.Generation)
	}
	h.srv.draining.Wait()
}

// A slow first attempt is cut by retries.per_try and retried; the second attempt answers in time.
func TestPerTryTimeout(t *testing.T) {
	var calls atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		w.Write([]byte("second"))
	}))
	defer slow.Close()
	cfg := fmt.Sprintf(`
listeners:
- name: http
  address: 127.0.0.1:0
  routes:
  - {name: r, cluster: s, retries: {attempts: 1, retry_on: [5xx], per_try: 200ms}}
clusters:
- {name: s, endpoints: [{address: "%s"}]}
`, slow.Listener.Addr())
	h := startProxy(t, testRegistry(t), cfg)
	start := time.Now()
	resp, body := get(t, http.DefaultClient, h.base+"/", nil)
	if resp.StatusCode != 200 || body != "second" || time.Since(start) > 3*time.Second {
		t.Fatalf("status %d body %q after %v", resp.StatusCode, body, time.Since(start))
	}
}
