package httpproxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestTargetPassesUnchanged: the request target reaches the upstream byte for byte, escapes and sub-delimiters
// included, under both HTTP/1.1 servers (an empty query, "?" alone, is dropped by the handler under both).
func TestTargetPassesUnchanged(t *testing.T) { eachServer(t, testTargetPassesUnchanged) }

func testTargetPassesUnchanged(t *testing.T, server string) {
	seen := make(chan string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- r.RequestURI }))
	t.Cleanup(up.Close)
	px := proxyTo(t, server, up, 1<<20)
	for _, tt := range []struct{ target, want string }{
		{"/plain/path", "/plain/path"},
		{"/a!b*(c)'d?x=1&y=%20", "/a!b*(c)'d?x=1&y=%20"},
		{"/%7Euser/a%2Fb", "/%7Euser/a%2Fb"},
		{"/caf%C3%A9?q=%E2%82%AC#frag", "/caf%C3%A9?q=%E2%82%AC#frag"},
		{"/semi;colon=1/at@sign/$dollar+plus,comma", "/semi;colon=1/at@sign/$dollar+plus,comma"},
		{"/?", "/"},
	} {
		target := tt.target
		c, err := net.Dial("tcp", strings.TrimPrefix(px.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", target, resp.StatusCode)
		}
		if got := <-seen; got != tt.want {
			t.Errorf("client sent %q, upstream saw %q, want %q", target, got, tt.want)
		}
	}
}
