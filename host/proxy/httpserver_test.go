package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

const httpServerConfig = `
drain_timeout: 2s
listeners:
- name: http
  address: 127.0.0.1:0%s
  routes:
  - {name: all, match: {path: {prefix: /}}, cluster: a}
clusters:
- {name: a, endpoints: [{address: "%s"}]}
`

// manyHeaders sends a GET with 120 header fields: over h1server's default limit of 100 (431), within
// net/http's (only bytes count there), which tells the two servers apart from outside.
func manyHeaders(t *testing.T, addr string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	b.WriteString("GET /many HTTP/1.1\r\nHost: svc\r\n")
	for i := range 120 {
		fmt.Fprintf(&b, "X-F%d: %d\r\n", i, i)
	}
	b.WriteString("\r\n")
	io.WriteString(c, b.String())
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestHTTPServerOption: listeners[].http_server picks the HTTP/1.1 server, and a reload that changes it
// restarts the listener on the other server.
func TestHTTPServerOption(t *testing.T) {
	h := &harness{t: t}
	h.a = upstream(t, "a").Listener.Addr().String()
	h.path = t.TempDir() + "/proxy.yaml"
	h.write(fmt.Sprintf(httpServerConfig, "\n  http_server: net/http", h.a))
	h = startProxyAt(t, testRegistry(t), h)
	if got := manyHeaders(t, h.srv.Addr("http").String()); got != 200 {
		t.Fatalf("net/http: status %d, want 200", got)
	}
	h.write(fmt.Sprintf(httpServerConfig, "", h.a))
	if err := h.srv.Reload(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	if got := manyHeaders(t, h.srv.Addr("http").String()); got != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("wasmesh after reload: status %d, want 431", got)
	}
	resp, _ := get(t, &http.Client{}, "http://"+h.srv.Addr("http").String()+"/x", nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Upstream") != "a" {
		t.Fatalf("wasmesh: status %d, headers %v", resp.StatusCode, resp.Header)
	}
}
