package engine_test

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
)

// The stream benchmarks run three filters that do the same thing (five header reads and one add per request): the
// successor Go SDK fixture (gosdk), the same filter on the tetratelabs SDK v0.24.0 built by the wasmesh builder
// (tetrate), and a hand-assembled wasm module whose guest side costs next to nothing (raw), so the gap between
// them is the Go guest's own cost. Each runs with and without the per-callback CPU deadline, whose termination checks
// cost wazero a goroutine per guest call (allocator calls included).
var deadlines = []struct {
	name    string
	timeout time.Duration
}{{"deadline", 0}, {"nodeadline", -1}}

var benchFilters = []string{"gosdk", "tetrate", "raw"}

func benchPlugin(b *testing.B, e *engine.Engine, filter string, timeout time.Duration) *engine.Plugin {
	switch filter {
	case "raw":
		return rawPlugin(b, e, engine.PluginConfig{CallTimeout: timeout})
	case "tetrate":
		mod, err := e.Compile(context.Background(), builtFixture(b, "tetrate-minimal"))
		if err != nil {
			b.Fatal(err)
		}
		p, err := e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "tetrate", CallTimeout: timeout})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = p.Close(context.Background()) })
		return p
	}
	return newPlugin(b, e, "headers", engine.PluginConfig{CallTimeout: timeout})
}

func benchRequest() abi.Headers {
	return headers(":path", "/bench", ":method", "GET", ":authority", "example.com", "user-agent", "bench/1", "accept", "*/*")
}

