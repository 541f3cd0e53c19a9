package httpproxy

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/wasmesh/wasmesh/host/proxy/cluster"
	"github.com/wasmesh/wasmesh/host/proxy/config"
	"github.com/wasmesh/wasmesh/host/proxy/drain"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/filter/native/apikey"
	"github.com/wasmesh/wasmesh/host/proxy/filter/native/header"
	"github.com/wasmesh/wasmesh/host/proxy/metrics"
	"github.com/wasmesh/wasmesh/host/proxy/route"
)

// fixedUpstream answers every request with the same response, reusing it, so a benchmark measures the
// handler and not an upstream.
type fixedUpstream struct {
	resp http.Response
	body bodyReader
	seen func(*http.Request)
}

type bodyReader struct{ strings.Reader }

func (*bodyReader) Close() error { return nil }

func (f *fixedUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.seen != nil {
		f.seen(r)
	}
	f.body.Reset("hello")
	f.resp.Body = &f.body
	// Filters may add response headers: start each response from the same set, reusing the map.
	if f.resp.Header == nil {
		f.resp.Header = http.Header{}
	}
	clear(f.resp.Header)
	f.resp.Header["Content-Type"] = textPlainValue
	return &f.resp, nil
}

var (
	textPlainValue = []string{"text/plain"}
	benchKey       = []string{"k1"}
	benchUA        = []string{"bench"}
)

// recorderW is a reusable ResponseWriter.
type recorderW struct {
	h      http.Header
	status int
	n      int
}

func (w *recorderW) Header() http.Header         { return w.h }
func (w *recorderW) WriteHeader(s int)           { w.status = s }
func (w *recorderW) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

func newTestHandler(tb testing.TB, up http.RoundTripper, filters ...filter.Entry) *Handler {
	tb.Helper()
	c, err := cluster.NewWithTransport(config.Cluster{Name: "backend", Endpoints: []config.Endpoint{{Address: "127.0.0.1:1"}}}, nil, up)
	if err != nil {
		tb.Fatal(err)
	}
	return newHandlerFor(tb, c, 1<<20, filters...)
}

// newHandlerFor serves every request on cluster c through filters, buffering at most maxBuffer body bytes per
// filter.
func newHandlerFor(tb testing.TB, c *cluster.Cluster, maxBuffer int, filters ...filter.Entry) *Handler {
	return newHandlerRoute(tb, c, config.Route{Name: "all", Cluster: "backend"}, maxBuffer, filters...)
}

// newHandlerRoute is newHandlerFor with one route of the caller's (its cluster must be "backend").
func newHandlerRoute(tb testing.TB, c *cluster.Cluster, rc config.Route, maxBuffer int, filters ...filter.Entry) *Handler {
	tb.Helper()
	m := metrics.New()
	tbl, err := route.NewTable([]config.Route{rc})
	if err != nil {
		tb.Fatal(err)
	}
	chain := filter.NewChain(filters)
	return NewHandler(&Config{
		Listener: "http", Address: "127.0.0.1:8080", Table: tbl, NoRoute: m.Route("http", ""),
		Routes:    []route.Bound{{Route: tbl.Routes()[0], Chain: chain, Stats: m.Route("http", "all")}},
		Clusters:  map[string]*Upstream{"backend": {Cluster: c, Metrics: m.Cluster("backend")}},
		MaxBuffer: maxBuffer, Ref: drain.New(),
	})
}

func nativeFilters(tb testing.TB) []filter.Entry {
	reg, _ := filter.NewRegistry(header.Kind(), apikey.Kind())
	hf, err := reg.Build(context.Background(), filter.Spec{Name: "tag", Kind: "header", Config: []byte(`{"request_set":{"x-env":"bench"},"response_set":{"x-proxy":"wasmesh"}}`)})
	if err != nil {
		tb.Fatal(err)
	}
	kf, err := reg.Build(context.Background(), filter.Spec{Name: "keys", Kind: "apikey", Config: []byte(`{"keys":["k1"]}`)})
	if err != nil {
		tb.Fatal(err)
	}
	return []filter.Entry{{Name: "keys", Kind: "apikey", Phase: filter.PhaseAuthn, Filter: kf}, {Name: "tag", Kind: "header", Filter: hf}}
}

func TestHandlerForwards(t *testing.T) {
	var got *http.Request
	up := &fixedUpstream{resp: http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/plain"}}, ContentLength: 5},
		seen: func(r *http.Request) { got = r.Clone(context.Background()) }} // the handler reuses r after the exchange
	h := newTestHandler(t, up, nativeFilters(t)...)
	req, _ := http.NewRequest("GET", "http://svc/path?q=1", nil)
	req.Header.Set("X-Api-Key", "k1")
	req.Header.Set("Connection", "close, x-hop")
	req.Header.Set("X-Hop", "1")
	w := &recorderW{h: http.Header{}}
	h.ServeHTTP(w, req)
	if w.status != 200 || w.n != 5 || w.h.Get("X-Proxy") != "wasmesh" {
		t.Fatalf("status %d, %d bytes, headers %v", w.status, w.n, w.h)
	}
	if got.URL.String() != "http://127.0.0.1:1/path?q=1" || got.Host != "svc" || got.Header.Get("X-Env") != "bench" ||
		got.Header.Get("X-Hop") != "" || got.Header.Get("Connection") != "" {
		t.Fatalf("upstream request %v host %s headers %v", got.URL, got.Host, got.Header)
	}
	req.Header.Del("X-Api-Key")
	w = &recorderW{h: http.Header{}}
	h.ServeHTTP(w, req)
	if w.status != 401 {
		t.Fatalf("no key: %d", w.status)
	}
}

func benchmarkHandler(b *testing.B, filters []filter.Entry) {
	up := &fixedUpstream{resp: http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/plain"}}, ContentLength: 5}}
	h := newTestHandler(b, up, filters...)
	req, _ := http.NewRequest("GET", "http://svc/path", nil)
	req.Header.Set("X-Api-Key", "k1")
	req.Header.Set("User-Agent", "bench")
	w := &recorderW{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		// Filters add request headers: start each request from the same set, reusing the map.
		clear(req.Header)
		req.Header["X-Api-Key"], req.Header["User-Agent"] = benchKey, benchUA
		h.ServeHTTP(w, req)
		if w.status != 200 {
			b.Fatal(w.status)
		}
	}
}

// No allocation per request: the upstream request is a shallow copy kept in the pooled state (a route with a
// timeout still pays one, r.WithContext's copy, since net/http offers no other way to give a request a context).
func BenchmarkHandlerNoFilter(b *testing.B)      { benchmarkHandler(b, nil) }
func BenchmarkHandlerNativeFilters(b *testing.B) { benchmarkHandler(b, nativeFilters(b)) }
