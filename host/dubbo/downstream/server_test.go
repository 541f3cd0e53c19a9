package downstream

import (
	"bufio"
	"context"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/dubbo"
	"github.com/wasmesh/wasmesh/host/dubbo/hessian"
)

// serve runs a server on loopback until the test ends and returns its address.
func serve(t *testing.T, cfg Config, h Handler) (*Server, string) {
	t.Helper()
	srv, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, ln.Addr().String()
}

// echoName answers a request with its method name as the value, after the delay the request's version asks for.
func echoName(_ context.Context, h dubbo.Header, frame []byte) []byte {
	var req dubbo.Request
	if err := dubbo.DecodeRequest(frame[dubbo.HeaderLen:], &req); err != nil {
		return dubbo.AppendErrorResponse(nil, h.ID, dubbo.StatusBadRequest, err.Error())
	}
	if d, err := time.ParseDuration(req.Version); err == nil {
		time.Sleep(d)
	}
	return dubbo.AppendResponse(nil, h.ID, req.DubboVersion, dubbo.ResultValue, hessian.AppendString(nil, req.Method), nil)
}

func request(id int64, method, delay string, flags byte) []byte {
	r := dubbo.Request{DubboVersion: "2.0.2", Service: "svc", Version: delay, Method: method}
	return r.AppendFrame(nil, id, flags)
}

type client struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *client) send(b []byte) {
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read() (dubbo.Header, dubbo.Response) {
	h, frame, err := dubbo.ReadFrame(c.br, nil, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	var r dubbo.Response
	if err := dubbo.DecodeResponse(h, frame[dubbo.HeaderLen:], &r); err != nil {
		c.t.Fatal(err)
	}
	return h, r
}

func TestAnswersComeBackByID(t *testing.T) {
	srv, addr := serve(t, Config{}, HandlerFunc(echoName))
	c := dial(t, addr)
	c.send(request(1, "slow", "150ms", dubbo.FlagRequest|dubbo.FlagTwoWay))
	c.send(request(2, "fast", "", dubbo.FlagRequest|dubbo.FlagTwoWay))
	c.send(dubbo.AppendHeartbeat(nil, 3, true))
	got := map[int64]string{}
	for range 3 {
		h, r := c.read()
		if h.IsEvent() {
			got[h.ID] = "heartbeat"
			continue
		}
		s, _, _ := hessian.String(r.Value, 0)
		got[h.ID] = string(s)
	}
	if got[1] != "slow" || got[2] != "fast" || got[3] != "heartbeat" {
		t.Fatalf("answers %v", got)
	}
	if s := srv.Stats(); s.Requests != 2 || s.Heartbeats != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestOneWayIsNotAnswered(t *testing.T) {
	var called atomic.Int64
	_, addr := serve(t, Config{}, HandlerFunc(func(ctx context.Context, h dubbo.Header, f []byte) []byte {
		called.Add(1)
		return echoName(ctx, h, f)
	}))
	c := dial(t, addr)
	c.send(request(1, "oneway", "", dubbo.FlagRequest))
	c.send(request(2, "twoway", "", dubbo.FlagRequest|dubbo.FlagTwoWay))
	h, _ := c.read()
	if h.ID != 2 || called.Load() != 2 {
		t.Fatalf("first answer id %d after %d calls: the one-way request was answered", h.ID, called.Load())
	}
}

func TestBadFramesCloseAndCount(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		want  dubbo.Kind
	}{
		{"bad magic", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), dubbo.KindBadMagic},
		{"too large", request(1, "m", "", dubbo.FlagRequest|dubbo.FlagTwoWay), dubbo.KindTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kinds := make(chan dubbo.Kind, 1)
			srv, addr := serve(t, Config{MaxBody: 8, OnProtocolError: func(k dubbo.Kind) { kinds <- k }}, HandlerFunc(echoName))
			c := dial(t, addr)
			c.send(tt.frame)
			if _, err := c.br.ReadByte(); err == nil {
				t.Fatal("the server answered a bad frame instead of closing")
			}
			if k := <-kinds; k != tt.want {
				t.Fatalf("kind %s, want %s", k, tt.want)
			}
			if srv.Stats().ProtocolErrors != 1 {
				t.Fatalf("stats %+v", srv.Stats())
			}
		})
	}
}

