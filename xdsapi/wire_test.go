package xdsapi

import (
	"math"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestBuildAndChainOrder(t *testing.T) {
	mk := func(dep, phase string, prio int32) *Built {
		b, err := Build(Filter{Deployment: dep, ModuleDigest: "sha256:" + "ab", URL: "http://op/modules/sha256:ab", FailStrategy: "FAIL_OPEN", Phase: phase, Priority: prio, Configuration: []byte(`{"a":1}`)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	filters := []*Built{mk("ns/stats", "STATS", 0), mk("ns/low", "AUTHN", 1), mk("ns/high", "AUTHN", 10), mk("ns/last", "", 0), mk("ns/authz", "AUTHZ", 0)}
	res, err := BuildChain(filters)
	if err != nil {
		t.Fatal(err)
	}
	c, err := DecodeChain(res)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ns/high", "ns/low", "ns/authz", "ns/stats", "ns/last"}
	for i, f := range c.Filters {
		if f.Deployment != want[i] {
			t.Fatalf("order %v, want %v", c.Filters, want)
		}
	}
	pc, err := DecodeFilter(filters[0].Resource)
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 the deprecated field is set on purpose, for older Envoys
	if !pc.GetFailOpen() || pc.GetVmConfig().GetCode().GetRemote().GetSha256() != "ab" || pc.GetVmConfig().GetCode().GetRemote().GetHttpUri().GetUri() == "" {
		t.Errorf("plugin config %v", pc)
	}
	var cfg wrapperspb.StringValue
	if err := pc.GetConfiguration().UnmarshalTo(&cfg); err != nil || cfg.Value != `{"a":1}` {
		t.Errorf("configuration %v %v", cfg.Value, err)
	}
	if mk("ns/x", "", 0).Hash == mk("ns/x", "", 1).Hash {
		t.Error("the hash must change with the priority")
	}
}

func FuzzDecodeChain(f *testing.F) {
	f.Add(`{"filters":[{"name":"wasmesh.io/filter/a/b","deployment":"a/b","digest":"sha256:00"}]}`)
	f.Add(`{"filters":null}`)
	f.Add(`[`)
	f.Fuzz(func(t *testing.T, s string) {
		a, err := anypb.New(wrapperspb.String(s))
		if err != nil {
			return
		}
		c, err := DecodeChain(&core.TypedExtensionConfig{Name: ChainName, TypedConfig: a})
		if err != nil {
			return
		}
		for _, e := range c.Filters {
			if len(e.Name) < len(FilterPrefix) {
				t.Fatalf("accepted %q", e.Name)
			}
		}
	})
}

func TestLoadRoundTrip(t *testing.T) {
	in := FilterLoad{Deployment: "shop/auth", Digest: "sha256:ab", Calls: 10, Failures: 3}
	out, ok := LoadFromProto(in.Proto(nil))
	if !ok || out != in {
		t.Fatalf("got %+v %v, want %+v", out, ok, in)
	}
	if _, ok := LoadFromProto(&endpoint.ClusterStats{ClusterName: "backend", ClusterServiceName: "sha256:ab"}); ok {
		t.Error("a cluster that is not a filter was read as one")
	}
}

func FuzzLoadFromProto(f *testing.F) {
	f.Add("wasmesh.io/filter/a/b", "sha256:00", uint64(5), uint64(9), uint64(math.MaxUint64))
	f.Add("wasmesh.io/filter/", "sha256:", uint64(0), uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, name, svc string, calls, failures, more uint64) {
		cs := &endpoint.ClusterStats{ClusterName: name, ClusterServiceName: svc, UpstreamLocalityStats: []*endpoint.UpstreamLocalityStats{
			{TotalIssuedRequests: calls, TotalErrorRequests: failures}, {TotalIssuedRequests: more, TotalErrorRequests: more}}}
		l, ok := LoadFromProto(cs)
		if ok && (l.Failures > l.Calls || l.Calls < calls || l.Deployment == "") {
			t.Fatalf("%+v from %v", l, cs)
		}
	})
}
