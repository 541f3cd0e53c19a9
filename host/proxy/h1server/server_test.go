package h1server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// echo answers with what it saw of the request: the method, target, host, protocol and the body it read, with
// the request trailers in X-Trailer-* fields (the body is read before the head is written).
func echo(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	h := w.Header()
	h.Set("X-Method", r.Method)
	h.Set("X-Path", r.URL.Path)
	h.Set("X-Query", r.URL.RawQuery)
	h.Set("X-Host", r.Host)
	h.Set("X-Proto", r.Proto)
	h.Set("X-Length", fmt.Sprint(r.ContentLength))
	h.Set("X-Agent", r.Header.Get("User-Agent"))
	if err != nil {
		h.Set("X-Body-Error", err.Error())
	}
	for k, v := range r.Trailer {
		h.Set("X-Trailer-"+k, strings.Join(v, ","))
	}
	w.Write(b)
}

func start(t *testing.T, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// exchange sends raw bytes and reads responses until the server closes the connection or 300 ms pass
// without one; closed reports whether the connection was closed.
func exchange(t *testing.T, addr string, reqs ...string) (resps []*http.Response, bodies []string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, r := range reqs {
		if _, err := io.WriteString(c, r); err != nil {
			t.Fatal(err)
		}
	}
	br := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			return resps, bodies, !(errors.As(err, &ne) && ne.Timeout())
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return resps, bodies, true
		}
		resps, bodies = append(resps, resp), append(bodies, string(b))
	}
}

const get = "GET /a?x=1 HTTP/1.1\r\nHost: svc\r\nUser-Agent: t\r\n\r\n"

