package cache

import (
	"context"
	"sync"
	"testing"

	"github.com/wasmesh/wasmesh/oci/registrytest"
)

// BenchmarkCacheHit is the proxy's and operator's fast path: Get under IfNotPresent within TTL, then open the
// file. No network is involved (the counting source would fail the benchmark otherwise).
func BenchmarkCacheHit(b *testing.B) {
	reg := registrytest.Start(b, registrytest.Config{})
	oc := client(b, reg)
	ref := reg.Host + "/bench/hit:v1"
	push(b, oc, ref, registrytest.Module(make([]byte, 1<<20)))
	src := &counting{Source: oc}
	c, err := Open(Options{Dir: b.TempDir()}, src)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Get(ctx, ref, Request{}); err != nil {
		b.Fatal(err)
	}
	src.resolves.Store(0)
	src.pulls.Store(0)
	b.ReportAllocs()
	for b.Loop() {
		e, err := c.Get(ctx, ref, Request{})
		if err != nil {
			b.Fatal(err)
		}
		f, err := e.Open()
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	if n := src.resolves.Load() + src.pulls.Load(); n != 0 {
		b.Fatalf("cache hits used the network %d times", n)
	}
}

// BenchmarkConcurrentPullsOneDigest has 32 goroutines ask an empty cache for one module at once; fetches/op
// must be 1 (single-flight), whatever the goroutine count.
func BenchmarkConcurrentPullsOneDigest(b *testing.B) {
	reg := registrytest.Start(b, registrytest.Config{})
	oc := client(b, reg)
	ref := reg.Host + "/bench/flight:v1"
	push(b, oc, ref, registrytest.Module(make([]byte, 5<<20)))
	ctx := context.Background()
	var fetches int64
	b.ReportAllocs()
	for b.Loop() {
		c, err := Open(Options{Dir: b.TempDir()}, oc)
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Get(ctx, ref, Request{Policy: Always}); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		fetches += c.Stats().Fetches
	}
	b.ReportMetric(float64(fetches)/float64(b.N), "fetches/op")
}
