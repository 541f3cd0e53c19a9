package main

import (
	"os"
	"strings"
	"testing"

	"github.com/wasmesh/wasmesh/filters/internal/pluginconfig"
	"github.com/wasmesh/wasmesh/filters/internal/request"
)

func sampleRouter(t testing.TB) *router {
	t.Helper()
	b, err := os.ReadFile("../../samples/filters/dubbo-routing.json")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := pluginconfig.Parse(b, compile)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func dubboHeaders(method string, extra ...string) [][2]string {
	h := [][2]string{{":method", "DUBBO"}, {":path", "/org.example.GreetingService/" + method},
		{"x-dubbo-service", "org.example.GreetingService"}, {"x-dubbo-method", method}, {"x-dubbo-version", "1.0.0"}}
	for i := 0; i+1 < len(extra); i += 2 {
		h = append(h, [2]string{extra[i], extra[i+1]})
	}
	return h
}

// TestWeightsFollowConfig draws many random choices and checks the split is near 90/10.
func TestWeightsFollowConfig(t *testing.T) {
	rt := sampleRouter(t)
	r := request.New(dubboHeaders("sayHello"), "")
	counts := map[string]int{}
	const n = 20000
	for i := 0; i < n; i++ {
		counts[rt.Decide(&r, randomN).Cluster]++
	}
	v2 := float64(counts["dubbo-greeter-v2"]) / n
	if v2 < 0.08 || v2 > 0.12 || counts["dubbo-greeter-v1"]+counts["dubbo-greeter-v2"] != n {
		t.Fatalf("split %v, want about 90/10", counts)
	}
}

// TestStickyHashSpreads checks that hashing distinct users follows the weights too, and one user always sticks.
func TestStickyHashSpreads(t *testing.T) {
	rt := sampleRouter(t)
	v2 := 0
	const users = 5000
	for i := 0; i < users; i++ {
		u := "user-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune(i))
		r := request.New(dubboHeaders("sayHello", "x-user-id", u), "")
		first := rt.Decide(&r, randomN).Cluster
		for k := 0; k < 3; k++ {
			if c := rt.Decide(&r, randomN).Cluster; c != first {
				t.Fatalf("user %q moved from %s to %s", u, first, c)
			}
		}
		if first == "dubbo-greeter-v2" {
			v2++
		}
	}
	if share := float64(v2) / users; share < 0.07 || share > 0.13 {
		t.Fatalf("hashed v2 share %.3f, want about 0.10", share)
	}
}

func TestEdits(t *testing.T) {
	rt, err := pluginconfig.Parse([]byte(`{"routes": [{"name": "e", "match": {}, "cluster": "c",
	  "attachments": {"rename": {"b": "b2", "a": "a2"}, "remove": ["z"], "set": {"y": "1", "x": "2"}}}]}`), compile)
	if err != nil {
		t.Fatal(err)
	}
	r := request.New(dubboHeaders("m", "a", "va", "b", "vb"), "")
	var ops []string
	rt.edit(0, &r, func(n string) { ops = append(ops, "-"+n) }, func(n, v string) { ops = append(ops, n+"="+v) })
	// z is not on the request, so it is not removed (each removal is a host call).
	if got := strings.Join(ops, ","); got != "-a,a2=va,-b,b2=vb,x=2,y=1" {
		t.Fatalf("edits = %s", got)
	}
}

type countingCounter struct{ n *uint64 }

func (c countingCounter) Increment(d uint64) { *c.n += d }

func TestMetricsAreBounded(t *testing.T) {
	rt := sampleRouter(t)
	defined := map[string]*uint64{}
	ms := newMetricSet(&router{routes: rt.routes, maxMetrics: 3}, func(name string) counter {
		v := new(uint64)
		defined[name] = v
		return countingCounter{v}
	})
	for i := 0; i < 10; i++ {
		svc := "svc" + string(rune('a'+i))
		r := request.New([][2]string{{":method", "DUBBO"}, {":path", "/" + svc + "/m"}}, "")
		ms.count(r.Service, r.DubboMethod, rt.Decide(&r, randomN))
	}
	if got := *defined["wasmesh_dubbo_routing_requests_total.service=other.method=other"]; got != 7 {
		t.Fatalf("other.requests = %d, want 7 (10 services, 3 allowed): %v", got, len(defined))
	}
	if len(defined) != 8 {
		t.Fatalf("%d metrics defined, want 4 sets of 2", len(defined))
	}
}

func BenchmarkDecide(b *testing.B) {
	rt := sampleRouter(b)
	h := dubboHeaders("sayHello", "x-user-id", "user-42", "x-trace", "abc")
	var n uint64
	ms := newMetricSet(rt, func(string) counter { return countingCounter{&n} })
	b.ReportAllocs()
	for b.Loop() {
		r := request.New(h, "")
		d := rt.Decide(&r, randomN)
		ms.count(r.Service, r.DubboMethod, d)
		if d.Route < 0 {
			b.Fatal("no route")
		}
		rt.edit(d.Route, &r, func(string) {}, func(string, string) {})
	}
}

func FuzzDecide(f *testing.F) {
	f.Add("/org.example.GreetingService/sayHello", "user-1", "true")
	f.Add("/", "", "")
	rt := sampleRouter(f)
	f.Fuzz(func(t *testing.T, path, user, canary string) {
		r := request.New([][2]string{{":method", "DUBBO"}, {":path", path}, {"x-user-id", user}, {"x-canary", canary}}, "")
		d := rt.Decide(&r, randomN)
		if d.Route >= 0 && d.Cluster == "" {
			t.Fatal("route without cluster")
		}
	})
}
