package h1server

import (
	"bufio"
	"bytes"
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
		p := newParser(Limits{})
		got := &http.Request{Header: http.Header{}}
		var h head
		if err := p.readRequest(bufio.NewReader(bytes.NewReader(data)), got, &h); err != nil {
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
	})
}
