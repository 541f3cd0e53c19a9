package wasm

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm/wasmtest"
	"github.com/wasmesh/wasmesh/host/proxy/module"
)

const tinygostyle = "../../../../builder/testdata/tinygostyle"

func newKind(t testing.TB) (filter.Kind, *engine.Engine) {
	eng, err := engine.New(engine.Config{CacheDir: wasmtest.CompileCache(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	return Kind(eng, module.Default(nil)), eng
}

func runHeaders(t testing.TB, c *filter.Chain, hdr map[string]string) (*filter.Stream, *http.Request) {
	req, _ := http.NewRequest("GET", "http://svc/hello", nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	s := filter.NewStream()
	s.Reset(context.Background(), &filter.HTTPRequestHeaders{R: req}, filter.Info{Source: "127.0.0.1:5"})
	c.RequestHeaders(s, true)
	return s, req
}

func TestTinyGoStyleFilter(t *testing.T) {
	path := wasmtest.Build(t, tinygostyle)
	kind, _ := newKind(t)
	f, err := kind.New(context.Background(), filter.Spec{Name: "greet", Kind: KindName, Config: []byte(`"hello"`),
		Module: filter.ModuleRef{URL: "file://" + path}, Options: []byte(`{"pool_size": 2}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer f.(filter.Closer).Close(context.Background())
	if f.Wants()&filter.WantRequestHeaders == 0 || f.Wants()&filter.WantDone == 0 {
		t.Fatalf("wants %b", f.Wants())
	}
	c := filter.NewChain([]filter.Entry{{Name: "greet", Filter: f}})

	s, req := runHeaders(t, c, map[string]string{"X-User": "ann", "Accept": "*/*"})
	if lr := s.LocalResponse(); lr != nil {
		t.Fatalf("local response %+v", lr)
	}
	if got := req.Header.Get("X-Greeting"); got != "hello, ann" {
		t.Fatalf("x-greeting = %q; headers %v", got, req.Header)
	}
	if seen := req.Header.Get("X-Seen"); !strings.Contains(seen, ":path") || !strings.Contains(seen, "x-user") {
		t.Fatalf("module saw header names %q", seen)
	}
	if req.URL.Path != "/hello" || req.Host != "svc" {
		t.Fatalf("pseudo-headers changed: %s %s", req.URL, req.Host)
	}
	c.Done(s)

	s, _ = runHeaders(t, c, nil)
	lr := s.LocalResponse()
	if lr == nil || lr.Status != 401 || string(lr.Body) != "who are you?" || s.Info.LocalReplyBy != "greet" {
		t.Fatalf("without x-user: %+v", lr)
	}
	c.Done(s)

	st := f.(filter.Describer).Describe()
	if !strings.HasPrefix(st.ModuleDigest, "sha256:") || st.VMs == 0 || st.State != "ok" || st.ABI == "" {
		t.Fatalf("describe %+v", st)
	}
}

func TestConfigureFailureRefusesFilter(t *testing.T) {
	path := wasmtest.Build(t, tinygostyle)
	kind, _ := newKind(t)
	_, err := kind.New(context.Background(), filter.Spec{Name: "greet", Kind: KindName, Config: []byte(`"fail"`),
		Module: filter.ModuleRef{URL: "file://" + path}})
	if err == nil || !strings.Contains(err.Error(), "on_configure") && !strings.Contains(err.Error(), "vm_start") {
		t.Fatalf("want a configure error, got %v", err)
	}
}

func TestBadInputs(t *testing.T) {
	path := wasmtest.Build(t, tinygostyle)
	kind, _ := newKind(t)
	notWasm := t.TempDir() + "/x.wasm"
	os.WriteFile(notWasm, []byte("not wasm"), 0o644)
	tests := []struct {
		name string
		spec filter.Spec
		want string
	}{
		{"not wasm", filter.Spec{Module: filter.ModuleRef{URL: "file://" + notWasm}}, "does not compile"},
		{"wrong pin", filter.Spec{Module: filter.ModuleRef{URL: "file://" + path, SHA256: strings.Repeat("0", 64)}}, "sha256 does not match"},
		{"bad option", filter.Spec{Module: filter.ModuleRef{URL: "file://" + path}, Options: []byte(`{"pool":1}`)}, "unknown field"},
		{"bad callback", filter.Spec{Module: filter.ModuleRef{URL: "file://" + path}, Options: []byte(`{"callbacks":["on_tick"]}`)}, "unknown callback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Name, tt.spec.Kind = "x", KindName
			_, err := kind.New(context.Background(), tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCallbacksNarrowWants(t *testing.T) {
	path := wasmtest.Build(t, tinygostyle)
	kind, _ := newKind(t)
	f, err := kind.New(context.Background(), filter.Spec{Name: "greet", Kind: KindName, Config: []byte(`"hi"`),
		Module: filter.ModuleRef{URL: "file://" + path}, Options: []byte(`{"callbacks":["request_headers"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer f.(filter.Closer).Close(context.Background())
	if f.Wants() != filter.WantRequestHeaders|filter.WantDone {
		t.Fatalf("wants %b", f.Wants())
	}
}

func BenchmarkTinyGoStyleHeaders(b *testing.B) {
	path := wasmtest.Build(b, tinygostyle)
	kind, _ := newKind(b)
	f, err := kind.New(context.Background(), filter.Spec{Name: "greet", Kind: KindName, Config: []byte(`"hello"`),
		Module: filter.ModuleRef{URL: "file://" + path}, Options: []byte(`{"callbacks":["request_headers"]}`)})
	if err != nil {
		b.Fatal(err)
	}
	defer f.(filter.Closer).Close(context.Background())
	c := filter.NewChain([]filter.Entry{{Name: "greet", Filter: f}})
	req, _ := http.NewRequest("GET", "http://svc/hello", nil)
	s := filter.NewStream()
	hh := &filter.HTTPRequestHeaders{R: req}
	b.ReportAllocs()
	for b.Loop() {
		req.Header = http.Header{"X-User": {"ann"}}
		s.Reset(context.Background(), hh, filter.Info{})
		c.RequestHeaders(s, true)
		c.Done(s)
	}
}

func TestApplyPairs(t *testing.T) {
	base := func() (*http.Request, filter.Headers, abi.Headers) {
		req, _ := http.NewRequest("GET", "http://svc/a%2Fb?b", nil)
		req.Header.Set("X-A", "1")
		req.Header.Set("X-B", "2")
		req.Header.Set("X-M", "1")
		h := &filter.HTTPRequestHeaders{R: req}
		return req, h, toPairs(nil, h)
	}
	tests := []struct {
		name  string
		edit  func(p *abi.Headers)
		check func(r *http.Request) bool
	}{
		{"unchanged", func(p *abi.Headers) {}, func(r *http.Request) bool { return r.Header.Get("X-A") == "1" && len(r.Header) == 3 }},
		{"appended", func(p *abi.Headers) { p.Add("x-c", "3") }, func(r *http.Request) bool { return r.Header.Get("X-C") == "3" && r.Header.Get("X-B") == "2" }},
		{"replaced", func(p *abi.Headers) { p.Set("x-a", "9") }, func(r *http.Request) bool {
			return r.Header.Values("X-A")[0] == "9" && len(r.Header.Values("X-A")) == 1
		}},
		{"removed", func(p *abi.Headers) { p.Del("x-b") }, func(r *http.Request) bool { return r.Header.Get("X-B") == "" && r.Header.Get("X-A") == "1" }},
		{"path rewritten", func(p *abi.Headers) { p.Set(":path", "/z?q=1") }, func(r *http.Request) bool {
			return r.URL.Path == "/z" && r.URL.RawPath == "" && r.URL.RawQuery == "q=1"
		}},
		{"key stripped, consumer set", func(p *abi.Headers) { p.Del("x-a"); p.Set("x-consumer", "bench") }, func(r *http.Request) bool {
			return r.Header.Get("X-A") == "" && r.Header.Get("X-Consumer") == "bench" && r.Header.Get("X-B") == "2" && len(r.Header) == 3
		}},
		{"second value changed", func(p *abi.Headers) { p.Add("x-m", "3"); p.Del("x-b") }, func(r *http.Request) bool {
			return slices.Equal(r.Header.Values("X-M"), []string{"1", "3"}) && r.Header.Get("X-B") == ""
		}},
		{"values reordered", func(p *abi.Headers) {
			p.Del("x-m")
			p.Add("x-m", "2")
			p.Add("x-m", "1")
		}, func(r *http.Request) bool {
			return slices.Equal(r.Header.Values("X-M"), []string{"2", "1"}) && r.Header.Get("X-A") == "1"
		}},
		{"escaped path kept when another header changes", func(p *abi.Headers) { p.Del("x-b") }, func(r *http.Request) bool {
			return r.URL.Path == "/a/b" && r.URL.RawPath == "/a%2Fb" && r.URL.RawQuery == "b" && r.Host == "svc"
		}},
		{"method changed with a header", func(p *abi.Headers) { p.Set(":method", "POST"); p.Del("x-a") }, func(r *http.Request) bool {
			return r.Method == "POST" && r.Header.Get("X-A") == "" && r.URL.RawPath == "/a%2Fb"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, h, pairs := base()
			orig := append(abi.Headers(nil), pairs...)
			tt.edit(&pairs)
			applyPairs(h, orig, pairs)
			if !tt.check(req) {
				t.Fatalf("request after %s: %v %v", tt.name, req.URL, req.Header)
			}
		})
	}
}

// The same edits on the header list of a Dubbo request (filter.Pairs, names in wire order): the result is the
// list the module left, pseudo-headers kept in place and set once.
func TestApplyPairsToDubboList(t *testing.T) {
	base := [][2]string{{":path", "/org.example.Greeter/greet"}, {":method", "DUBBO"}, {"x-dubbo-service", "org.example.Greeter"},
		{"path", "org.example.Greeter"}, {"x-api-key", "k1"}, {"x-user-id", "u-42"}, {"traceid", "t1"}}
	tests := []struct {
		name string
		edit func(p *abi.Headers)
		want [][2]string
	}{
		{"unchanged", func(p *abi.Headers) {}, base},
		{"appended", func(p *abi.Headers) { p.Add("x-route", "v2") }, append(base[:len(base):len(base)], [2]string{"x-route", "v2"})},
		{"removed", func(p *abi.Headers) { p.Del("x-api-key") }, [][2]string{base[0], base[1], base[2], base[3], base[5], base[6]}},
		{"replaced", func(p *abi.Headers) { p.Set("x-user-id", "u-7") }, [][2]string{base[0], base[1], base[2], base[3], base[4], {"x-user-id", "u-7"}, base[6]}},
		{"pseudo set, a duplicate ignored", func(p *abi.Headers) {
			p.Del("traceid")
			p.Set(":path", "/x/y")
			*p = append(*p, abi.Header{Key: ":path", Value: "/ignored"})
		}, [][2]string{{":path", "/x/y"}, base[1], base[2], base[3], base[4], base[5]}},
		{"pseudo removed by the module stays", func(p *abi.Headers) {
			p.Del(":method")
			p.Del("traceid")
		}, [][2]string{base[0], base[1], base[2], base[3], base[4], base[5]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &filter.Pairs{P: append([][2]string(nil), base...)}
			pairs := toPairs(nil, h)
			orig := append(abi.Headers(nil), pairs...)
			tt.edit(&pairs)
			applyPairs(h, orig, pairs)
			if !slices.Equal(h.P, tt.want) {
				t.Fatalf("list after %s:\n got %q\nwant %q", tt.name, h.P, tt.want)
			}
		})
	}
}

// BenchmarkApplyPairs writes back what the auth filter does to a request in API-key mode: the key header
// stripped, a consumer header set, the other five headers untouched.
func BenchmarkApplyPairs(b *testing.B) {
	req, _ := http.NewRequest("GET", "http://svc/a?b", nil)
	h := &filter.HTTPRequestHeaders{R: req}
	fill := func() {
		clear(req.Header)
		for _, k := range []string{"X-Api-Key", "User-Agent", "Accept", "X-Request-Id", "X-Forwarded-For", "X-User"} {
			req.Header[k] = []string{"v"}
		}
	}
	fill()
	orig := toPairs(nil, h)
	var now abi.Headers
	b.ReportAllocs()
	for b.Loop() {
		fill()
		now = append(now[:0], orig...)
		now.Del("x-api-key")
		now.Set("x-consumer", "bench")
		applyPairs(h, orig, now)
	}
	if req.Header.Get("X-Consumer") != "bench" || req.Header.Get("X-Api-Key") != "" || len(req.Header) != 6 {
		b.Fatalf("headers after write-back: %v", req.Header)
	}
}
