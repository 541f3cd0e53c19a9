package xds

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/wasmesh/wasmesh/host/proxy/config"
	"github.com/wasmesh/wasmesh/xdsapi"
)

// placementBase has one listener of each kind a filter can be placed on or kept off.
const placementBase = `admin: {address: "127.0.0.1:0"}
listeners:
- {name: in, address: "127.0.0.1:8080", routes: [{name: all, match: {path: {prefix: /}}, cluster: app}]}
- {name: in2, address: "127.0.0.1:8081", direction: inbound, routes: [{name: all, match: {path: {prefix: /}}, cluster: app}]}
- {name: out, address: "127.0.0.1:9090", direction: outbound, routes: [{name: all, match: {path: {prefix: /}}, cluster: app}]}
- {name: tcp, address: "127.0.0.1:7000", protocol: tcp, routes: [{name: all, match: {}, cluster: db}]}
- name: dubbo
  address: "127.0.0.1:20880"
  protocol: dubbo
  direction: outbound
  routes:
  - {name: greeter, match: {service: org.example.Greeter}, cluster: greeter}
  - {name: rest, match: {}, cluster: greeter}
clusters:
- {name: greeter, protocol: dubbo, endpoints: [{address: "127.0.0.1:9"}]}
- {name: app, endpoints: [{address: "127.0.0.1:9"}]}
- {name: db, protocol: tcp, endpoints: [{address: "127.0.0.1:9"}]}
`

