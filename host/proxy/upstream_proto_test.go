package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Clusters speak h2c and h2 (TLS, ALPN) to their endpoints; the upstream reports the protocol it saw.
func TestUpstreamProtocols(t *testing.T) {
	proto := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Proto", r.Proto) })
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	h2c := httptest.NewUnstartedServer(proto)
	h2c.Config.Protocols = &p
	h2c.Start()
	defer h2c.Close()
	h2 := httptest.NewUnstartedServer(proto)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	defer h2.Close()

	cfg := fmt.Sprintf(`
listeners:
- name: http
  address: 127.0.0.1:0
  routes:
  - {name: h2c, match: {path: {prefix: /h2c}}, cluster: h2c}
  - {name: h2, match: {path: {prefix: /h2}}, cluster: h2}
clusters:
- {name: h2c, protocol: h2c, endpoints: [{address: "%s"}]}
- {name: h2, protocol: h2, tls: {insecure_skip_verify: true}, endpoints: [{address: "%s"}]}
`, h2c.Listener.Addr(), h2.Listener.Addr())
	h := startProxy(t, testRegistry(t), cfg)
	for _, path := range []string{"/h2c", "/h2"} {
		for _, method := range []string{"GET", "POST"} {
			req, _ := http.NewRequest(method, h.base+path, strings.NewReader("x"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("X-Proto") != "HTTP/2.0" {
				t.Errorf("%s %s: status %d, upstream saw %q", method, path, resp.StatusCode, resp.Header.Get("X-Proto"))
			}
		}
	}
}
