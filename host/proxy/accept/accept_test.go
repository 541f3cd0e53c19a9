package accept

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// Connections are served concurrently; after shutdown, drain decides how long they live, then their context ends.
func TestServeDrainsThenCancels(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var served, cancelled atomic.Int32
	started := make(chan struct{}, 2)
	drainSawOpen := make(chan bool, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		Serve(ctx, ln, func(ctx context.Context, c net.Conn) {
			defer c.Close()
			served.Add(1)
			started <- struct{}{}
			<-ctx.Done() // a long-lived connection: only the end of the drain stops it
			cancelled.Add(1)
		}, func(done <-chan struct{}) {
			select {
			case <-done:
				drainSawOpen <- false
			case <-time.After(50 * time.Millisecond):
				drainSawOpen <- true
			}
		})
	}()
	for range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	<-started
	<-started
	cancel()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the drain")
	}
	if !<-drainSawOpen {
		t.Fatal("drain saw the connections done although they wait for their context")
	}
	if served.Load() != 2 || cancelled.Load() != 2 {
		t.Fatalf("served %d, cancelled %d; want 2 and 2", served.Load(), cancelled.Load())
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("listener still open after Serve returned")
	}
}

// flaky fails Accept a few times with a non-closed error (EMFILE-like) before it is closed.
type flaky struct {
	net.Listener
	fails atomic.Int32
}

func (f *flaky) Accept() (net.Conn, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, errors.New("accept: too many open files")
	}
	return f.Listener.Accept()
}

// A transient Accept error is retried after a pause instead of ending the listener.
func TestServeRetriesTransientErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &flaky{Listener: ln}
	f.fails.Store(3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan struct{}, 1)
	go Serve(ctx, f, func(_ context.Context, c net.Conn) { c.Close(); got <- struct{}{} }, func(<-chan struct{}) {})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("connection not served after transient accept errors")
	}
}