func TestProtocol(t *testing.T) {
	big := strings.Repeat("b", 5000)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		limits  Limits
		reqs    []string
		status  []int
		check   func(t *testing.T, resps []*http.Response, bodies []string)
		closed  bool
	}{
		{name: "keep-alive and pipelining answer in order", reqs: []string{get +
			"POST /b HTTP/1.1\r\nHost: svc\r\nContent-Length: 5\r\n\r\nhello" +
			"GET /c HTTP/1.1\r\nHost: other\r\n\r\n"},
			status: []int{200, 200, 200},
			check: func(t *testing.T, r []*http.Response, b []string) {
				if r[0].Header.Get("X-Path") != "/a" || r[0].Header.Get("X-Query") != "x=1" || r[0].Header.Get("X-Agent") != "t" ||
					r[1].Header.Get("X-Path") != "/b" || b[1] != "hello" || r[2].Header.Get("X-Host") != "other" {
					t.Errorf("out of order or wrong: %v %v %v %q", r[0].Header, r[1].Header, r[2].Header, b)
				}
				if r[0].ContentLength != 0 || r[0].Header.Get("Date") == "" {
					t.Errorf("small response: length %d, date %q", r[0].ContentLength, r[0].Header.Get("Date"))
				}
			}},
		{name: "Connection: close", reqs: []string{"GET / HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n" + get},
			status: []int{200}, closed: true,
			check: func(t *testing.T, r []*http.Response, b []string) {
				if !r[0].Close {
					t.Error("response without Connection: close")
				}
			}},
		{name: "HTTP/1.0 closes", reqs: []string{"GET / HTTP/1.0\r\n\r\n"}, status: []int{200}, closed: true,
			check: func(t *testing.T, r []*http.Response, b []string) {
				if r[0].Header.Get("X-Proto") != "HTTP/1.0" || r[0].Header.Get("X-Host") != "" {
					t.Errorf("headers %v", r[0].Header)
				}
			}},
		{name: "HTTP/1.0 keep-alive", reqs: []string{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n"},
			status: []int{200, 200}, closed: true,
			check: func(t *testing.T, r []*http.Response, b []string) {
				if r[0].Header.Get("Connection") != "keep-alive" {
					t.Errorf("headers %v", r[0].Header)
				}
			}},
		{name: "HTTP/1.0 unknown length ends with the connection", reqs: []string{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"},
			handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(big)) },
			status:  []int{200}, closed: true,
			check: func(t *testing.T, r []*http.Response, b []string) {
				if b[0] != big || r[0].ContentLength != -1 {
					t.Errorf("%d bytes, length %d", len(b[0]), r[0].ContentLength)
				}
			}},
		{name: "chunked request with extensions and trailers",
			reqs: []string{"POST /up HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
				"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Sum: 42\r\nX-Late: yes\r\n\r\n" + get},
			status: []int{200, 200},
			check: func(t *testing.T, r []*http.Response, b []string) {
				h := r[0].Header
				if b[0] != "hello, world" || h.Get("X-Length") != "-1" || h.Get("X-Trailer-X-Sum") != "42" || h.Get("X-Trailer-X-Late") != "yes" {
					t.Errorf("body %q, headers %v", b[0], h)
				}
			}},
		{name: "malformed chunk reaches the handler as a read error",
			reqs:   []string{"POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
			status: []int{200}, closed: true,
			check: func(t *testing.T, r []*http.Response, b []string) {
				if r[0].Header.Get("X-Body-Error") == "" {
					t.Errorf("no body error: %v", r[0].Header)
				}
			}},
		{name: "chunk-size line longer than the read buffer is a malformed body, not an early end",
			reqs:   []string{"POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n1" + strings.Repeat(";x", 5000) + "\r\n"},
			status: []int{200}, closed: true,
			check: func(t *testing.T, r []*http.Response, b []string) {
				if got := r[0].Header.Get("X-Body-Error"); got != errChunk.Error() {
					t.Errorf("body error %q, want %q", got, errChunk)
				}
			}},
		{name: "unread small body is drained", reqs: []string{"POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 3\r\n\r\nabc" + get},
			handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(r.URL.Path)) },
			status:  []int{200, 200},
			check: func(t *testing.T, r []*http.Response, b []string) {
				if b[0] != "/" || b[1] != "/a" {
					t.Errorf("bodies %q", b)
				}
			}},
		{name: "chunked response with trailers", reqs: []string{get},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte("part1"))
				w.(http.Flusher).Flush()
				w.Write([]byte(big))
				w.Header().Set(http.TrailerPrefix+"X-Done", "yes")
			},
			status: []int{200},
			check: func(t *testing.T, r []*http.Response, b []string) {
				if b[0] != "part1"+big || r[0].TransferEncoding[0] != "chunked" || r[0].Trailer.Get("X-Done") != "yes" {
					t.Errorf("body %d bytes, TE %v, trailer %v", len(b[0]), r[0].TransferEncoding, r[0].Trailer)
				}
			}},
		{name: "declared Content-Length kept", reqs: []string{get},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "5000")
				w.Write([]byte(big))
			},
			status: []int{200},
			check: func(t *testing.T, r []*http.Response, b []string) {
				if r[0].ContentLength != 5000 || len(r[0].TransferEncoding) != 0 || b[0] != big {
					t.Errorf("length %d, TE %v", r[0].ContentLength, r[0].TransferEncoding)
				}
			}},
		{name: "short body closes", reqs: []string{get},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "10")
				w.Write([]byte("abc"))
			},
			closed: true},
		{name: "204 and 304 have no body", reqs: []string{get, get},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNoContent)
				w.Write([]byte("ignored"))
			},
			status: []int{204, 204}},
		{name: "1xx before the answer", reqs: []string{get},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", "</a.css>; rel=preload")
				w.WriteHeader(http.StatusEarlyHints)
				w.WriteHeader(http.StatusOK)
			},
			status: []int{103, 200}},
		{name: "absolute form sets the host", reqs: []string{"GET http://abs.example:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n"},
			status: []int{200},
			check: func(t *testing.T, r []*http.Response, b []string) {
				if r[0].Header.Get("X-Host") != "abs.example:8080" || r[0].Header.Get("X-Path") != "/p" {
					t.Errorf("headers %v", r[0].Header)
				}
			}},
		{name: "escaped path", reqs: []string{"GET /a%2Fb/%7Ec HTTP/1.1\r\nHost: svc\r\n\r\n"}, status: []int{200},
			check: func(t *testing.T, r []*http.Response, b []string) {
				if r[0].Header.Get("X-Path") != "/a/b/~c" {
					t.Errorf("path %q", r[0].Header.Get("X-Path"))
				}
			}},
		{name: "leading empty line ignored", reqs: []string{"\r\n" + get}, status: []int{200}},
		{name: "bare LF line endings", reqs: []string{"GET / HTTP/1.1\nHost: svc\n\n"}, status: []int{200}},

		{name: "header too large", reqs: []string{"GET / HTTP/1.1\r\nHost: svc\r\nX-Big: " + strings.Repeat("x", 9000) + "\r\n\r\n"},
			limits: Limits{MaxHeaderBytes: 8192}, status: []int{431}, closed: true},
		{name: "line longer than the buffer within the limit", reqs: []string{"GET / HTTP/1.1\r\nHost: svc\r\nUser-Agent: " + strings.Repeat("x", 6000) + "\r\n\r\n"},
			status: []int{200},
			check: func(t *testing.T, r []*http.Response, b []string) {
				if len(r[0].Header.Get("X-Agent")) != 6000 {
					t.Errorf("agent %d bytes", len(r[0].Header.Get("X-Agent")))
				}
			}},
		{name: "too many headers", reqs: []string{"GET / HTTP/1.1\r\nHost: svc\r\n" + strings.Repeat("X-A: 1\r\n", 11) + "\r\n"},
			limits: Limits{MaxHeaders: 10}, status: []int{431}, closed: true},
		{name: "request line too long", reqs: []string{"GET /" + strings.Repeat("p", 9000) + " HTTP/1.1\r\nHost: svc\r\n\r\n"},
			limits: Limits{MaxHeaderBytes: 8192}, status: []int{414}, closed: true},
		{name: "missing host", reqs: []string{"GET / HTTP/1.1\r\n\r\n"}, status: []int{400}, closed: true},
		{name: "two hosts", reqs: []string{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"}, status: []int{400}, closed: true},
		{name: "bad host", reqs: []string{"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"}, status: []int{400}, closed: true},
		{name: "malformed request line", reqs: []string{"GET /\r\n\r\n"}, status: []int{400}, closed: true},
		{name: "control character in target", reqs: []string{"GET /a\x01b HTTP/1.1\r\nHost: svc\r\n\r\n"}, status: []int{400}, closed: true},
		{name: "unsupported version", reqs: []string{"GET / HTTP/2.0\r\nHost: svc\r\n\r\n"}, status: []int{505}, closed: true},
		{name: "space before colon", reqs: []string{"GET / HTTP/1.1\r\nHost : svc\r\n\r\n"}, status: []int{400}, closed: true},
		{name: "obsolete line folding", reqs: []string{"GET / HTTP/1.1\r\nHost: svc\r\nX-A: 1\r\n 2\r\n\r\n"}, status: []int{400}, closed: true},
		{name: "control character in value", reqs: []string{"GET / HTTP/1.1\r\nHost: svc\r\nX-A: 1\x002\r\n\r\n"}, status: []int{400}, closed: true},
		{name: "Content-Length with Transfer-Encoding", reqs: []string{"POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
			status: []int{400}, closed: true},
		{name: "two different lengths", reqs: []string{"POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
			status: []int{400}, closed: true},
		{name: "bad length", reqs: []string{"POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: -3\r\n\r\n"}, status: []int{400}, closed: true},
		{name: "unknown transfer coding", reqs: []string{"POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"},
			status: []int{501}, closed: true},
		{name: "unknown expectation", reqs: []string{"POST / HTTP/1.1\r\nHost: svc\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx"},
			status: []int{417}, closed: true},
		{name: "handler abort breaks the stream", reqs: []string{get},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "100")
				w.Write([]byte("partial"))
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			},
			closed: true,
			check: func(t *testing.T, r []*http.Response, b []string) {
				if len(r) != 0 {
					t.Errorf("a complete response after an abort: %q", b)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.handler
			if h == nil {
				h = echo
			}
			addr := start(t, &Server{Handler: h, Limits: tt.limits})
			resps, bodies, closed := exchange(t, addr, tt.reqs...)
			if tt.status != nil {
				var got []int
				for _, r := range resps {
					got = append(got, r.StatusCode)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.status) {
					t.Fatalf("statuses %v, want %v (bodies %q)", got, tt.status, bodies)
				}
			}
			if closed != tt.closed {
				t.Errorf("connection closed: %v, want %v", closed, tt.closed)
			}
			if tt.check != nil {
				tt.check(t, resps, bodies)
			}
		})
	}
}

// TestHead: a HEAD answer has its Content-Length and no body; the next response follows at once.
func TestHead(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		w.Write([]byte("hello"))
	})})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "HEAD / HTTP/1.1\r\nHost: svc\r\n\r\n"+get)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != 5 {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "hello" {
		t.Fatalf("GET after HEAD: %q", b)
	}
}

