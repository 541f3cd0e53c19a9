package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/wasmesh/wasmesh/host/engine"
)

// BenchmarkModulesAB compares modules built from the same filter in different ways (say, by two versions of the
// builder's bridge) side by side in one process: WASMESH_AB_MODULES lists label=path.wasm pairs separated by
// commas; each round runs every case on every module in turn, so load on a shared machine hits them alike. The
// path "raw" names the hand-assembled module of rawfilter_test.go, the host's floor. The lines it prints are in
// benchmark format (CPU time of the benchmark's thread per op as cpu-ns/op) for benchstat. The filter must behave
// like testdata/headers (five header reads and one add per request, one response header).
//
//	WASMESH_AB_MODULES=old=/tmp/old.wasm,new=/tmp/new.wasm go test ./host/engine -run XXX -bench ModulesAB -benchtime 1x
func BenchmarkModulesAB(b *testing.B) {
	spec := os.Getenv("WASMESH_AB_MODULES")
	if spec == "" {
		b.Skip("set WASMESH_AB_MODULES=label=file.wasm,...")
	}
	rounds, iters := envInt(b, "WASMESH_AB_ROUNDS", 6), envInt(b, "WASMESH_AB_ITERS", 20000)
	type mod struct {
		label string
		p     *engine.Plugin
	}
	e := newEngine(b, engine.Config{})
	var mods []mod
	for _, kv := range strings.Split(spec, ",") {
		var err error
		label, path, ok := strings.Cut(kv, "=")
		if !ok {
			b.Fatalf("WASMESH_AB_MODULES: %q is not label=file.wasm", kv)
		}
		var wasm []byte
		if path == "raw" { // the hand-assembled module of rawfilter_test.go: the host's own cost
			wasm = rawHeadersFilter()
		} else if wasm, err = os.ReadFile(filepath.Clean(path)); err != nil {
			b.Fatalf("WASMESH_AB_MODULES: %v", err)
		}
		m, err := e.Compile(context.Background(), wasm)
		if err != nil {
			b.Fatalf("WASMESH_AB_MODULES: %s: %v", path, err)
		}
		p, err := e.NewPlugin(context.Background(), engine.PluginConfig{Module: m, Name: label})
		if err != nil {
			b.Fatalf("WASMESH_AB_MODULES: %s: %v", path, err)
		}
		b.Cleanup(func() { _ = p.Close(context.Background()) })
		mods = append(mods, mod{label, p})
	}
	cases := []struct {
		name string
		run  func(b *testing.B, p *engine.Plugin, n int)
	}{
		{"RequestHeaders", func(b *testing.B, p *engine.Plugin, n int) {
			s := stream(b, p, engine.StreamInfo{})
			defer s.Done()
			req := benchRequest()
			k := len(req)
			for range n {
				req = req[:k]
				s.OnRequestHeaders(&req, true)
			}
		}},
		{"CreateDone", func(b *testing.B, p *engine.Plugin, n int) {
			for range n {
				s, err := p.NewHTTPStream(context.Background(), engine.StreamInfo{})
				if err != nil {
					b.Fatal(err)
				}
				s.Done()
			}
		}},
		{"FullStream", func(b *testing.B, p *engine.Plugin, n int) {
			req, resp := benchRequest(), headers(":status", "200")
			k := len(req)
			for range n {
				req, resp = req[:k], resp[:1]
				s, err := p.NewHTTPStream(context.Background(), engine.StreamInfo{})
				if err != nil {
					b.Fatal(err)
				}
				s.OnRequestHeaders(&req, true)
				s.OnResponseHeaders(&resp, true)
				s.Done()
			}
		}},
	}
	// Thread CPU time of the goroutine's locked thread: the guest (its collector included) runs on it, and other
	// processes inflate it far less than wall time.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := map[string][]float64{}
	for r := range rounds {
		for _, c := range cases {
			for i := range mods {
				m := mods[(i+r)%len(mods)] // rotate who goes first
				c.run(b, m.p, iters/10)    // warm up
				start, c0 := time.Now(), threadCPUTime()
				c.run(b, m.p, iters)
				wall, used := time.Since(start), threadCPUTime()-c0
				name := "BenchmarkAB/" + c.name + "/" + m.label
				cpu[name] = append(cpu[name], float64(used)/float64(iters))
				fmt.Printf("%s\t%d\t%.1f ns/op\t%.1f cpu-ns/op\n", name, iters,
					float64(wall)/float64(iters), float64(used)/float64(iters))
			}
		}
	}
	for _, m := range mods {
		fmt.Printf("# %s: linear memory after the runs %.1f MiB\n", m.label, float64(m.p.MemoryBytes())/(1<<20))
	}
	// Per case: each module's min and median, and the median of its per-round ratios to the first module (rounds
	// are adjacent in time, so the ratio cancels most of the drift in the machine's load).
	median := func(v []float64) float64 {
		v = append([]float64(nil), v...)
		sort.Float64s(v)
		return v[len(v)/2]
	}
	for _, c := range cases {
		first := cpu["BenchmarkAB/"+c.name+"/"+mods[0].label]
		for _, m := range mods {
			v := cpu["BenchmarkAB/"+c.name+"/"+m.label]
			ratios := make([]float64, len(v))
			for i := range v {
				ratios[i] = v[i] / first[i]
			}
			fmt.Printf("# %s/%s: cpu-ns/op min %.0f median %.0f; ratio to %s %.3f\n", c.name, m.label,
				slices.Min(v), median(v), mods[0].label, median(ratios))
		}
	}
}

func threadCPUTime() time.Duration {
	var ts syscall.Timespec
	// CLOCK_THREAD_CPUTIME_ID is 3 on Linux.
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		panic(errno)
	}
	return time.Duration(ts.Nano())
}

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}
