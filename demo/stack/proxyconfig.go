package stack

import (
	"encoding/json"
	"fmt"
)

// ProxyConfig describes the proxy.yaml of a mesh proxy: an HTTP listener in front of an HTTP upstream, whose
// filters the operator sends over xDS, and optionally an outbound Dubbo listener in front of a v1 and a v2
// provider, which gets the operator's filters whose match names its port (dubbo-routing).
type ProxyConfig struct {
	Admin string // admin server address
	HTTP  string // HTTP listener address
	Echo  string // the HTTP upstream
	// Dubbo is the Dubbo listener's address; empty leaves the listener out.
	Dubbo            string
	DubboV1, DubboV2 string // providers, as clusters dubbo-greeter-v1 and dubbo-greeter-v2
}

// YAML renders the configuration (as JSON, which YAML accepts). The HTTP listener has routes "load" (prefix
// /load/) and "default"; WasmDeployment route overrides can name them.
func (c ProxyConfig) YAML() ([]byte, error) {
	if c.Admin == "" || c.HTTP == "" || c.Echo == "" {
		return nil, fmt.Errorf("proxy config: Admin, HTTP and Echo are required")
	}
	listeners := []any{map[string]any{
		"name": "http", "address": c.HTTP,
		"routes": []any{
			map[string]any{"name": "load", "match": map[string]any{"path": map[string]any{"prefix": "/load/"}}, "cluster": "echo"},
			map[string]any{"name": "default", "match": map[string]any{"path": map[string]any{"prefix": "/"}}, "cluster": "echo"},
		},
	}}
	clusters := []any{map[string]any{"name": "echo", "endpoints": []any{map[string]any{"address": c.Echo}}}}
	if c.Dubbo != "" {
		if c.DubboV1 == "" || c.DubboV2 == "" {
			return nil, fmt.Errorf("proxy config: a Dubbo listener needs DubboV1 and DubboV2")
		}
		listeners = append(listeners, map[string]any{
			// A gateway's listener toward the providers: outbound, as the dubbo-routing sample's match (CLIENT) wants.
			"name": "dubbo", "address": c.Dubbo, "protocol": "dubbo", "direction": "outbound",
			// The filter picks the cluster; the route is where requests it does not route go.
			"routes": []any{map[string]any{"name": "greeter", "match": map[string]any{"path": map[string]any{"prefix": "/"}}, "cluster": "dubbo-greeter-v1"}},
		})
		for _, v := range []struct{ label, addr string }{{"v1", c.DubboV1}, {"v2", c.DubboV2}} {
			clusters = append(clusters, map[string]any{"name": "dubbo-greeter-" + v.label, "protocol": "dubbo",
				"endpoints": []any{map[string]any{"address": v.addr}}})
		}
	}
	return json.MarshalIndent(map[string]any{
		"admin": map[string]any{"address": c.Admin}, "drain_timeout": "2s",
		"listeners": listeners, "clusters": clusters,
	}, "", "  ")
}
