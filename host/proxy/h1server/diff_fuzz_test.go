package h1server

import (
	"bufio"
	"bytes"
	"io"
	"maps"
	"net/http"
	"slices"
	"testing"
)

// FuzzAgainstNetHTTP reads the same bytes with this parser and net/http's: where both accept a request head they
// must agree on what it says (method, target, host, fields, length, whether the connection closes).
func FuzzAgainstNetHTTP(f *testing.F) {
	for _, s := range []string{
		get,
		"POST /up?q=%20 HTTP/1.1\r\nHost: svc\r\nContent-Length: 5\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n3;a=b\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
		"GET http://h:1/p HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\n\r\n",
		"OPTIONS * HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nUser-Agent:  t \r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		srv := &Server{}
		c := srv.newConn(&memConn{r: bytes.NewReader(data)})
		defer c.close()
		c.resetRequest()
		got := c.req
		if err := c.parser.readRequest(c.br, got, &c.head); err != nil {
			return // stricter than net/http (Content-Length with Transfer-Encoding, header count, ...)
		}
		if got.Method != want.Method || got.RequestURI != want.RequestURI || got.Host != want.Host ||
			got.URL.String() != want.URL.String() || got.Proto != want.Proto || got.Close != want.Close ||
			got.ContentLength != want.ContentLength {
			t.Fatalf("%q:\n got %s %s %s host %q url %q len %d close %v\nwant %s %s %s host %q url %q len %d close %v", data,
				got.Method, got.RequestURI, got.Proto, got.Host, got.URL, got.ContentLength, got.Close,
				want.Method, want.RequestURI, want.Proto, want.Host, want.URL, want.ContentLength, want.Close)
		}
		if !maps.EqualFunc(got.Header, want.Header, slices.Equal) {
			t.Fatalf("%q:\n got %q\nwant %q", data, got.Header, want.Header)
		}
		if got.ContentLength == 0 {
			return
		}
		// The bodies: the same bytes, and the same trailers when both read to the end.
		b := &body{c: c, br: c.br, remaining: got.ContentLength, chunked: c.head.chunked, trailer: &got.Trailer}
		gotBody, gotErr := io.ReadAll(b)
		wantBody, wantErr := io.ReadAll(want.Body)
		if gotErr == nil && wantErr == nil {
			if !bytes.Equal(gotBody, wantBody) || !maps.EqualFunc(got.Trailer, want.Trailer, slices.Equal) {
				t.Fatalf("%q:\n got body %q trailer %q\nwant body %q trailer %q", data, gotBody, got.Trailer, wantBody, want.Trailer)
			}
		}
		if (gotErr == nil) != (wantErr == nil) {
			t.Logf("%q: body error %v, net/http's %v", data, gotErr, wantErr)
		}
	})
}