// TestExpectContinue: the client's body comes only after "100 Continue", which the first body read sends; a
// handler that answers without reading gets no 100 and the connection closes after its answer.
func TestExpectContinue(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refuse" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		echo(w, r)
	})})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "POST /up HTTP/1.1\r\nHost: svc\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q, %v", line, err)
	}
	br.ReadString('\n')
	io.WriteString(c, "hello")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "hello" || resp.Close {
		t.Fatalf("status %d body %q close %v", resp.StatusCode, b, resp.Close)
	}

	io.WriteString(c, "POST /refuse HTTP/1.1\r\nHost: svc\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 403 || !resp.Close {
		t.Fatalf("status %d close %v", resp.StatusCode, resp.Close)
	}
}

// TestStreamedBody: the handler gets the first chunk before the client sent the second.
func TestStreamedBody(t *testing.T) {
	got := make(chan string, 2)
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				got <- string(buf[:n])
			}
			if err != nil {
				return
			}
		}
	})})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
	select {
	case s := <-got:
		if s != "first" {
			t.Fatalf("got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first chunk did not reach the handler before the rest of the body")
	}
	io.WriteString(c, "6\r\nsecond\r\n0\r\n\r\n")
	if s := <-got; s != "second" {
		t.Fatalf("got %q", s)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
}

func TestTimeouts(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(echo), ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	for _, tt := range []struct {
		name, send string
		responses  int
	}{
		{"idle connection closed", get, 1},
		{"slow head closed", "GET / HTTP/1.1\r\nHost:", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, tt.send)
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			br := bufio.NewReader(c)
			for range tt.responses {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
			}
			t0 := time.Now()
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("read %v, want EOF (server closes)", err)
			}
			if d := time.Since(t0); d > 2*time.Second {
				t.Fatalf("closed after %v", d)
			}
		})
	}
}

