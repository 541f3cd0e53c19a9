package tcpproxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/cluster"
	"github.com/wasmesh/wasmesh/host/proxy/config"
	"github.com/wasmesh/wasmesh/host/proxy/drain"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/metrics"
)

// upstream is what a test upstream received.
type upstream struct {
	addr string
	mu   sync.Mutex
	got  bytes.Buffer
}

func (u *upstream) received() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.got.String()
}

// serveTCP accepts loopback connections until the test ends, each handled on its own goroutine and closed after.
func serveTCP(t *testing.T, handle func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// startUpstream records what it receives, and echoes it when echo is set.
func startUpstream(t *testing.T, echo bool) *upstream {
	u := &upstream{}
	u.addr = serveTCP(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			u.mu.Lock()
			u.got.Write(buf[:n])
			u.mu.Unlock()
			if echo && n > 0 {
				c.Write(buf[:n])
			}
			if err != nil {
				return
			}
		}
	})
	return u
}

// startProxy serves a tcp listener to addr through filters.
func startProxy(t *testing.T, addr string, maxBuffer int, filters ...filter.NetworkFilter) string {
	cl, err := cluster.New(config.Cluster{Name: "up", Protocol: "tcp", Endpoints: []config.Endpoint{{Address: addr}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Listener: "tcp", Cluster: cl, Metrics: metrics.New().Cluster("up"), ConnectTimeout: time.Second,
		MaxBuffer: maxBuffer, Filters: filters, Ref: drain.New()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := NewListener("tcp", ln.Addr().String(), NewHandler(cfg), nil)
	l.DrainTimeout.Set(time.Second)
	done := make(chan struct{})
	go func() { l.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// native is a NetworkFilter built from functions, for tests.
type native struct {
	down, up func(c *filter.Conn, data *[]byte, end bool) filter.Action
	newConn  func(c *filter.Conn) filter.Action
}

type nativeConn struct {
	n *native
	c *filter.Conn
}

func (n *native) NewConnection(c *filter.Conn) (filter.ConnFilter, filter.Action) {
	a := filter.Continue
	if n.newConn != nil {
		a = n.newConn(c)
	}
	return &nativeConn{n, c}, a
}

func (nc *nativeConn) OnDownstreamData(data *[]byte, end bool) filter.Action {
	if nc.n.down == nil {
		return filter.Continue
	}
	return nc.n.down(nc.c, data, end)
}

func (nc *nativeConn) OnUpstreamData(data *[]byte, end bool) filter.Action {
	if nc.n.up == nil {
		return filter.Continue
	}
	return nc.n.up(nc.c, data, end)
}

func (nc *nativeConn) OnClose() {}

// untilNewline holds downstream bytes until they contain a newline, counting the sizes it is shown.
func untilNewline(sizes *[]int, mu *sync.Mutex) *native {
	return &native{down: func(_ *filter.Conn, data *[]byte, end bool) filter.Action {
		mu.Lock()
		*sizes = append(*sizes, len(*data))
		mu.Unlock()
		if end || bytes.IndexByte(*data, '\n') >= 0 {
			return filter.Continue
		}
		return filter.Pause
	}}
}

func dial(t *testing.T, addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A paused direction holds its bytes; the filter sees everything held again with each new chunk, and when it
// continues the held bytes go on at once, in order, followed by later traffic.
func TestPauseUntilNextCallbackContinues(t *testing.T) {
	up := startUpstream(t, false)
	var sizes []int
	var mu sync.Mutex
	addr := startProxy(t, up.addr, 0, untilNewline(&sizes, &mu))
	c := dial(t, addr)
	io.WriteString(c, "hel")
	time.Sleep(50 * time.Millisecond)
	io.WriteString(c, "lo")
	time.Sleep(50 * time.Millisecond)
	if got := up.received(); got != "" {
		t.Fatalf("upstream got %q while the filter held the bytes", got)
	}
	io.WriteString(c, " world\nnext")
	eventually(t, func() bool { return up.received() == "hello world\n" || up.received() == "hello world\nnext" })
	mu.Lock()
	if len(sizes) < 3 || sizes[0] != 3 || sizes[1] != 5 {
		t.Errorf("data sizes shown to the filter %v, want 3, 5, 12... (held bytes grow)", sizes)
	}
	mu.Unlock()
	// After the flush the filter holds again until the next newline, then the end of the client flushes.
	c.(*net.TCPConn).CloseWrite()
	eventually(t, func() bool { return up.received() == "hello world\nnext" })
}

// Conn.Resume (proxy_continue_stream) releases what a filter held, going on with the filters after it.
func TestPauseUntilResume(t *testing.T) {
	// Hold client bytes until the server has spoken first (a greeting protocol: SMTP, MySQL).
	up := startUpstream(t, true)
	var greeted atomic.Bool
	var after atomic.Int32
	holder := &native{
		down: func(c *filter.Conn, data *[]byte, end bool) filter.Action {
			if greeted.Load() {
				return filter.Continue
			}
			go func() { // resumed from elsewhere, later: an HTTP call's answer, a timer
				time.Sleep(100 * time.Millisecond)
				greeted.Store(true)
				c.Resume(filter.Downstream)
			}()
			return filter.Pause
		},
	}
	counter := &native{down: func(_ *filter.Conn, data *[]byte, _ bool) filter.Action {
		after.Add(int32(len(*data)))
		return filter.Continue
	}}
	addr := startProxy(t, up.addr, 0, holder, counter)
	c := dial(t, addr)
	start := time.Now()
	io.WriteString(c, "ping\n")
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping\n" {
		t.Fatalf("echo %q, %v", buf, err)
	}
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Fatalf("bytes went on after %v, before the resume", d)
	}
	if after.Load() != 5 {
		t.Fatalf("the filter after the one that paused saw %d bytes, want 5", after.Load())
	}
}

// Held bytes are bounded: past max_buffer_bytes the proxy stops reading the client (TCP flow control), and
// nothing is lost when the filter lets go.
func TestPauseIsBounded(t *testing.T) {
	up := startUpstream(t, false)
	const limit = 64 << 10
	var largest atomic.Int64
	var release atomic.Bool
	var conn atomic.Pointer[filter.Conn]
	holder := &native{down: func(c *filter.Conn, data *[]byte, end bool) filter.Action {
		conn.Store(c)
		if n := int64(len(*data)); n > largest.Load() {
			largest.Store(n)
		}
		if release.Load() || end {
			return filter.Continue
		}
		return filter.Pause
	}}
	addr := startProxy(t, up.addr, limit, holder)
	c := dial(t, addr)
	payload := bytes.Repeat([]byte("0123456789abcdef"), (8<<20)/16) // 8 MiB, far beyond socket buffers
	wrote := make(chan error, 1)
	go func() { _, err := c.Write(payload); wrote <- err }()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-wrote:
		t.Fatalf("client wrote 8 MiB while the filter held at most %d bytes: %v", limit, err)
	default:
	}
	if l := largest.Load(); l > limit+bufSize {
		t.Fatalf("held %d bytes, bound is %d (+ one read)", l, limit)
	}
	// At the bound the filter is not called again (nothing more is read), so it lets go with a resume.
	release.Store(true)
	conn.Load().Resume(filter.Downstream)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	eventually(t, func() bool { return len(up.received()) == len(payload) })
	if !bytes.Equal([]byte(up.received()), payload) {
		t.Fatal("upstream got different bytes")
	}
}

// A filter that pauses and asks to close gets the connection closed, nothing forwarded.
func TestPauseThenClose(t *testing.T) {
	up := startUpstream(t, false)
	closer := &native{down: func(c *filter.Conn, data *[]byte, end bool) filter.Action {
		if bytes.Contains(*data, []byte("bad")) {
			c.RequestClose()
		}
		return filter.Pause
	}}
	addr := startProxy(t, up.addr, 0, closer)
	c := dial(t, addr)
	io.WriteString(c, "good ")
	time.Sleep(20 * time.Millisecond)
	io.WriteString(c, "bad\n")
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open")
	}
	if got := up.received(); got != "" {
		t.Fatalf("upstream got %q", got)
	}
}

// A pause in proxy_on_new_connection holds the connection before the upstream is dialed, until resumed.
func TestPauseNewConnection(t *testing.T) {
	up := startUpstream(t, true)
	var resumedAt atomic.Int64
	f := &native{newConn: func(c *filter.Conn) filter.Action {
		go func() {
			time.Sleep(50 * time.Millisecond)
			resumedAt.Store(time.Now().UnixNano())
			c.Resume(filter.Downstream)
		}()
		return filter.Pause
	}}
	addr := startProxy(t, up.addr, 0, f)
	c := dial(t, addr)
	io.WriteString(c, "x")
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if resumedAt.Load() == 0 {
		t.Fatal("bytes flowed before the resume")
	}
}