// eachCase runs fn for every filter and deadline setting, reporting process CPU time per op next to wall time:
// the machine is shared, so wall time includes time other processes held the cores.
func eachCase(b *testing.B, fn func(b *testing.B, p *engine.Plugin)) {
	for _, f := range benchFilters {
		for _, d := range deadlines {
			b.Run(f+"/"+d.name, func(b *testing.B) {
				e := newEngine(b, engine.Config{})
				p := benchPlugin(b, e, f, d.timeout)
				b.ReportAllocs()
				cpu := cpuTime()
				fn(b, p)
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// reportCPU starts counting process CPU time; the returned func reports it per op.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkEmptyCallback(b *testing.B) {
	eachCase(b, func(b *testing.B, p *engine.Plugin) {
		s := stream(b, p, engine.StreamInfo{})
		defer s.Done()
		tr := headers()
		for b.Loop() {
			s.OnRequestTrailers(&tr) // every fixture implements it and returns Continue at once (not skipped as a default)
		}
	})
}

func BenchmarkRequestHeaders(b *testing.B) {
	eachCase(b, func(b *testing.B, p *engine.Plugin) {
		s := stream(b, p, engine.StreamInfo{})
		defer s.Done()
		req := benchRequest()
		n := len(req)
		for b.Loop() {
			req = req[:n]
			if s.OnRequestHeaders(&req, true) != abi.ActionContinue {
				b.Fatal("paused: ", s.Err())
			}
		}
	})
}

func BenchmarkFullStream(b *testing.B) {
	eachCase(b, func(b *testing.B, p *engine.Plugin) {
		ctx := context.Background()
		req, resp := benchRequest(), headers(":status", "200")
		n := len(req)
		for b.Loop() {
			req, resp = req[:n], resp[:1]
			s, err := p.NewHTTPStream(ctx, engine.StreamInfo{})
			if err != nil {
				b.Fatal(err)
			}
			s.OnRequestHeaders(&req, true)
			s.OnResponseHeaders(&resp, true)
			s.Done()
		}
	})
}

// BenchmarkHostCall times one proxy_get_header_map_value from wasm: the raw filter's body callback loops over it
// 1000 times per op, so ns/op / 1000 is the cost of one host call (guest-to-host transition, key lookup, the
// allocator call back into the guest, the copy), reported as ns/hostcall.
func BenchmarkHostCall(b *testing.B) {
	for _, d := range deadlines {
		b.Run(d.name, func(b *testing.B) {
			e := newEngine(b, engine.Config{})
			p := rawPlugin(b, e, engine.PluginConfig{CallTimeout: d.timeout})
			s := stream(b, p, engine.StreamInfo{})
			defer s.Done()
			req := benchRequest()
			s.OnRequestHeaders(&req, true)
			body := make([]byte, 1000)
			b.ReportAllocs()
			start, cpu := time.Now(), cpuTime()
			for b.Loop() {
				s.OnRequestBody(&body, true)
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N)/1000, "ns/hostcall")
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1000, "cpu-ns/hostcall")
		})
	}
}

func BenchmarkSharedDataCAS(b *testing.B) {
	for _, d := range deadlines {
		b.Run(d.name, func(b *testing.B) {
			e := newEngine(b, engine.Config{})
			p := newPlugin(b, e, "shared", engine.PluginConfig{VMID: "bench", PoolSize: 2, CallTimeout: d.timeout})
			b.ReportAllocs()
			b.SetParallelism(1) // GOMAXPROCS (2 here) goroutines
			b.ResetTimer()      // RunParallel does not use b.Loop, so exclude the compile above by hand
			cpu := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				var req abi.Headers
				for pb.Next() {
					req = req[:0]
					s, err := p.NewHTTPStream(ctx, engine.StreamInfo{})
					if err != nil {
						b.Error(err)
						return
					}
					s.OnRequestHeaders(&req, true)
					s.Done()
				}
			})
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	wasm := goFixture(b, "headers")
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		e, _ := engine.New(engine.Config{})
		if _, err := e.Compile(context.Background(), wasm); err != nil {
			b.Fatal(err)
		}
		_ = e.Close(context.Background())
	}
}

func BenchmarkLoadCacheWarm(b *testing.B) {
	wasm := goFixture(b, "headers")
	dir := b.TempDir()
	e, _ := engine.New(engine.Config{CacheDir: dir})
	if _, err := e.Compile(context.Background(), wasm); err != nil {
		b.Fatal(err)
	}
	_ = e.Close(context.Background())
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		e, _ := engine.New(engine.Config{CacheDir: dir})
		if _, err := e.Compile(context.Background(), wasm); err != nil {
			b.Fatal(err)
		}
		_ = e.Close(context.Background())
	}
}

// BenchmarkInstantiateStart measures a new VM: instantiate, _initialize, root context, on_vm_start, on_configure.
func BenchmarkInstantiateStart(b *testing.B) {
	e := newEngine(b, engine.Config{})
	mod, err := e.Compile(context.Background(), goFixture(b, "headers"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		p, err := e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		_ = p.Close(context.Background())
	}
}

// BenchmarkMemoryPerVM reports the guest linear memory and the Go heap growth per VM of the headers fixture.
func BenchmarkMemoryPerVM(b *testing.B) {
	const vms = 8
	e := newEngine(b, engine.Config{})
	mod, err := e.Compile(context.Background(), goFixture(b, "headers"))
	if err != nil {
		b.Fatal(err)
	}
	var linear, heap float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p, err := e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "mem", PoolSize: vms})
		if err != nil {
			b.Fatal(err)
		}
		var streams []*engine.HTTPStream
		for len(streams) < vms { // each open stream pins its own VM until the pool is full
			streams = append(streams, stream(b, p, engine.StreamInfo{}))
		}
		if p.VMs() != vms {
			b.Fatalf("VMs = %d", p.VMs())
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		linear = float64(p.MemoryBytes()) / vms / (1 << 20)
		heap = float64(after.HeapAlloc-before.HeapAlloc) / vms / (1 << 20)
		for _, s := range streams {
			s.Done()
		}
		_ = p.Close(context.Background())
	}
	b.ReportMetric(linear, "linear-MiB/vm")
	b.ReportMetric(heap, "heap-MiB/vm")
}

// BenchmarkGoGuestHostCall times one host call made by a Go filter (tetratelabs SDK v0.24.0 through the wasmesh
// builder's bridge), 100 per op: "data" reads a header (the result goes back into guest memory), "nodata" asks
// for an absent one (no result). Their difference is what returning data costs the guest.
func BenchmarkGoGuestHostCall(b *testing.B) {
	e := newEngine(b, engine.Config{})
	mod, err := e.Compile(context.Background(), builtFixture(b, "tetrate-hostcall"))
	if err != nil {
		b.Fatal(err)
	}
	p, err := e.NewPlugin(context.Background(), engine.PluginConfig{Module: mod, Name: "hostcall", PoolSize: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	s := stream(b, p, engine.StreamInfo{})
	defer s.Done()
	req := benchRequest()
	s.OnRequestHeaders(&req, true)
	const calls = 100
	body := make([]byte, calls)
	for _, c := range []struct {
		name string
		run  func() abi.Action
	}{
		{"data", func() abi.Action { return s.OnRequestBody(&body, true) }},
		{"nodata", func() abi.Action { return s.OnResponseBody(&body, true) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				if c.run() != abi.ActionContinue {
					b.Fatal(s.Err())
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/calls, "cpu-ns/hostcall")
		})
	}
}