// TestPlacement runs decode and write on the operator's resources and reads back, with the proxy's own parser,
// which listeners each filter landed on.
func TestPlacement(t *testing.T) {
	t.Setenv("WASMESH_TEST_REGION", "eu-1")
	tests := []struct {
		name  string
		typ   string
		match []xdsapi.TrafficMatch
		want  []string // listeners holding the filter
	}{
		{"http filter, no match: every http listener", "HTTP", nil, []string{"in", "in2", "out"}},
		{"type unset is HTTP", "", nil, []string{"in", "in2", "out"}},
		{"SERVER: inbound listeners", "HTTP", []xdsapi.TrafficMatch{{Mode: "SERVER"}}, []string{"in", "in2"}},
		{"CLIENT: outbound listeners", "HTTP", []xdsapi.TrafficMatch{{Mode: "CLIENT"}}, []string{"out"}},
		{"CLIENT_AND_SERVER", "HTTP", []xdsapi.TrafficMatch{{Mode: "CLIENT_AND_SERVER"}}, []string{"in", "in2", "out"}},
		{"port", "HTTP", []xdsapi.TrafficMatch{{Ports: []int32{8081}}}, []string{"in2"}},
		{"SERVER on an outbound port: none", "HTTP", []xdsapi.TrafficMatch{{Mode: "SERVER", Ports: []int32{9090}}}, nil},
		{"any of several matches", "HTTP", []xdsapi.TrafficMatch{{Mode: "SERVER", Ports: []int32{8080}}, {Mode: "CLIENT"}}, []string{"in", "out"}},
		{"NETWORK: tcp listeners", "NETWORK", nil, []string{"tcp"}},
		{"NETWORK on another port: none", "NETWORK", []xdsapi.TrafficMatch{{Ports: []int32{7001}}}, nil},
		{"dubbo: only when a match names its port", "HTTP", []xdsapi.TrafficMatch{{Mode: "CLIENT", Ports: []int32{20880}}}, []string{"dubbo"}},
		{"dubbo port, wrong direction", "HTTP", []xdsapi.TrafficMatch{{Mode: "SERVER", Ports: []int32{20880}}}, nil},
		{"CLIENT without ports: not dubbo", "HTTP", []xdsapi.TrafficMatch{{Mode: "CLIENT"}}, []string{"out"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := New(Options{Base: filepath.Join(dir, "base.yaml"), Out: filepath.Join(dir, "out.yaml")})
			if err := os.WriteFile(c.opts.Base, []byte(placementBase), 0o644); err != nil {
				t.Fatal(err)
			}
			digest := "sha256:" + strings.Repeat("c", 64)
			b, err := xdsapi.Build(xdsapi.Filter{Deployment: "shop/f", ModuleDigest: digest, URL: "http://op/modules/" + digest,
				Type: tt.typ, Match: tt.match, Env: map[string]string{"MODE": "strict"}, HostEnvKeys: []string{"WASMESH_TEST_REGION", "WASMESH_TEST_ABSENT"}})
			if err != nil {
				t.Fatal(err)
			}
			filters, _, err := decode(response(t, b))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.write(filters); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(c.opts.Out)
			if err != nil {
				t.Fatal(err)
			}
			f, err := config.Parse(c.opts.Out, data, []string{"wasm"})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range f.Listeners {
				for _, fl := range l.Filters {
					if fl.Name != "xds/shop/f" {
						continue
					}
					got = append(got, l.Name)
					if opts := string(fl.Options); !strings.Contains(opts, `"env":{"MODE":"strict","WASMESH_TEST_REGION":"eu-1"}`) {
						t.Errorf("listener %s: options %s, want the inline and the host variable (and not the absent one)", l.Name, opts)
					}
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("on listeners %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecodeRefusesUnknownType(t *testing.T) {
	digest := "sha256:" + strings.Repeat("c", 64)
	b, err := xdsapi.Build(xdsapi.Filter{Deployment: "shop/f", ModuleDigest: digest, URL: "http://op/m", Type: "UDP"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := decode(response(t, b)); err == nil || !strings.Contains(err.Error(), `unknown type "UDP"`) {
		t.Fatalf("decode: %v", err)
	}
}

// response is what the operator sends a proxy that runs filters.
func response(t *testing.T, filters ...*xdsapi.Built) *discovery.DiscoveryResponse {
	t.Helper()
	chain, err := xdsapi.BuildChain(filters)
	if err != nil {
		t.Fatal(err)
	}
	resp := &discovery.DiscoveryResponse{TypeUrl: typeURL}
	res := []*core.TypedExtensionConfig{chain}
	for _, f := range filters {
		res = append(res, f.Resource)
	}
	for _, r := range res {
		a, err := anypb.New(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Resources = append(resp.Resources, a)
	}
	return resp
}

// TestDubboRouteOverrides: on a dubbo listener an override picks routes by Dubbo service (or name); overrides
// written for HTTP routes leave Dubbo routes alone, and the other way round.
func TestDubboRouteOverrides(t *testing.T) {
	dir := t.TempDir()
	c := New(Options{Base: filepath.Join(dir, "base.yaml"), Out: filepath.Join(dir, "out.yaml")})
	if err := os.WriteFile(c.opts.Base, []byte(placementBase), 0o644); err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("d", 64)
	b, err := xdsapi.Build(xdsapi.Filter{Deployment: "shop/route", ModuleDigest: digest, URL: "http://op/m",
		Match: []xdsapi.TrafficMatch{{Ports: []int32{20880, 9090}}},
		Routes: []xdsapi.RouteOverride{
			{Name: "http-all", PathPrefix: "/", Disabled: true},
			{Name: "greeter", DubboService: "org.example.Greeter", Configuration: `{"v":2}`},
		}})
	if err != nil {
		t.Fatal(err)
	}
	filters, _, err := decode(response(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.write(filters); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(c.opts.Out)
	f, err := config.Parse(c.opts.Out, data, []string{"wasm"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range f.Listeners {
		for _, r := range l.Routes {
			if o, ok := r.Filters["xds/shop/route"]; ok {
				got[l.Name+"/"+r.Name] = fmt.Sprintf("disabled=%v config=%s", o.Disabled, o.Config)
			}
		}
	}
	want := map[string]string{"out/all": "disabled=true config=", "dubbo/greeter": `disabled=false config={"v":2}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("overrides %v, want %v", got, want)
	}
}
