package wasm

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/filter/wasm/wasmtest"
)

// BenchmarkStreams runs whole streams (request headers, response headers, done) through one Wasm filter from 1
// goroutine and from 50 (with pools of 1, 2 and 4 VMs), as the proxy does under 50 connections, and reports the process CPU per stream
// (cpu-ns/stream; the machine is shared, so wall time says little). Between callbacks each goroutine yields, as a
// proxy goroutine does while it waits for the network, so the streams of the 50 goroutines interleave on the
// plugin's VMs and wait for each other's VM locks. The pool is grown before timing.
//
// Filters: the header filter of the proxy benchmark (host/engine/testdata/headers, the successor Go SDK), the
// auth filter in API-key mode (filters/auth, SDK v0.24.0 through the builder's bridge), and, when
// WASMESH_BENCH_MODULE names a module file, that module with the header filter's options (e.g. the engine tests'
// hand-written "raw" filter, whose guest code costs next to nothing, to see the host's share).
func BenchmarkStreams(b *testing.B) {
	type bench struct{ name, module, config, options string }
	const headerCallbacks = `{"callbacks":["request_headers","response_headers"]}`
	benches := []bench{
		{"headers", "../../../engine/testdata/headers", "", headerCallbacks},
		{"auth", "../../../../filters/auth", `{"consumers":[{"name":"bench","keys":["bench-key-0001"]}]}`, `{"callbacks":["request_headers"]}`},
	}
	if m := os.Getenv("WASMESH_BENCH_MODULE"); m != "" {
		benches = append(benches, bench{"module", m, "", headerCallbacks})
	}
	for _, bc := range benches {
		for _, pc := range []struct{ g, pool int }{{1, 4}, {50, 1}, {50, 2}, {50, 4}} {
			g := pc.g
			b.Run(bc.name+"/goroutines="+strconv.Itoa(g)+"/pool="+strconv.Itoa(pc.pool), func(b *testing.B) {
				path := bc.module
				if bc.name != "module" {
					path = wasmtest.Build(b, bc.module)
				}
				kind, _ := newKind(b)
				f, err := kind.New(context.Background(), filter.Spec{Name: bc.name, Kind: KindName, Config: []byte(bc.config),
					Module: filter.ModuleRef{URL: "file://" + path}, Options: withPool(bc.options, pc.pool)})
				if err != nil {
					b.Fatal(err)
				}
				defer f.(filter.Closer).Close(context.Background())
				c := filter.NewChain([]filter.Entry{{Name: bc.name, Filter: f}})
				run := func(perG int) {
					var wg sync.WaitGroup
					for range g {
						wg.Go(func() { runStreams(b, c, perG) })
					}
					wg.Wait()
				}
				run(20) // start the pool's VMs outside the timing
				perG := max(b.N/g, 1)
				b.ReportAllocs()
				b.ResetTimer()
				cpu := cpuTime()
				run(perG)
				b.ReportMetric(float64(cpuTime()-cpu)/float64(perG*g), "cpu-ns/stream")
			})
		}
	}
}

// withPool adds pool_size to a JSON options object.
func withPool(options string, pool int) []byte {
	return []byte(`{"pool_size":` + strconv.Itoa(pool) + `,` + options[1:])
}

// runStreams runs n streams one after the other, the way a proxy connection's goroutine does.
func runStreams(b *testing.B, c *filter.Chain, n int) {
	req, _ := http.NewRequest("GET", "http://svc/hello", nil)
	s := filter.NewStream()
	reqH := &filter.HTTPRequestHeaders{R: req}
	resp, status := http.Header{}, 200
	respH := &filter.HTTPResponseHeaders{H: resp, Status: &status}
	for range n {
		clear(req.Header)
		req.Header["X-Api-Key"], req.Header["X-User"], req.Header["User-Agent"] = apiKey, user, agent
		clear(resp)
		resp["Content-Type"], resp["Content-Length"] = textPlain, five
		s.Reset(context.Background(), reqH, filter.Info{Source: "127.0.0.1:5"})
		if !c.RequestHeaders(s, true) {
			b.Error("request stopped: ", s.LocalResponse())
			return
		}
		runtime.Gosched() // the upstream exchange
		s.ResponseHeaders = respH
		c.ResponseHeaders(s, false)
		runtime.Gosched() // the response body
		c.Done(s)
	}
}

var (
	apiKey    = []string{"bench-key-0001"}
	user      = []string{"bench"}
	agent     = []string{"wrk"}
	textPlain = []string{"text/plain"}
	five      = []string{"5"}
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
