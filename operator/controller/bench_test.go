package controller_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/wasmesh/wasmesh/oci/registrytest"
	"github.com/wasmesh/wasmesh/operator"
	"github.com/wasmesh/wasmesh/xdsapi"
)

// fleet deploys v1 to n connected test proxies, warms the cache with v2, and returns a function that switches
// the spec to the other version and waits until every proxy holds it.
func fleet(b *testing.B, n int) (switchVersion func() time.Duration, reconcileOnce func() time.Duration) {
	f := newFleet(b, n)
	return f.switchVersion, f.reconcileOnce
}

// testFleet is n test proxies running one deployment, with an operator whose cache holds two versions.
type testFleet struct {
	op            *operator.Operator
	proxies       []*proxy
	digests       [2]string // module digests of v1 and v2
	cur           int       // the version deployed
	switchVersion func() time.Duration
	reconcileOnce func() time.Duration
}

func newFleet(b *testing.B, n int) *testFleet {
	reg := startRegistry(b)
	v := [2][]byte{registrytest.Module([]byte("bench-v1")), registrytest.Module([]byte("bench-v2"))}
	var urls [2]string
	for i := range v {
		urls[i] = fmt.Sprintf("oci://%s/filters/bench:v%d", reg, i+1)
		push(b, urls[i][len("oci://"):], v[i], nil)
	}
	dir := b.TempDir()
	op := startOperator(b, dir)
	addr := xdsAddr(b, op)
	proxies := make([]*proxy, n)
	for i := range proxies {
		proxies[i] = connect(b, addr, xdsapi.Node{ID: fmt.Sprintf("p-%05d", i), Namespace: "shop", Labels: map[string]string{"app": "web"}}, nil)
	}
	cur := 0
	apply := func(i int) time.Duration {
		want := digest.FromBytes(v[i]).String()
		start := time.Now()
		writeYAML(b, dir, "bench.yaml", deploymentYAML("bench", "shop", urls[i], ""))
		waitFor(b, 60*time.Second, "the fleet on "+want, func() bool {
			for _, p := range proxies {
				if p.digest("shop/bench") != want {
					return false
				}
			}
			return true
		})
		return time.Since(start)
	}
	apply(0)
	ctx := context.Background()
	for i := range v { // warm: both digests in the cache
		d, err := op.Puller.Resolve(ctx, urls[i], nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := op.Puller.Fetch(ctx, urls[i], d, nil); err != nil {
			b.Fatal(err)
		}
	}
	f := &testFleet{op: op, proxies: proxies}
	for i := range v {
		f.digests[i] = digest.FromBytes(v[i]).String()
	}
	f.switchVersion = func() time.Duration { cur = 1 - cur; f.cur = cur; return apply(cur) }
	f.reconcileOnce = func() time.Duration {
		start := time.Now()
		if _, err := op.Reconciler.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "shop", Name: "bench"}}); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	return f
}

func fleetSize(def int) int {
	if s := os.Getenv("WASMESH_BENCH_PROXIES"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
	}
	return def
}

// BenchmarkSpecChangeToFleet: from a changed WasmDeployment file to every connected proxy holding the new digest
// (warm cache, directory polled every 50ms). WASMESH_BENCH_PROXIES sets the fleet (default 50).
func BenchmarkSpecChangeToFleet(b *testing.B) {
	n := fleetSize(50)
	switchVersion, _ := fleet(b, n)
	var worst time.Duration
	b.ResetTimer()
	for b.Loop() {
		if d := switchVersion(); d > worst {
			worst = d
		}
	}
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
	b.ReportMetric(float64(n), "proxies")
}

// BenchmarkReconcile: one reconcile of a deployment already delivered to the fleet (no pull: the module is
// cached), with its percentiles.
func BenchmarkReconcile(b *testing.B) {
	n := fleetSize(50)
	_, reconcileOnce := fleet(b, n)
	var ds []time.Duration
	b.ResetTimer()
	for b.Loop() {
		ds = append(ds, reconcileOnce())
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	p := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.5), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
	b.ReportMetric(float64(n), "proxies")
}

// BenchmarkFleetMemory: heap per connected proxy, both ends of the gRPC stream in this process (so an upper
// bound for the operator's share).
func BenchmarkFleetMemory(b *testing.B) {
	n := fleetSize(1000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	switchVersion, _ := fleet(b, n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ResetTimer()
	var worst time.Duration
	for b.Loop() {
		if d := switchVersion(); d > worst {
			worst = d
		}
	}
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/float64(n)/1024, "KiB-heap/proxy")
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
	b.ReportMetric(float64(n), "proxies")
}

// BenchmarkLoadReports: every proxy of the fleet opens its LRS stream (heap per stream, both ends) and each
// iteration every proxy sends one report; the time is until the operator has counted all of them.
// WASMESH_BENCH_PROXIES sets the fleet (default 1000).
func BenchmarkLoadReports(b *testing.B) {
	n := fleetSize(1000)
	f := newFleet(b, n)
	var before, after runtime.MemStats
	settle := func(m *runtime.MemStats) {
		time.Sleep(200 * time.Millisecond) // the fleet's last ACKs and reconciles
		runtime.GC()
		runtime.GC() // a second cycle empties the sync.Pools the first one moved to their victim caches
		runtime.ReadMemStats(m)
	}
	settle(&before)
	reporters := make([]*loadReporter, n)
	for i, p := range f.proxies {
		reporters[i] = p.loadReports(b)
	}
	settle(&after)
	d := f.digests[f.cur]
	since := time.Now()
	var total uint64
	var worst time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		for _, r := range reporters {
			r.send(xdsapi.FilterLoad{Deployment: "shop/bench", Digest: d, Calls: 10, Failures: 1})
		}
		total += uint64(10 * n)
		waitFor(b, 60*time.Second, "every report counted", func() bool { c, _ := f.op.XDS.Load("shop/bench", d, since); return c >= total })
		worst = max(worst, time.Since(start))
	}
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(n)/1024, "KiB-heap/lrs-stream")
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
	b.ReportMetric(float64(n), "proxies")
}
