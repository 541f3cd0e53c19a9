package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"testing"
)

// parsed is data read as a response by respHead and by http.ReadResponse, with what each left unread.
type parsed struct {
	got          *http.Response
	ok           bool // respHead parsed it
	want         *http.Response
	wantErr      error
	ours, theirs *bufio.Reader
}

// parseBoth reads data as a response to method with respHead and with http.ReadResponse.
func parseBoth(t *testing.T, data []byte, method string) parsed {
	t.Helper()
	req := &http.Request{Method: method}
	p := parsed{ours: bufio.NewReaderSize(bytes.NewReader(data), 16<<10), theirs: bufio.NewReader(bytes.NewReader(data))}
	p.ours.Peek(min(len(data), 16<<10)) // a whole head arrives before the parser looks, as it does after the first byte
	before := p.ours.Buffered()
	var h respHead
	p.got, p.ok = h.read(p.ours, req)
	if !p.ok && p.ours.Buffered() != before {
		t.Fatalf("refused %q but consumed %d bytes", data, before-p.ours.Buffered())
	}
	p.want, p.wantErr = http.ReadResponse(p.theirs, req)
	return p
}

// sameResponse fails t where the two parsers disagree on anything the proxy reads, the body, and what follows it.
func sameResponse(t *testing.T, data []byte, p parsed) {
	t.Helper()
	got, want, ours, theirs := p.got, p.want, p.ours, p.theirs
	if got.StatusCode != want.StatusCode || got.Status != want.Status || got.Proto != want.Proto ||
		got.ProtoMajor != want.ProtoMajor || got.ProtoMinor != want.ProtoMinor || got.ContentLength != want.ContentLength ||
		got.Close != want.Close || len(got.TransferEncoding) != 0 || len(got.Trailer) != 0 {
		t.Fatalf("%q:\n got  %d %q %s cl=%d close=%v te=%v trailer=%v\n want %d %q %s cl=%d close=%v te=%v trailer=%v", data,
			got.StatusCode, got.Status, got.Proto, got.ContentLength, got.Close, got.TransferEncoding, got.Trailer,
			want.StatusCode, want.Status, want.Proto, want.ContentLength, want.Close, want.TransferEncoding, want.Trailer)
	}
	if !reflect.DeepEqual(got.Header, want.Header) {
		t.Fatalf("%q: header\n got  %v\n want %v", data, got.Header, want.Header)
	}
	gb, gerr := io.ReadAll(got.Body)
	wb, werr := io.ReadAll(want.Body)
	if !bytes.Equal(gb, wb) || !errors.Is(gerr, werr) && (gerr == nil) != (werr == nil) {
		t.Fatalf("%q: body %q (%v), net/http %q (%v)", data, gb, gerr, wb, werr)
	}
	if gerr == nil {
		gr, _ := io.ReadAll(ours)
		wr, _ := io.ReadAll(theirs)
		if !bytes.Equal(gr, wr) {
			t.Fatalf("%q: after the body %q, net/http %q", data, gr, wr)
		}
	}
}

func TestRespHead(t *testing.T) {
	tests := []struct {
		name, method, data string
		fast               bool
	}{
		{"content length", "GET", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhelloNEXT", true},
		{"no reason", "GET", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", true},
		{"odd reason", "GET", "HTTP/1.1 200 Fine\r\nContent-Length: 2\r\nX-Multi: 1\r\nx-multi: 2\r\n\r\nok", true},
		{"whitespace around values", "GET", "HTTP/1.1 200 OK\r\nContent-Length:\t 3 \r\nX-Empty:\r\n\r\nabc", true},
		{"connection close", "GET", "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 1\r\n\r\nx", true},
		{"head with length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", true},
		{"head without length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n", true},
		{"204", "GET", "HTTP/1.1 204 No Content\r\nDate: Mon, 07 Dec 2026 09:00:00 GMT\r\n\r\n", true},
		{"304 with length", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nEtag: \"x\"\r\n\r\n", true},
		{"short body", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true},
		{"chunked: net/http's", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false},
		{"close-delimited: net/http's", "GET", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close", false},
		{"1xx first: net/http's", "GET", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false},
		{"HTTP/1.0: net/http's", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
		{"folded line: net/http's", "GET", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n", false},
		{"two lengths: net/http's", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", false},
		{"signed length: net/http's", "GET", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx", false},
		{"trailer declared: net/http's", "GET", "HTTP/1.1 200 OK\r\nTrailer: X-T\r\nContent-Length: 1\r\n\r\nx", false},
		{"bare LF: net/http's", "GET", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", false},
		{"head not all read: net/http's", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := parseBoth(t, []byte(tc.data), tc.method)
			if p.ok != tc.fast {
				t.Fatalf("parsed here: %v, want %v", p.ok, tc.fast)
			}
			if !p.ok {
				return
			}
			if p.wantErr != nil {
				t.Fatalf("net/http refuses what was parsed here: %v", p.wantErr)
			}
			sameResponse(t, []byte(tc.data), p)
		})
	}
}

// FuzzRespHead: whatever respHead parses, net/http parses the same way, body and framing included; whatever it
// refuses, it leaves unread.
func FuzzRespHead(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1"), false)
	f.Add([]byte("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"), true)
	f.Add([]byte("HTTP/1.1 200 \r\nConnection: close\r\nContent-Length: 0\r\nX: a\tb\r\n\r\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		p := parseBoth(t, data, method)
		if !p.ok {
			return
		}
		if p.wantErr != nil {
			t.Fatalf("%q: parsed here, net/http refuses it: %v", data, p.wantErr)
		}
		sameResponse(t, data, p)
	})
}

// BenchmarkReadResponse reads nginx's answer to the proxy benchmark's request, head and body, with respHead and
// with http.ReadResponse.
func BenchmarkReadResponse(b *testing.B) {
	data := []byte("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 09:00:00 GMT\r\n" +
		"Content-Type: text/plain\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello")
	req := &http.Request{Method: "GET"}
	var buf [64]byte
	r := bytes.NewReader(data)
	br := bufio.NewReaderSize(r, 16<<10)
	var h respHead // a connection's, as in h1Conn
	for _, bc := range []struct {
		name string
		read func() *http.Response
	}{
		{"wasmesh", func() *http.Response {
			resp, ok := h.read(br, req)
			if !ok {
				b.Fatal("not parsed")
			}
			return resp
		}},
		{"net-http", func() *http.Response {
			resp, err := http.ReadResponse(br, req)
			if err != nil {
				b.Fatal(err)
			}
			return resp
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				r.Reset(data)
				br.Reset(r)
				br.Peek(len(data))
				resp := bc.read()
				if n, _ := io.ReadFull(resp.Body, buf[:5]); n != 5 {
					b.Fatal("short body")
				}
			}
		})
	}
}