// TestHijack: an upgrade handler takes the connection with the bytes the client sent after the head.
func TestHijack(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw) // echo what comes, the early bytes first
	})})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: svc\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("%v %v", resp, err)
	}
	io.WriteString(c, "+late")
	buf := make([]byte, 10)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "early+late" {
		t.Fatalf("echo %q %v", buf, err)
	}
}

// TestH2CPriorKnowledge: a connection opening with the HTTP/2 preface is served by the H2C server; HTTP/1.1
// on the same listener still works.
func TestH2CPriorKnowledge(t *testing.T) {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	h2 := &http.Server{Handler: http.HandlerFunc(echo), Protocols: &p}
	addr := start(t, &Server{Handler: http.HandlerFunc(echo), H2C: h2})
	var cp http.Protocols
	cp.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &cp}, Timeout: 5 * time.Second}
	for range 2 {
		resp, err := client.Post("http://"+addr+"/h2", "text/plain", strings.NewReader("over h2"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || string(b) != "over h2" || resp.Header.Get("X-Path") != "/h2" {
			t.Fatalf("%s %q %v", resp.Proto, b, resp.Header)
		}
	}
	resps, _, _ := exchange(t, addr, get)
	if len(resps) != 1 || resps[0].StatusCode != 200 {
		t.Fatalf("HTTP/1.1 next to h2c: %v", resps)
	}
}

// TestShutdown: idle connections close at once, an active request finishes (told Connection: close), and
// Shutdown returns when it is done.
func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		w.Write([]byte("done"))
	})}
	addr := start(t, srv)
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, get)
	ibr := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(ibr, nil); err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	ibr.Discard(4)

	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: svc\r\n\r\n")
	<-entered

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	idle.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := ibr.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	busy.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil || resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("in-flight request: %v %v", resp, err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}

