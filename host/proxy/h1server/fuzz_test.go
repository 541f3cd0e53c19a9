package h1server

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"
)

// memConn is a net.Conn over fixed input that drops what is written.
type memConn struct {
	r io.Reader
}

func (c *memConn) Read(p []byte) (int, error)         { return c.r.Read(p) }
func (c *memConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c *memConn) Close() error                       { return nil }
func (c *memConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *memConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *memConn) SetDeadline(t time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }

// FuzzReadRequest feeds untrusted bytes to the request parser and the body reader: they must never panic, and a
// request they accept must satisfy what the handler relies on.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		get,
		"POST /up?q=%20 HTTP/1.1\r\nHost: svc\r\nContent-Length: 5\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5;e=1\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n",
		"GET http://h:1/p HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
		"OPTIONS * HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\nX: \t v \t\nConnection: close, keep-alive\n\n",
		"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		srv := &Server{Limits: Limits{MaxHeaderBytes: 4096, MaxHeaders: 20}}
		c := srv.newConn(&memConn{r: bytes.NewReader(data)})
		defer c.close()
		for range 3 {
			c.resetRequest()
			r := c.req
			err := c.parser.readRequest(c.br, r, &c.head)
			if err != nil {
				return
			}
			if r.Method == "" || r.URL == nil || r.RequestURI == "" {
				t.Fatalf("accepted an incomplete request: %+v", r)
			}
			if r.ProtoMajor != 1 || r.ProtoMinor > 1 {
				t.Fatalf("version %d.%d", r.ProtoMajor, r.ProtoMinor)
			}
			for k, vv := range r.Header {
				if !httpguts.ValidHeaderFieldName(k) || k == "Host" {
					t.Fatalf("field name %q", k)
				}
				for _, v := range vv {
					if strings.ContainsAny(v, "\r\n\x00") || v != strings.Trim(v, " \t") {
						t.Fatalf("field %s value %q", k, v)
					}
				}
			}
			if strings.ContainsAny(r.Host, " \r\n\x00/") {
				t.Fatalf("host %q", r.Host)
			}
			if c.head.chunked != (r.ContentLength == -1) || r.ContentLength < -1 {
				t.Fatalf("framing: chunked %v, length %d", c.head.chunked, r.ContentLength)
			}
			if r.ContentLength == 0 {
				continue
			}
			b := &body{c: c, br: c.br, remaining: r.ContentLength, chunked: c.head.chunked, expect100: c.head.expect100, trailer: &r.Trailer}
			n, err := io.Copy(io.Discard, b)
			if err != nil {
				return
			}
			if r.ContentLength >= 0 && n != r.ContentLength {
				t.Fatalf("read %d body bytes of %d", n, r.ContentLength)
			}
		}
	})
}

// TestParseTable checks the parsed fields of accepted heads.
func TestParseTable(t *testing.T) {
	tests := []struct {
		head                           string
		method, path, query, host, uri string
		length                         int64
		close                          bool
	}{
		{get, "GET", "/a", "x=1", "svc", "/a?x=1", 0, false},
		{"PUT /p%20q?r HTTP/1.1\r\nHost: h:80\r\nContent-Length: 007\r\n\r\n", "PUT", "/p q", "r", "h:80", "/p%20q?r", 7, false},
		{"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "OPTIONS", "*", "", "h", "*", 0, false},
		{"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", "CONNECT", "", "", "h:443", "h:443", 0, false},
		{"GET http://abs/x HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/x", "", "abs", "http://abs/x", 0, false},
		{"GET / HTTP/1.0\r\n\r\n", "GET", "/", "", "", "/", 0, true},
		{"GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, Close\r\n\r\n", "GET", "/", "", "h", "/", 0, true},
		{"PATCH / HTTP/1.1\r\nhost: h\r\ntransfer-encoding: Chunked\r\n\r\n", "PATCH", "/", "", "h", "/", -1, false},
		{"CUSTOM / HTTP/1.1\r\nHost:\r\n\r\n", "CUSTOM", "/", "", "", "/", 0, false},
		{"GET /a!b*(c)?q HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/a!b*(c)", "q", "h", "/a!b*(c)?q", 0, false},
	}
	for _, tt := range tests {
		p := newParser(Limits{})
		r := &http.Request{Header: http.Header{}}
		var h head
		if err := p.readRequest(bufio.NewReader(strings.NewReader(tt.head)), r, &h); err != nil {
			t.Errorf("%q: %v", tt.head, err)
			continue
		}
		if tt.uri[0] == '/' && r.URL.RequestURI() != tt.uri {
			t.Errorf("%q: the URL writes back as %q", tt.head, r.URL.RequestURI()) // what goes upstream
		}
		if r.Method != tt.method || r.URL.Path != tt.path || r.URL.RawQuery != tt.query || r.Host != tt.host ||
			r.RequestURI != tt.uri || r.ContentLength != tt.length || r.Close != tt.close {
			t.Errorf("%q: method %s path %q query %q host %q uri %q length %d close %v", tt.head, r.Method, r.URL.Path,
				r.URL.RawQuery, r.Host, r.RequestURI, r.ContentLength, r.Close)
		}
	}
}
