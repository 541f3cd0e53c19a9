package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/config"
)

func h1Cluster(t *testing.T, addr string) *Cluster {
	t.Helper()
	c, err := New(config.Cluster{Name: "c", Protocol: "http1", Endpoints: endpoints(addr)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.h1 == nil {
		t.Fatal("http1 cluster without the direct transport")
	}
	t.Cleanup(c.Close)
	return c
}

func do(t *testing.T, c *Cluster, method, url string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if hdr != nil {
		req.Header = hdr
	}
	resp, err := c.Transport().RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestH1Transport(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("a"))
			w.(http.Flusher).Flush()
			w.Write([]byte("b"))
		case "/empty":
			w.WriteHeader(204)
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		default:
			fmt.Fprintf(w, "%s %s ua=%q inj=%q", r.Method, r.URL.RequestURI(), r.Header.Values("User-Agent"), r.Header.Get("X-Inj"))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	c := h1Cluster(t, addr)
	base := "http://" + addr

	_, body := do(t, c, "GET", base+"/x?y=1", http.Header{"User-Agent": {""}, "X-Inj": {"a\r\nX-Evil: 1"}})
	if body != `GET /x?y=1 ua=[] inj=""` {
		t.Fatalf("body %q", body)
	}
	if _, body = do(t, c, "GET", base+"/chunked", nil); body != "ab" {
		t.Fatalf("chunked %q", body)
	}
	if resp, _ := do(t, c, "GET", base+"/empty", nil); resp.StatusCode != 204 {
		t.Fatalf("204: %d", resp.StatusCode)
	}
	if resp, body := do(t, c, "HEAD", base+"/x", nil); resp.StatusCode != 200 || body != "" {
		t.Fatalf("HEAD: %d %q", resp.StatusCode, body)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 4 sequential requests, want 1 (reuse)", n)
	}
	if _, body = do(t, c, "GET", base+"/close", nil); body != "bye" {
		t.Fatalf("close: %q", body)
	}
	do(t, c, "GET", base+"/after-close", nil)
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections after a Connection: close response, want 2", n)
	}
}

// A server that closes idle connections: the pooled connection fails on first use and the request is retried on
// a fresh one.
func TestH1StaleConnectionRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				br := bufio.NewReader(conn)
				req, err := http.ReadRequest(br)
				if err == nil {
					io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					_ = req
				}
				conn.Close() // without saying Connection: close, like an idle timeout
			}()
		}
	}()
	c := h1Cluster(t, ln.Addr().String())
	for i := range 3 {
		if resp, body := do(t, c, "GET", "http://"+ln.Addr().String()+"/", nil); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestH1ContextCancelAborts(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	c := h1Cluster(t, srv.Listener.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/", nil)
	start := time.Now()
	_, err := c.Transport().RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

func TestH1BodiesUseFallback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) }))
	defer srv.Close()
	c := h1Cluster(t, srv.Listener.Addr().String())
	req, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader("payload"))
	resp, err := c.Transport().RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "payload" {
		t.Fatalf("echo %q", b)
	}
}

// Without a deadline, a cancelled request (the client went away) still aborts a slow upstream exchange.
func TestH1CancelWithoutDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	c := h1Cluster(t, srv.Listener.Addr().String())
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(60*time.Millisecond, cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/", nil)
	start := time.Now()
	_, err := c.Transport().RoundTrip(req)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
}

// A request that times out on a reused connection reports the deadline; it is not retried on a new connection
// (which, dialed with the expired deadline, turned the error into "dial tcp: i/o timeout"). The connection's
// deadline fires a moment before the context's timer; lateTimer makes that moment last.
func TestH1TimeoutOnReusedConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	c := h1Cluster(t, srv.Listener.Addr().String())
	do(t, c, "GET", srv.URL+"/", nil) // leaves an idle connection
	ctx := lateTimer{context.Background(), time.Now().Add(50 * time.Millisecond)}
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/slow", nil)
	_, err := c.Transport().RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "dial") {
		t.Fatalf("timed-out request: %v, want %v without a new dial", err, context.DeadlineExceeded)
	}
}

// lateTimer has a deadline but is never done: its timer has not fired yet.
type lateTimer struct {
	context.Context
	dl time.Time
}

func (c lateTimer) Deadline() (time.Time, bool) { return c.dl, true }
