package stack

import (
	"testing"

	"github.com/wasmesh/wasmesh/host/proxy/config"
)

// The configurations the stack writes must pass the proxy's own strict parser.
func TestProxyConfigParses(t *testing.T) {
	base := ProxyConfig{Admin: "127.0.0.1:19901", HTTP: "127.0.0.1:18080", Echo: "127.0.0.1:19000"}
	dubbo := base
	dubbo.Dubbo, dubbo.DubboV1, dubbo.DubboV2 = "127.0.0.1:20880", "127.0.0.1:20881", "127.0.0.1:20882"
	for _, tc := range []struct {
		name      string
		cfg       ProxyConfig
		listeners int
		clusters  []string
	}{
		{"http only", base, 1, []string{"echo"}},
		{"http and dubbo", dubbo, 2, []string{"echo", "dubbo-greeter-v1", "dubbo-greeter-v2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.cfg.YAML()
			if err != nil {
				t.Fatal(err)
			}
			f, err := config.Parse("proxy.yaml", b, []string{"wasm"})
			if err != nil {
				t.Fatalf("the proxy refuses the stack's config: %v\n%s", err, b)
			}
			if len(f.Listeners) != tc.listeners {
				t.Fatalf("%d listeners, want %d", len(f.Listeners), tc.listeners)
			}
			if got := f.Listeners[0].Routes[0].Name; got != "load" {
				t.Errorf("first route %q, want load (route overrides name it)", got)
			}
			if tc.listeners == 2 {
				if l := f.Listeners[1]; len(l.Filters) != 0 || l.Direction != "outbound" {
					t.Errorf("dubbo listener: %d filters, direction %q; want none (the operator's), outbound (the sample's match is CLIENT)", len(l.Filters), l.Direction)
				}
			}
			for i, c := range f.Clusters {
				if c.Name != tc.clusters[i] {
					t.Errorf("cluster %d = %q, want %q", i, c.Name, tc.clusters[i])
				}
			}
		})
	}
	if _, err := (ProxyConfig{Admin: "a:1", HTTP: "b:2", Echo: "c:3", Dubbo: "d:4"}).YAML(); err == nil {
		t.Error("a Dubbo listener without providers was accepted")
	}
}
