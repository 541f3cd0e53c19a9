package xdsapi

import (
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
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
