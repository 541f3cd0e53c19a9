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

// serverKind tells the two HTTP/1.1 servers apart from outside: both refuse a malformed header line with 400, but
// only h1server says why in the body (net/http answers a bare "400 Bad Request").
func serverKind(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: svc\r\nNo colon here\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed header line: status %d, want 400", resp.StatusCode)
	}
	if strings.Contains(string(body), "malformed header field") {
		return "wasmesh"
	}
	return "net/http"
}

// TestHTTPServerOption: listeners[].http_server picks the HTTP/1.1 server, and a reload that changes it
// restarts the listener on the other server.
func TestHTTPServerOption(t *testing.T) {
	h := &harness{t: t}
	h.a = upstream(t, "a").Listener.Addr().String()
	h.path = t.TempDir() + "/proxy.yaml"
	h.write(fmt.Sprintf(httpServerConfig, "\n  http_server: net/http", h.a))
	h = startProxyAt(t, testRegistry(t), h)
	if got := serverKind(t, h.srv.Addr("http").String()); got != "net/http" {
		t.Fatalf("http_server: net/http runs %s", got)
	}
	h.write(fmt.Sprintf(httpServerConfig, "", h.a))
	if err := h.srv.Reload(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	if got := serverKind(t, h.srv.Addr("http").String()); got != "wasmesh" {
		t.Fatalf("after the reload to the default server: runs %s, want wasmesh", got)
	}
	resp, _ := get(t, &http.Client{}, "http://"+h.srv.Addr("http").String()+"/x", nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Upstream") != "a" {
		t.Fatalf("wasmesh: status %d, headers %v", resp.StatusCode, resp.Header)
	}
}

// TestHeaderLimits: listeners[].max_headers_count and max_request_headers_kb hold on every HTTP server a listener
// can run (h1server, net/http's HTTP/1.1, h2c), and a reload changes them without restarting the listener.
func TestHeaderLimits(t *testing.T) {
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	send := func(t *testing.T, c *http.Client, url string, fields, valueBytes int) int {
		t.Helper()
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range fields {
			req.Header.Set(fmt.Sprintf("X-F%d", i), strings.Repeat("v", valueBytes))
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name, server string
		client       *http.Client
	}{
		{"h1server", "", &http.Client{}},
		{"net/http", "\n  http_server: net/http", &http.Client{}},
		{"h2c", "", &http.Client{Transport: &http.Transport{Protocols: &h2c}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &harness{t: t}
			h.a = upstream(t, "a").Listener.Addr().String()
			h.path = t.TempDir() + "/proxy.yaml"
			limits := func(kb, count int) string {
				return fmt.Sprintf("%s\n  max_request_headers_kb: %d\n  max_headers_count: %d", tc.server, kb, count)
			}
			h.write(fmt.Sprintf(httpServerConfig, limits(4, 30), h.a))
			h = startProxyAt(t, testRegistry(t), h)
			url := "http://" + h.srv.Addr("http").String() + "/x"
			addr := h.srv.Addr("http")
			for _, step := range []struct {
				name                 string
				fields, value, want  int
				reloadKB, reloadMany int // reload to these limits first, when set
			}{
				{name: "within both", fields: 10, value: 10, want: 200},
				{name: "over the field count", fields: 40, value: 1, want: 431},
				{name: "over the bytes", fields: 2, value: 3000, want: 431},
				{name: "raised by a reload", fields: 40, value: 1, want: 200, reloadKB: 64, reloadMany: 60},
				{name: "bytes raised too", fields: 2, value: 3000, want: 200},
				{name: "lowered by a reload", fields: 10, value: 10, want: 431, reloadKB: 64, reloadMany: 5},
			} {
				if step.reloadKB != 0 {
					h.write(fmt.Sprintf(httpServerConfig, limits(step.reloadKB, step.reloadMany), h.a))
					if err := h.srv.Reload(context.Background(), "test"); err != nil {
						t.Fatal(err)
					}
					if got := h.srv.Addr("http"); got.String() != addr.String() {
						t.Fatalf("%s: the listener moved from %s to %s: a limits change must not restart it", step.name, addr, got)
					}
				}
				if got := send(t, tc.client, url, step.fields, step.value); got != step.want {
					t.Fatalf("%s: %d fields of %d bytes got %d, want %d", step.name, step.fields, step.value, got, step.want)
				}
			}
		})
	}
}