// TestConcurrentClients: many connections with keep-alive through net/http's client, bodies both ways.
func TestConcurrentClients(t *testing.T) {
	addr := start(t, &Server{Handler: http.HandlerFunc(echo)})
	tr := &http.Transport{MaxIdleConnsPerHost: 8, TLSClientConfig: &tls.Config{}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				body := strings.Repeat(fmt.Sprint(i), j*100)
				resp, err := client.Post(fmt.Sprintf("http://%s/c/%d/%d", addr, i, j), "text/plain", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != body || resp.Header.Get("X-Path") != fmt.Sprintf("/c/%d/%d", i, j) {
					t.Errorf("client %d request %d: %d bytes, path %s", i, j, len(b), resp.Header.Get("X-Path"))
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestClientGone: a client that closes its connection while a bodyless request runs cancels the request's
// context (within the watch's second or two); one that stays, even sending its next request early, does not.
func TestClientGone(t *testing.T) {
	canceled := make(chan string, 4)
	addr := start(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			canceled <- r.URL.Path
			return
		case <-time.After(2500 * time.Millisecond):
		}
		w.Write([]byte(r.URL.Path))
	})})

	gone, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(gone, "GET /gone HTTP/1.1\r\nHost: svc\r\n\r\n")
	time.Sleep(100 * time.Millisecond)
	gone.Close()
	select {
	case p := <-canceled:
		if p != "/gone" {
			t.Fatalf("canceled %s", p)
		}
	case <-time.After(2400 * time.Millisecond):
		t.Fatal("the request of a closed connection was not canceled")
	}

	// Staying: the second request arrives while the first runs (pipelined); both are answered in order.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /one HTTP/1.1\r\nHost: svc\r\n\r\n")
	time.Sleep(1500 * time.Millisecond)
	io.WriteString(c, "GET /two HTTP/1.1\r\nHost: svc\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for _, want := range []string{"/one", "/two"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != want {
			t.Fatalf("got %q, want %q", b, want)
		}
	}
	select {
	case p := <-canceled:
		t.Fatalf("%s canceled while its client stayed", p)
	default:
	}
}

// TestSetLimits checks that limits replaced while serving hold from the next request on, on a keep-alive
// connection opened before the change too.
func TestSetLimits(t *testing.T) {
	srv := &Server{Handler: http.HandlerFunc(echo), Limits: Limits{MaxHeaders: 10}}
	addr := start(t, srv)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	send := func(fields int) int {
		t.Helper()
		req := "GET / HTTP/1.1\r\nHost: svc\r\n" + strings.Repeat("X-A: 1\r\n", fields-1) + "\r\n"
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, step := range []struct {
		name   string
		limits *Limits // applied before the request, on the same connection
		fields int
		want   int
	}{
		{"under the initial limit", nil, 10, 200},
		{"raised", &Limits{MaxHeaders: 20}, 15, 200},
		{"lowered: refused", &Limits{MaxHeaders: 5}, 6, 431},
	} {
		if step.limits != nil {
			srv.SetLimits(*step.limits)
		}
		if got := send(step.fields); got != step.want {
			t.Fatalf("%s: %d header fields got %d, want %d", step.name, step.fields, got, step.want)
		}
	}
}
