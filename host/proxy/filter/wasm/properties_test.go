package wasm

import (
	"context"
	"encoding/binary"
	"net/http"
	"testing"

	"github.com/wasmesh/wasmesh/host/proxy/filter"
)

func TestProperties(t *testing.T) {
	req, _ := http.NewRequest("POST", "http://svc.local/a/b?x=1", nil)
	s := filter.NewStream()
	s.Reset(context.Background(), &filter.HTTPRequestHeaders{R: req}, filter.Info{Protocol: "HTTP/1.1", Listener: "http",
		Route: "r1", Cluster: "c1", Source: "10.0.0.1:5000", Destination: "127.0.0.1:8080", ResponseCode: 201})
	p := (*properties)(s)
	code := binary.LittleEndian.AppendUint64(nil, 201)
	tests := []struct {
		path string
		want string
		ok   bool
	}{
		{"request.path", "/a/b?x=1", true},
		{"request.url_path", "/a/b", true},
		{"request.method", "POST", true},
		{"request.host", "svc.local", true},
		{"request.scheme", "http", true},
		{"request.protocol", "HTTP/1.1", true},
		{"source.address", "10.0.0.1:5000", true},
		{"destination.address", "127.0.0.1:8080", true},
		{"route_name", "r1", true},
		{"cluster_name", "c1", true},
		{"upstream_cluster", "", false},
		{"xds.listener_name", "http", true},
		{"connection.mtls", "\x00", true},
		{"connection.tls_version", "", false},
		{"response.code", string(code), true},
		{"no.such.property", "", false},
	}
	for _, tt := range tests {
		got, ok := p.GetProperty(tt.path)
		if string(got) != tt.want || ok != tt.ok {
			t.Errorf("%s = %q, %v; want %q, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		p.GetProperty("source.address")
		p.GetProperty("route_name")
		p.GetProperty("request.url_path")
	}); n != 0 {
		t.Errorf("%v allocations per run of string properties, want 0", n)
	}
}
