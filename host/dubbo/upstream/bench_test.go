package upstream

import (
	"context"
	"testing"

	"github.com/wasmesh/wasmesh/host/dubbo/dubbotest"
	"github.com/wasmesh/wasmesh/host/dubbo/internal/cputime"
)

// BenchmarkRoundTripUpstream is one greet call at a time through the multiplexing client to the test provider
// on loopback: the proxy's upstream leg.
func BenchmarkRoundTripUpstream(b *testing.B) {
	addr, _ := startProvider(b, "v1")
	c := startClient(b, Config{Addr: addr, MaxConns: 1})
	req := frame(b, 1, dubbotest.Greet("Alice"))
	ctx := context.Background()
	b.ReportAllocs()
	defer cputime.Report(b, cputime.Process())
	for b.Loop() {
		if _, err := c.Do(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoundTripUpstreamParallel is many callers sharing the client's connections: what multiplexing buys.
func BenchmarkRoundTripUpstreamParallel(b *testing.B) {
	addr, _ := startProvider(b, "v1")
	c := startClient(b, Config{Addr: addr, MaxConns: 2})
	req := frame(b, 1, dubbotest.Greet("Alice"))
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(16)
	defer cputime.Report(b, cputime.Process())
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Do(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRoundTripDirect is the baseline: the direct test client, one call at a time on its own connection,
// encoding and decoding with dubbo-go-hessian2.
func BenchmarkRoundTripDirect(b *testing.B) {
	addr, _ := startProvider(b, "v1")
	ctx := context.Background()
	c, err := dubbotest.Dial(ctx, addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	defer cputime.Report(b, cputime.Process())
	for b.Loop() {
		if _, err := c.Call(ctx, dubbotest.Greet("Alice")); err != nil {
			b.Fatal(err)
		}
	}
}
