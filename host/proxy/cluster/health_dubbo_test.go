package cluster

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/dubbo"
	"github.com/wasmesh/wasmesh/host/dubbo/dubbotest"
	"github.com/wasmesh/wasmesh/host/proxy/config"
)

func dubboCheck(addr string) config.Cluster {
	return config.Cluster{Name: "d", Protocol: "dubbo", Endpoints: endpoints(addr), HealthCheck: &config.HealthCheck{
		Type: "dubbo", Interval: config.Duration(10 * time.Millisecond), Timeout: config.Duration(200 * time.Millisecond),
		HealthyThreshold: 2, UnhealthyThreshold: 2}}
}

// fakeProvider answers each frame it reads with what answer returns (nothing when nil).
func fakeProvider(t *testing.T, answer func(h dubbo.Header) []byte) string {
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
				var buf []byte
				for {
					h, frame, err := dubbo.ReadFrame(c, buf, 0)
					if err != nil {
						return
					}
					buf = frame
					if b := answer(h); b != nil {
						c.Write(b)
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// The heartbeat check marks a real Dubbo provider healthy, and everything that is not its heartbeat answer down.
func TestDubboHeartbeatCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pctx, stopProvider := context.WithCancel(context.Background())
	defer stopProvider()
	go dubbotest.NewProvider(dubbotest.ProviderConfig{}).Serve(pctx, ln)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()

	tests := []struct {
		name    string
		addr    string
		healthy bool
	}{
		{"dubbotest provider", ln.Addr().String(), true},
		{"provider sending its own heartbeat first", fakeProvider(t, func(h dubbo.Header) []byte {
			if !h.IsEvent() || !h.IsRequest() {
				return nil
			}
			own := dubbo.AppendHeartbeat(nil, 1<<40, true) // answered by the checker, then ours comes
			return dubbo.AppendHeartbeat(own, h.ID, false)
		}), true},
		{"dead port", deadAddr, false},
		{"silent server", fakeProvider(t, func(dubbo.Header) []byte { return nil }), false},
		{"wrong id", fakeProvider(t, func(h dubbo.Header) []byte { return dubbo.AppendHeartbeat(nil, h.ID+1, false) }), false},
		{"not an event", fakeProvider(t, func(h dubbo.Header) []byte {
			return dubbo.AppendErrorResponse(nil, h.ID, dubbo.StatusBadRequest, "no")
		}), false},
		{"not dubbo", fakeProvider(t, func(dubbo.Header) []byte { return []byte("HTTP/1.1 400 Bad Request\r\n\r\n") }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(dubboCheck(tt.addr), nil)
			if err != nil {
				t.Fatal(err)
			}
			e := c.endpoints[0]
			e.healthy.Store(!tt.healthy) // start on the other verdict, so the check must change it
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { c.Start(ctx); close(done) }()
			waitFor(t, func() bool { return e.Healthy() == tt.healthy })
			cancel()
			<-done
		})
	}

	// A provider that goes away is marked down, and up again when it is back on the same address.
	t.Run("provider restarts", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		pctx, stop := context.WithCancel(context.Background())
		go dubbotest.NewProvider(dubbotest.ProviderConfig{}).Serve(pctx, ln)
		c, _ := New(dubboCheck(addr), nil)
		e := c.endpoints[0]
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go c.Start(ctx)
		time.Sleep(50 * time.Millisecond)
		if !e.Healthy() {
			t.Fatal("live provider marked down")
		}
		stop()
		waitFor(t, func() bool { return !e.Healthy() })
		ln2, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("port %s taken meanwhile: %v", addr, err)
		}
		pctx2, stop2 := context.WithCancel(context.Background())
		defer stop2()
		go dubbotest.NewProvider(dubbotest.ProviderConfig{}).Serve(pctx2, ln2)
		waitFor(t, func() bool { return e.Healthy() })
	})
}

// The heartbeat request on the wire: event, two-way request, hessian2, a null body.
func TestDubboHeartbeatFrame(t *testing.T) {
	got := make(chan []byte, 1)
	addr := fakeProvider(t, func(h dubbo.Header) []byte {
		got <- dubbo.AppendHeader(nil, h)
		return dubbo.AppendHeartbeat(nil, h.ID, false)
	})
	ck := &dubboChecker{conns: make([]*heartbeatConn, 1)}
	defer ck.close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if !ck.probe(ctx, 0, addr) {
		t.Fatal("probe failed")
	}
	h, _ := dubbo.ParseHeader(<-got, 0)
	if !h.IsRequest() || !h.IsTwoWay() || !h.IsEvent() || h.Serialization() != dubbo.SerializationHessian2 || h.BodyLen != 1 {
		t.Fatalf("heartbeat header %+v", h)
	}
	// The connection is kept for the next probe.
	first := ck.conns[0].nc
	if !ck.probe(ctx, 0, addr) || ck.conns[0].nc != first {
		t.Fatal("second probe did not reuse the connection")
	}
}
