package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/dubbo"
	"github.com/wasmesh/wasmesh/host/dubbo/dubbotest"
)

func startProvider(t testing.TB, label string) (string, context.CancelFunc) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = dubbotest.NewProvider(dubbotest.ProviderConfig{Label: label}).Serve(ctx, ln)
	}()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// startClient runs a client until the test ends.
func startClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

func frame(t testing.TB, id int64, inv dubbotest.Invocation) []byte {
	t.Helper()
	f, err := dubbotest.RequestFrame(id, inv)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func call(method string, args ...any) dubbotest.Invocation {
	return dubbotest.Invocation{Service: dubbotest.GreetingService, Method: method, Args: args}
}

func TestRoundTripKeepsTheCallersID(t *testing.T) {
	addr, _ := startProvider(t, "v2")
	c := startClient(t, Config{Addr: addr})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := frame(t, 123456789, dubbotest.Greet("Alice"))
	orig := append([]byte(nil), req...)
	resp, err := c.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := dubbo.ParseHeader(resp, 0)
	res, err := dubbotest.DecodeResult(resp)
	if err != nil || h.ID != 123456789 || res.Value != "hello Alice from v2" {
		t.Fatalf("id %d, result %+v, %v", h.ID, res, err)
	}
	if string(orig) != string(req) {
		t.Fatal("Do modified the caller's frame")
	}
}

func TestConcurrentCallsComeBackToTheirCallers(t *testing.T) {
	addr, _ := startProvider(t, "v1")
	c := startClient(t, Config{Addr: addr, MaxConns: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("caller-%d", i)
			inv := dubbotest.Greet(name)
			if i%3 == 0 { // slower calls answered later, so answers arrive out of order
				inv = call("sleep", int32(i%20))
			}
			resp, err := c.Do(ctx, frame(t, int64(i), inv)) // the same small ids a downstream would use
			if err != nil {
				errs <- err
				return
			}
			res, err := dubbotest.DecodeResult(resp)
			h, _ := dubbo.ParseHeader(resp, 0)
			want := any("hello " + name + " from v1")
			if i%3 == 0 {
				want = fmt.Sprintf("slept %dms", i%20)
			}
			if err != nil || res.Value != want || h.ID != int64(i) {
				errs <- fmt.Errorf("caller %d got id %d value %v (%v), want %v", i, h.ID, res.Value, err, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := c.Stats(); s.OpenConns < 1 || s.OpenConns > 2 || s.Requests != 200 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTimeoutKeepsTheConnection(t *testing.T) {
	addr, _ := startProvider(t, "v1")
	c := startClient(t, Config{Addr: addr, MaxConns: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Do(ctx, frame(t, 1, call("sleep", int32(300))))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	resp, err := c.Do(context.Background(), frame(t, 2, dubbotest.Greet("again")))
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := dubbotest.DecodeResult(resp); res.Value != "hello again from v1" {
		t.Fatalf("after a timeout: %+v", res)
	}
	if s := c.Stats(); s.Timeouts != 1 || s.ConnFailures != 0 || s.OpenConns != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConnectionFailures(t *testing.T) {
	t.Run("nothing listening", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c := startClient(t, Config{Addr: addr})
		_, err = c.Do(context.Background(), frame(t, 1, dubbotest.Greet("x")))
		var ce *ConnError
		if !errors.Is(err, ErrConnection) || !errors.As(err, &ce) || ce.Addr != addr {
			t.Fatalf("err = %v, want a ConnError for %s", err, addr)
		}
	})
	t.Run("provider stops with calls in flight", func(t *testing.T) {
		addr, stop := startProvider(t, "v1")
		c := startClient(t, Config{Addr: addr})
		errc := make(chan error, 1)
		go func() {
			_, err := c.Do(context.Background(), frame(t, 1, call("sleep", int32(2000))))
			errc <- err
		}()
		time.Sleep(100 * time.Millisecond)
		stop()
		select {
		case err := <-errc:
			if !errors.Is(err, ErrConnection) {
				t.Fatalf("err = %v, want ErrConnection", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the pending call was not failed when the connection closed")
		}
	})
	t.Run("provider sends garbage", func(t *testing.T) {
		addr := fakeProvider(t, func(nc net.Conn) {
			_, _, _ = dubbo.ReadFrame(nc, nil, 0)
			_, _ = nc.Write([]byte("this is not dubbo at all"))
		})
		c := startClient(t, Config{Addr: addr})
		_, err := c.Do(context.Background(), frame(t, 1, dubbotest.Greet("x")))
		if !errors.Is(err, ErrConnection) || dubbo.KindOf(err) != dubbo.KindBadMagic {
			t.Fatalf("err = %v, want a connection error caused by %s", err, dubbo.KindBadMagic)
		}
		if s := c.Stats(); s.ProtocolErrors != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// fakeProvider accepts connections and hands each to serve.
func fakeProvider(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer nc.Close(); serve(nc) }()
		}
	}()
	return ln.Addr().String()
}

func TestOverloaded(t *testing.T) {
	addr, _ := startProvider(t, "v1")
	c := startClient(t, Config{Addr: addr, MaxConns: 1, MaxPendingPerConn: 2})
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.Do(context.Background(), frame(t, int64(i), call("sleep", int32(1000))))
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	inflight := func() int64 {
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.conns) == 0 {
			return 0
		}
		return c.conns[0].inflight.Load()
	}
	for inflight() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the two slow calls never got in flight")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, err := c.Do(context.Background(), frame(t, 9, dubbotest.Greet("x")))
	if !errors.Is(err, ErrOverloaded) {
		t.Fatalf("err = %v, want ErrOverloaded", err)
	}
	wg.Wait()
	if _, err := c.Do(context.Background(), frame(t, 10, dubbotest.Greet("x"))); err != nil {
		t.Fatalf("after the slow calls: %v", err)
	}
}

func TestHeartbeats(t *testing.T) {
	t.Run("idle connection is kept alive", func(t *testing.T) {
		addr, _ := startProvider(t, "v1")
		c := startClient(t, Config{Addr: addr, HeartbeatInterval: 100 * time.Millisecond})
		if _, err := c.Do(context.Background(), frame(t, 1, dubbotest.Greet("x"))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond) // past the 300 ms a silent connection would get
		if s := c.Stats(); s.HeartbeatsSent == 0 || s.OpenConns != 1 {
			t.Fatalf("stats %+v: want heartbeats sent and the connection kept", s)
		}
	})
	t.Run("silent provider is dropped", func(t *testing.T) {
		addr := fakeProvider(t, func(nc net.Conn) {
			for { // reads everything, answers nothing
				if _, _, err := dubbo.ReadFrame(nc, nil, 0); err != nil {
					return
				}
			}
		})
		c := startClient(t, Config{Addr: addr, HeartbeatInterval: 30 * time.Millisecond})
		_, err := c.Do(context.Background(), frame(t, 1, dubbotest.Greet("x")))
		if !errors.Is(err, ErrConnection) {
			t.Fatalf("err = %v, want ErrConnection once heartbeats go unanswered", err)
		}
	})
	t.Run("provider heartbeat is answered", func(t *testing.T) {
		got := make(chan dubbo.Header, 1)
		addr := fakeProvider(t, func(nc net.Conn) {
			_, _ = nc.Write(dubbo.AppendHeartbeat(nil, 42, true))
			for { // the client's request and our heartbeat's answer come in either order
				h, _, err := dubbo.ReadFrame(nc, nil, 0)
				if err != nil {
					return
				}
				if h.IsEvent() {
					got <- h
				}
			}
		})
		c := startClient(t, Config{Addr: addr, RequestTimeout: 100 * time.Millisecond})
		_, _ = c.Do(context.Background(), frame(t, 1, dubbotest.Greet("x")))
		select {
		case h := <-got:
			if !h.IsEvent() || h.IsRequest() || h.ID != 42 {
				t.Fatalf("answer %+v", h)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no heartbeat answer")
		}
	})
}

func TestStoppedClient(t *testing.T) {
	c, err := New(Config{Addr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = c.Start(ctx)
	if _, err := c.Do(context.Background(), frame(t, 1, dubbotest.Greet("x"))); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("New accepted a config without an address")
	}
	if _, err := c.Do(context.Background(), []byte("short")); err == nil {
		t.Fatal("Do accepted a partial frame")
	}
}

func TestFailedExtraDialFallsBackToOpenConnection(t *testing.T) {
	addr, _ := startProvider(t, "v1")
	var mu sync.Mutex
	dials := 0
	dial := func(ctx context.Context, network, a string) (net.Conn, error) {
		mu.Lock()
		dials++
		n := dials
		mu.Unlock()
		if n > 1 {
			return nil, errors.New("refused by the test")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, a)
	}
	c := startClient(t, Config{Addr: addr, MaxConns: 4, Dial: dial})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Do(context.Background(), frame(t, int64(i), call("sleep", int32(20)))); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if s := c.Stats(); s.OpenConns != 1 || dials > 3 {
		t.Fatalf("stats %+v after %d dials: want one connection and few re-dials", s, dials)
	}
}

func TestReadonlyEventDrainsTheConnection(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	addr := fakeProvider(t, func(nc net.Conn) {
		mu.Lock()
		conns++
		first := conns == 1
		mu.Unlock()
		for {
			h, _, err := dubbo.ReadFrame(nc, nil, 0)
			if err != nil {
				return
			}
			if h.IsEvent() {
				continue
			}
			_, _ = nc.Write(dubbo.AppendResponse(nil, h.ID, "2.0.2", dubbo.ResultNull, nil, nil))
			if first { // announce shutdown after the first answer, as a provider stopping does
				ev := dubbo.AppendHeader(nil, dubbo.Header{Flags: dubbo.FlagRequest | dubbo.FlagEvent | dubbo.SerializationHessian2, ID: 99, BodyLen: 2})
				_, _ = nc.Write(append(ev, 0x01, 'R'))
			}
		}
	})
	c := startClient(t, Config{Addr: addr, MaxConns: 1})
	if _, err := c.Do(context.Background(), frame(t, 1, dubbotest.Greet("x"))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := c.Do(context.Background(), frame(t, 2, dubbotest.Greet("x"))); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		n := conns
		mu.Unlock()
		if n == 2 {
			return // a new connection took the traffic
		}
		if time.Now().After(deadline) {
			t.Fatal("the client kept sending on a connection whose provider announced its shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBlockedWriteHonoursTheTimeout(t *testing.T) {
	// A provider that never reads: the socket buffers fill and writes block.
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	addr := fakeProvider(t, func(nc net.Conn) { <-block })
	c := startClient(t, Config{Addr: addr, MaxConns: 1, RequestTimeout: 200 * time.Millisecond})
	big := frame(t, 1, call("greet", string(make([]byte, 4<<20)))) // 4 MiB: more than the socket buffers hold
	start := time.Now()
	_, err := c.Do(context.Background(), big)
	if err == nil {
		t.Fatal("a 4 MiB request to a provider that never reads succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Do returned after %v: the write ignored the request timeout", d)
	}
	if !errors.Is(err, ErrConnection) && !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
}

func TestOneWayRequest(t *testing.T) {
	addr, _ := startProvider(t, "v1")
	c := startClient(t, Config{Addr: addr, MaxConns: 1, MaxPendingPerConn: 1})
	oneWay := frame(t, 1, dubbotest.Greet("x"))
	oneWay[2] &^= dubbo.FlagTwoWay
	for i := 0; i < 3; i++ { // with one pending slot, a leaked slot would make the next call fail
		resp, err := c.Do(context.Background(), oneWay)
		if err != nil || resp != nil {
			t.Fatalf("one-way Do = %v, %v; want nil, nil", resp, err)
		}
	}
	if _, err := c.Do(context.Background(), frame(t, 2, dubbotest.Greet("y"))); err != nil {
		t.Fatalf("two-way after one-way: %v", err)
	}
}

func TestOneDialForManyWaiters(t *testing.T) {
	var dials atomic.Int64
	dial := func(ctx context.Context, network, a string) (net.Conn, error) {
		dials.Add(1)
		select { // a host that does not answer: the dial times out
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
		}
		return nil, errors.New("no route to the test host")
	}
	c := startClient(t, Config{Addr: "127.0.0.1:1", Dial: dial}) // Dial is replaced: nothing is really dialled
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := c.Do(ctx, frame(t, int64(i), dubbotest.Greet("x"))); !errors.Is(err, ErrConnection) {
				t.Errorf("err = %v, want ErrConnection", err)
			}
		}()
	}
	wg.Wait()
	if d := time.Since(start); d > 3*time.Second || dials.Load() > 3 {
		t.Fatalf("20 callers to a dead host took %v and %d dials: they should share one dial", d, dials.Load())
	}
}
