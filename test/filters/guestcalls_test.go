package filters

import (
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
)

var guestCalls = flag.String("guest-calls", "", "for the BenchmarkHost cases matching this regexp, count the guest's "+
	"function calls per request and their self time (a wazero function listener; slow, and the listener inflates the times)")

// TestGuestCalls says where a filter's per-request time goes inside the guest: it compiles the filter with a wazero
// function listener, runs a BenchmarkHost case, and prints per request the guest functions called most and those
// with the most self time. Go runtime functions in the list (mallocgc, mapaccess*, memhash, growslice, gcStart,
// morestack) name what to remove from the filter's hot path.
//
//	go test ./test/filters -run GuestCalls -guest-calls 'auth/api-key' -v
func TestGuestCalls(t *testing.T) {
	if *guestCalls == "" {
		t.Skip("diagnostic: run with -guest-calls <case regexp> to count the guest's calls per request")
	}
	re, err := regexp.Compile(*guestCalls)
	if err != nil {
		t.Fatalf("-guest-calls: %v", err)
	}
	for _, c := range hostCases(t) {
		if !re.MatchString(c.name) {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			prof := &callProfile{}
			f := newListenedFilter(t, c.filter, prof)
			p := startPlugin(t, f, c.vmID, c.cfg, 1)
			h := make(abi.Headers, 0, 32)
			for i := 0; i < 100; i++ { // warm up: caches, the guest's heap, the bridge's tables
				runRequest(t, p, c, &h)
			}
			const n = 2000
			prof.reset()
			start := time.Now()
			for i := 0; i < n; i++ {
				runRequest(t, p, c, &h)
			}
			t.Logf("%s: %.1f µs per request with the listener\n%s", c.name,
				float64(time.Since(start).Nanoseconds())/n/1e3, prof.report(n, 40))
		})
	}
}

// newListenedFilter is newHostFilter with every guest function under prof's listener, compiled in an engine of its
// own with no compilation cache (the listener is compiled into the machine code).
func newListenedFilter(t testing.TB, name string, prof *callProfile) *hostFilter {
	t.Helper()
	wasm := buildFilter(t, name)
	caller := &heldCaller{}
	eng, err := engine.New(engine.Config{Caller: caller})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close(context.Background()) })
	ctx := experimental.WithFunctionListenerFactory(context.Background(), prof)
	mod, err := eng.Compile(ctx, wasm)
	if err != nil {
		t.Fatalf("compile filters/%s: %v", name, err)
	}
	return &hostFilter{name: name, eng: eng, mod: mod, caller: caller, compileCtx: ctx}
}

// callProfile counts calls and self time per guest function. The guest is single threaded and a benchmark drives
// one VM from one goroutine, so it needs no locking; it must not be used with concurrent streams.
type callProfile struct {
	funcs []*funcStats
	stack []frame
}

type funcStats struct {
	name  string
	calls int64
	self  time.Duration
	max   time.Duration // the longest single self time: a rare slow call (a GC, a memory.grow) stands out
}

type frame struct {
	f     *funcStats
	start time.Time
	child time.Duration // inclusive time of the callees, subtracted from this frame's
}

func (p *callProfile) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	if def.GoFunction() != nil { // host functions: their cost shows as the caller's self time
		return nil
	}
	name := def.DebugName()
	if n := def.Name(); n != "" {
		name = n
	}
	f := &funcStats{name: name}
	p.funcs = append(p.funcs, f)
	return &funcListener{p: p, f: f}
}

func (p *callProfile) reset() {
	for _, f := range p.funcs {
		f.calls, f.self, f.max = 0, 0, 0
	}
	p.stack = p.stack[:0]
}

type funcListener struct {
	p *callProfile
	f *funcStats
}

func (l *funcListener) Before(context.Context, api.Module, api.FunctionDefinition, []uint64, experimental.StackIterator) {
	l.f.calls++
	l.p.stack = append(l.p.stack, frame{f: l.f, start: time.Now()})
}

func (l *funcListener) After(context.Context, api.Module, api.FunctionDefinition, []uint64) {
	l.p.pop()
}

func (l *funcListener) Abort(context.Context, api.Module, api.FunctionDefinition, error) { l.p.pop() }

func (p *callProfile) pop() {
	n := len(p.stack)
	if n == 0 { // entered before reset
		return
	}
	fr := p.stack[n-1]
	p.stack = p.stack[:n-1]
	d := time.Since(fr.start)
	fr.f.self += d - fr.child
	fr.f.max = max(fr.f.max, d-fr.child)
	if n > 1 {
		p.stack[n-2].child += d
	}
}

// report lists the top functions by calls and by self time, per request over n requests.
func (p *callProfile) report(n, top int) string {
	var all []*funcStats
	var calls int64
	var self time.Duration
	for _, f := range p.funcs {
		if f.calls > 0 {
			all = append(all, f)
			calls += f.calls
			self += f.self
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%.0f guest calls, %.1f µs self time per request (listener included)\n",
		float64(calls)/float64(n), float64(self.Nanoseconds())/float64(n)/1e3)
	sort.Slice(all, func(i, j int) bool { return all[i].calls > all[j].calls })
	row := func(f *funcStats) {
		fmt.Fprintf(&sb, "%-70s %10.2f %12.0f %12d\n", f.name, float64(f.calls)/float64(n),
			float64(f.self.Nanoseconds())/float64(n), f.max.Nanoseconds())
	}
	fmt.Fprintf(&sb, "%-70s %10s %12s %12s\n", "by calls", "calls/req", "self ns/req", "max self ns")
	for _, f := range all[:min(top, len(all))] {
		row(f)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].self > all[j].self })
	fmt.Fprintf(&sb, "%-70s %10s %12s %12s\n", "by self time", "calls/req", "self ns/req", "max self ns")
	for _, f := range all[:min(top, len(all))] {
		row(f)
	}
	if os.Getenv("GUEST_CALLS_ALL") != "" {
		for _, f := range all {
			fmt.Fprintf(&sb, "%s\t%d\n", f.name, f.calls)
		}
	}
	return sb.String()
}