func TestInFlightBound(t *testing.T) {
	var mu sync.Mutex
	running, peak := 0, 0
	_, addr := serve(t, Config{MaxInFlightPerConn: 2}, HandlerFunc(func(ctx context.Context, h dubbo.Header, f []byte) []byte {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return echoName(ctx, h, f)
	}))
	c := dial(t, addr)
	for i := range 6 {
		c.send(request(int64(i), "m", "", dubbo.FlagRequest|dubbo.FlagTwoWay))
	}
	for range 6 {
		c.read()
	}
	mu.Lock()
	defer mu.Unlock()
	if peak != 2 {
		t.Fatalf("peak concurrency %d, want the bound 2", peak)
	}
}

// Requests run on the connection's workers: a burst of requests is answered in full by no more goroutines than
// MaxInFlightPerConn, each reused (a goroutine per request grew a fresh stack for each).
func TestWorkersAreReused(t *testing.T) {
	var mu sync.Mutex
	ran := map[string]int{} // goroutine id -> requests handled
	_, addr := serve(t, Config{MaxInFlightPerConn: 4}, HandlerFunc(func(ctx context.Context, h dubbo.Header, f []byte) []byte {
		var buf [64]byte
		id := strings.Fields(string(buf[:runtime.Stack(buf[:], false)]))[1] // "goroutine <id> [running]:"
		mu.Lock()
		ran[id]++
		mu.Unlock()
		return echoName(ctx, h, f)
	}))
	c := dial(t, addr)
	const n = 40
	for i := range n {
		c.send(request(int64(i), "m", "2ms", dubbo.FlagRequest|dubbo.FlagTwoWay))
	}
	seen := map[int64]bool{}
	for range n {
		h, _ := c.read()
		seen[h.ID] = true
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Fatalf("%d distinct answers, want %d", len(seen), n)
	}
	if len(ran) > 4 {
		t.Fatalf("%d goroutines ran the %d requests, want at most MaxInFlightPerConn (4): %v", len(ran), n, ran)
	}
}

func TestNewNeedsAHandler(t *testing.T) {
	if _, err := New(Config{}, nil); err == nil {
		t.Fatal("New accepted a nil handler")
	}
}

func TestHandlerPanicIsAnsweredNotFatal(t *testing.T) {
	srv, addr := serve(t, Config{}, HandlerFunc(func(ctx context.Context, h dubbo.Header, f []byte) []byte {
		if h.ID == 1 {
			panic("filter bug")
		}
		return echoName(ctx, h, f)
	}))
	c := dial(t, addr)
	c.send(request(1, "boom", "", dubbo.FlagRequest|dubbo.FlagTwoWay))
	h, r := c.read()
	if h.ID != 1 || r.Status != dubbo.StatusServerError {
		t.Fatalf("answer to the panicking request: %+v %+v", h, r)
	}
	c.send(request(2, "ok", "", dubbo.FlagRequest|dubbo.FlagTwoWay))
	if h, _ := c.read(); h.ID != 2 {
		t.Fatalf("the connection did not survive: %+v", h)
	}
	if srv.Stats().Panics != 1 {
		t.Fatalf("stats %+v", srv.Stats())
	}
}

func TestIdleConnectionsAreClosed(t *testing.T) {
	srv, addr := serve(t, Config{IdleTimeout: 400 * time.Millisecond}, HandlerFunc(echoName))
	idle := dial(t, addr)
	alive := dial(t, addr)
	for i := range 10 { // heartbeats every 60 ms keep this one open past the timeout
		alive.send(dubbo.AppendHeartbeat(nil, int64(i), true))
		alive.read()
		time.Sleep(60 * time.Millisecond)
	}
	alive.send(request(99, "still", "", dubbo.FlagRequest|dubbo.FlagTwoWay))
	if h, _ := alive.read(); h.ID != 99 {
		t.Fatalf("answer %+v", h)
	}
	if _, err := idle.br.ReadByte(); err == nil {
		t.Fatal("the idle connection got data instead of being closed")
	}
	if s := srv.Stats(); s.IdleClosed != 1 || s.ProtocolErrors != 0 {
		t.Fatalf("stats %+v", s)
	}
}
