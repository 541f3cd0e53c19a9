package route

import (
	"net/http"
	"testing"

	"github.com/wasmesh/wasmesh/host/proxy/config"
)

func TestMatchHTTP(t *testing.T) {
	routes := []config.Route{
		{Name: "exact", Match: config.Match{Path: &config.PathMatch{Exact: "/login"}, Method: "POST"}, Cluster: "auth"},
		{Name: "host", Match: config.Match{Host: "*.example.com", Path: &config.PathMatch{Prefix: "/api/"}}, Cluster: "api"},
		{Name: "regex", Match: config.Match{Path: &config.PathMatch{Regex: `/v[0-9]+/items`}}, Cluster: "items"},
		{Name: "canary", Match: config.Match{Headers: []config.HeaderMatch{{Name: "x-canary", Exact: "1"}}}, Cluster: "canary"},
		{Name: "no-debug", Match: config.Match{Headers: []config.HeaderMatch{{Name: "x-debug", Invert: true}}}, Cluster: "main"},
		{Name: "rest", Cluster: "fallback"},
	}
	tbl, err := NewTable(routes)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host, path, method string
		hdr                http.Header
		want               string
	}{
		{"a", "/login", "POST", nil, "exact"},
		{"a", "/login", "GET", http.Header{"X-Debug": {"1"}}, "rest"},
		{"svc.example.com:8080", "/api/x", "GET", nil, "host"},
		{"example.com", "/api/x", "GET", nil, "no-debug"},
		{"a", "/v12/items", "GET", nil, "regex"},
		{"a", "/v12/items/x", "GET", http.Header{"X-Debug": {""}}, "rest"},
		{"a", "/", "GET", http.Header{"X-Canary": {"1"}}, "canary"},
		{"a", "/", "GET", http.Header{"X-Canary": {"2"}}, "no-debug"},
	}
	for _, tt := range tests {
		r := tbl.MatchHTTP(tt.host, tt.path, tt.method, tt.hdr)
		if r == nil || r.Name != tt.want {
			t.Errorf("%s %s%s %v: got %v, want %s", tt.method, tt.host, tt.path, tt.hdr, r, tt.want)
		}
	}
}

func TestMatchDubbo(t *testing.T) {
	tbl, err := NewTable([]config.Route{
		{Name: "v2", Match: config.Match{Service: "org.Greeter", Version: "2.0"}, Cluster: "v2"},
		{Name: "gray", Match: config.Match{Service: "org.Greeter", Attachments: []config.HeaderMatch{{Name: "env", Prefix: "gray"}}}, Cluster: "gray"},
		{Name: "greeter", Match: config.Match{Path: &config.PathMatch{Prefix: "/org.Greeter/"}}, Cluster: "v1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	att := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	tests := []struct {
		d    Dubbo
		want string
	}{
		{Dubbo{Service: "org.Greeter", Method: "hi", Version: "2.0"}, "v2"},
		{Dubbo{Service: "org.Greeter", Method: "hi", Attachment: att(map[string]string{"env": "gray-1"})}, "gray"},
		{Dubbo{Service: "org.Greeter", Method: "hi", Attachment: att(nil)}, "greeter"},
		{Dubbo{Service: "org.Other", Method: "hi"}, ""},
	}
	for _, tt := range tests {
		r := tbl.MatchDubbo(tt.d)
		got := ""
		if r != nil {
			got = r.Name
		}
		if got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestPickClusterWeights(t *testing.T) {
	tbl, _ := NewTable([]config.Route{{Name: "split", WeightedClusters: []config.WeightedCluster{{Cluster: "a", Weight: 3}, {Cluster: "b", Weight: 1}, {Cluster: "c", Weight: 0}}}})
	r := tbl.Routes()[0]
	n := map[string]int{}
	for range 4000 {
		n[r.PickCluster()]++
	}
	if n["c"] != 0 || n["a"] < 2700 || n["a"] > 3300 || n["b"] < 700 || n["b"] > 1300 {
		t.Fatalf("split 3:1:0 gave %v", n)
	}
}

func BenchmarkMatchHTTP(b *testing.B) {
	tbl, _ := NewTable([]config.Route{
		{Name: "a", Match: config.Match{Path: &config.PathMatch{Prefix: "/admin"}, Headers: []config.HeaderMatch{{Name: "x-role"}}}, Cluster: "a"},
		{Name: "b", Match: config.Match{Host: "*.example.com", Path: &config.PathMatch{Prefix: "/"}}, Cluster: "b"},
	})
	h := http.Header{"X-Role": {"admin"}}
	b.ReportAllocs()
	for b.Loop() {
		if tbl.MatchHTTP("www.example.com:80", "/x", "GET", h) == nil {
			b.Fatal("no match")
		}
	}
}
