package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

var kinds = []string{"apikey", "header", "wasm"}

func TestParseValid(t *testing.T) {
	b, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse("proxy.yaml", b, kinds)
	if err != nil {
		t.Fatal(err)
	}
	l := f.Listeners[0]
	if l.Protocol != "http" || l.MaxBufferBytes != DefaultMaxBufferBytes {
		t.Errorf("defaults not applied: %+v", l)
	}
	if got := f.DrainTimeout.D(0); got != 5*time.Second {
		t.Errorf("drain_timeout = %v", got)
	}
	r := l.Routes[0]
	if r.Retries.Budget != DefaultRetryBudget || r.Timeout.D(0) != 2*time.Second || !r.Filters["keys"].Disabled {
		t.Errorf("route = %+v", r)
	}
	if f.Clusters[1].LB != "round_robin" || f.Clusters[1].Protocol != "http1" {
		t.Errorf("cluster defaults: %+v", f.Clusters[1])
	}
}

func TestParseErrors(t *testing.T) {
	base := `
listeners:
- name: http
  address: 127.0.0.1:8080
  routes:
  - {name: a, match: {path: {prefix: /}}, cluster: backend}
clusters:
- {name: backend, endpoints: [{address: 127.0.0.1:9000}]}
- {name: auth, endpoints: [{address: 127.0.0.1:9001}]}
`
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown cluster", strings.Replace(base, "cluster: backend}", "cluster: backnd}", 1),
			`proxy.yaml: listeners[0].routes[0].cluster: unknown cluster "backnd" (known: auth, backend)`},
		{"unknown field", strings.Replace(base, "address: 127.0.0.1:8080", "address: 127.0.0.1:8080\n  adress: x", 1),
			`unknown field "listeners[0].adress"`},
		{"duplicate field", strings.Replace(base, "address: 127.0.0.1:8080", "address: 127.0.0.1:8080\n  address: x", 1),
			`proxy.yaml: invalid YAML`},
		{"bad duration", strings.Replace(base, "cluster: backend}", "cluster: backend, timeout: soon}", 1),
			`expected a duration`},
		{"unknown http server", strings.Replace(base, "address: 127.0.0.1:8080", "address: 127.0.0.1:8080\n  http_server: nginx", 1),
			`proxy.yaml: listeners[0].http_server: unknown HTTP server "nginx" (expected wasmesh or net/http)`},
		{"header limit out of range", strings.Replace(base, "address: 127.0.0.1:8080", "address: 127.0.0.1:8080\n  max_request_headers_kb: 9000", 1),
			`proxy.yaml: listeners[0].max_request_headers_kb: 9000 is out of range (expected 1 to 8192 KiB)`},
		{"negative header count", strings.Replace(base, "address: 127.0.0.1:8080", "address: 127.0.0.1:8080\n  max_headers_count: -1", 1),
			`proxy.yaml: listeners[0].max_headers_count: -1 is out of range (expected 1 to 10000)`},
		{"header count on tcp", strings.Replace(base, "address: 127.0.0.1:8080", "address: 127.0.0.1:8080\n  protocol: tcp\n  max_headers_count: 50", 1),
			`listeners[0].max_headers_count: only http listeners read request headers (this one is tcp)`},
		{"http server on tcp", strings.Replace(base, "address: 127.0.0.1:8080", "address: 127.0.0.1:8080\n  protocol: tcp\n  http_server: net/http", 1),
			`listeners[0].http_server: only http listeners have an HTTP server (this one is tcp)`},
		{"bad address", strings.Replace(base, "127.0.0.1:9000", "nowhere", 1),
			`clusters[0].endpoints[0].address: expected host:port, got "nowhere"`},
		{"dubbo heartbeat on an http cluster", strings.Replace(base, "9000}]}", "9000}], health_check: {type: dubbo}}", 1),
			`clusters[0].health_check.type: a dubbo heartbeat check needs protocol: dubbo (the cluster is "http1"); use tcp`},
		{"unknown health check", strings.Replace(base, "9000}]}", "9000}], health_check: {type: grpc}}", 1),
			`clusters[0].health_check.type: unknown type "grpc" (expected http, tcp or dubbo)`},
		{"bad kind", strings.Replace(base, "  routes:", "  filters: [{name: f, kind: lua}]\n  routes:", 1),
			`listeners[0].filters[0].kind: unknown filter kind "lua" (known: apikey, header, wasm)`},
		{"wasm without module", strings.Replace(base, "  routes:", "  filters: [{name: f, kind: wasm}]\n  routes:", 1),
			`listeners[0].filters[0].module.url: a wasm filter needs a module url`},
		{"http unpinned", strings.Replace(base, "  routes:", "  filters: [{name: f, kind: wasm, module: {url: 'https://x/m.wasm'}}]\n  routes:", 1),
			`module.sha256: modules fetched over http(s) must be pinned`},
		{"bad phase", strings.Replace(base, "  routes:", "  filters: [{name: f, kind: header, phase: LATE}]\n  routes:", 1),
			`listeners[0].filters[0].phase: unknown phase "LATE"`},
		{"bad regex", strings.Replace(base, "{prefix: /}", "{regex: '('}", 1),
			`listeners[0].routes[0].match.path.regex: invalid regular expression`},
		{"two path matchers", strings.Replace(base, "{prefix: /}", "{prefix: /, exact: /a}", 1),
			`match.path: set exactly one of exact, prefix, regex`},
		{"override unknown filter", strings.Replace(base, "cluster: backend}", "cluster: backend, filters: {nope: {disabled: true}}}", 1),
			`listeners[0].routes[0].filters.nope: no filter "nope" on this listener`},
		{"retry condition", strings.Replace(base, "cluster: backend}", "cluster: backend, retries: {attempts: 1, retry_on: [timeout]}}", 1),
			`retries.retry_on[0]: unknown condition "timeout"`},
		{"lb", strings.Replace(base, "{name: auth,", "{name: auth, lb: random,", 1),
			`clusters[1].lb: unknown load balancer "random"`},
		{"hash_header without ring_hash", strings.Replace(base, "{name: auth,", "{name: auth, hash_header: x-user,", 1),
			`clusters[1].hash_header: only lb: ring_hash hashes a header (the cluster's lb is "round_robin")`},
		{"hash_header not a name", strings.Replace(base, "{name: auth,", "{name: auth, lb: ring_hash, hash_header: 'x user',", 1),
			`clusters[1].hash_header: "x user" is not a header name`},
		{"duplicate cluster", strings.Replace(base, "{name: auth,", "{name: backend,", 1),
			`clusters[1].name: duplicate cluster "backend"`},
		{"no listeners", "clusters: []", `listeners: at least one listener is required`},
		{"type", strings.Replace(base, "name: http", "name: [1]", 1), `listeners.name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("proxy.yaml", []byte(tt.yaml), kinds)
			if err == nil {
				t.Fatalf("no error for:\n%s", tt.yaml)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	b, _ := os.ReadFile("testdata/valid.yaml")
	f.Add(b)
	f.Add([]byte("listeners: [{name: a, address: ':1', routes: [{name: r, cluster: c}]}]\nclusters: [{name: c, endpoints: [{address: ':2'}]}]"))
	f.Add([]byte("{"))
	f.Add([]byte("listeners: &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data, kinds)
		if err == nil && len(cfg.Listeners) == 0 {
			t.Fatal("a config without listeners passed validation")
		}
	})
}

// The shipped samples must stay valid.
func TestSamplesParse(t *testing.T) {
	for _, name := range []string{"basic.yaml", "wasm.yaml"} {
		if _, err := Load("../../../samples/proxy/"+name, kinds); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
