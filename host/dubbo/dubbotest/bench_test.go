package dubbotest

import (
	"context"
	"net"
	"testing"

	"github.com/wasmesh/wasmesh/host/dubbo/downstream"
	"github.com/wasmesh/wasmesh/host/dubbo/internal/cputime"
)

// BenchmarkRoundTripThroughMiniProxy is the direct client calling through one proxy hop built from this module
// (downstream server, decode, headers, one added attachment, re-encode, multiplexing upstream client) to the test
// provider: compare with upstream's BenchmarkRoundTripDirect for the cost of the hop.
func BenchmarkRoundTripThroughMiniProxy(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &miniProxy{v1: startUpstream(b, ctx, "v1")}
	p.v2 = p.v1
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv, err := downstream.New(downstream.Config{}, downstream.HandlerFunc(p.handle))
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln) }()
	c, err := Dial(ctx, ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	defer cputime.Report(b, cputime.Process())
	for b.Loop() {
		if _, err := c.Call(ctx, Greet("Alice")); err != nil {
			b.Fatal(err)
		}
	}
}
