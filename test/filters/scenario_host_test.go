package filters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
)

// TestScenarios replays every filter's scenarios.json against the filter compiled to Wasm, in wasmesh's engine.
func TestScenarios(t *testing.T) {
	for _, name := range []string{"auth", "ratelimit", "dubbo-routing"} {
		t.Run(name, func(t *testing.T) {
			scs, err := loadScenarios(filepath.Join(filtersDir, name, "testdata", "scenarios.json"))
			if err != nil {
				t.Fatal(err)
			}
			f := newHostFilter(t, name)
			for i, sc := range scs {
				t.Run(sc.Name, func(t *testing.T) { f.run(t, i, sc) })
			}
		})
	}
}

type openStream struct {
	s      *engine.HTTPStream
	req    abi.Headers
	resp   abi.Headers
	action abi.Action
}

type scenarioRun struct {
	t        *testing.T
	f        *hostFilter
	p        *engine.Plugin
	sc       scenario
	logs     *logLines
	streams  []*openStream
	reported int
}

func (f *hostFilter) run(t *testing.T, i int, sc scenario) {
	f.caller.reset()
	logs := &logLines{}
	before := map[string]int64{}
	for name := range sc.Metrics {
		before[name] = f.counter(name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A fresh VM id per scenario gives it fresh shared data; metrics are engine-wide, so they are compared as deltas.
	p, err := f.eng.NewPlugin(ctx, engine.PluginConfig{Module: f.mod, Name: f.name, VMID: fmt.Sprintf("%s-%d", f.name, i),
		Configuration: sc.Config, PoolSize: 1, Logger: slog.New(logs)})
	wantStart := sc.ExpectStart
	if wantStart == "" {
		wantStart = "ok"
	}
	switch {
	case wantStart == "failed" && err == nil:
		t.Fatalf("plugin started, want a configuration failure; logs:\n%s", logs)
	case wantStart == "failed" && !errors.Is(err, engine.ErrConfigure):
		t.Fatalf("start failed with %v, want ErrConfigure", err)
	case wantStart == "ok" && err != nil:
		t.Fatalf("start: %v; logs:\n%s", err, logs)
	}
	for _, want := range sc.ExpectLogs {
		if !logs.contains(want) {
			t.Errorf("start: no log line contains %q; logs:\n%s", want, logs)
		}
	}
	if err != nil {
		return
	}
	defer func() { _ = p.Close(context.Background()) }()
	tickCtx, stopTicks := context.WithCancel(ctx)
	defer stopTicks()
	go func() { _ = p.Start(tickCtx) }()

	r := &scenarioRun{t: t, f: f, p: p, sc: sc, logs: logs}
	r.reported = 0
	defer func() {
		for _, s := range r.streams {
			s.s.Done()
		}
	}()
	r.settleStartCalls()
	for k, st := range sc.Steps {
		label := st.Name
		if label == "" {
			label = fmt.Sprintf("step %d", k)
		}
		n := max(st.Repeat, 1)
		for j := 0; j < n; j++ {
			r.step(ctx, fmt.Sprintf("%s#%d", label, j), st)
		}
	}
	for name, want := range sc.Metrics {
		if got := f.counter(name) - before[name]; got != want {
			t.Errorf("metric %s grew by %d, want %d", name, got, want)
		}
	}
}

// settleStartCalls gives calls made while starting (remote JWKS) time to reach the caller; they are answered by
// callout steps and not counted as any step's calls.
func (r *scenarioRun) settleStartCalls() {
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) && len(r.f.caller.snapshot()) == 0 && strings.Contains(string(r.sc.Config), "remote_jwks") {
		time.Sleep(5 * time.Millisecond)
	}
	r.reported = len(r.f.caller.snapshot())
}

func (r *scenarioRun) step(ctx context.Context, label string, st step) {
	t := r.t
	if st.Sleep != "" {
		d, err := time.ParseDuration(st.Sleep)
		if err != nil {
			t.Fatalf("%s: sleep: %v", label, err)
		}
		time.Sleep(d)
	}
	var cur *openStream
	switch {
	case st.Request != nil:
		s, err := r.p.NewHTTPStream(ctx, engine.StreamInfo{Properties: props(r.sc.Properties, st.Request.Properties)})
		if err != nil {
			t.Fatalf("%s: new stream: %v", label, err)
		}
		cur = &openStream{s: s, req: toHeaders(st.Request.Headers)}
		r.streams = append(r.streams, cur)
		cur.action = s.OnRequestHeaders(&cur.req, false)
	case st.Response != nil:
		cur = r.last(label)
		cur.resp = toHeaders(st.Response.Headers)
		cur.s.OnResponseHeaders(&cur.resp, false)
	case st.Callout != nil:
		r.answer(label, st)
		if st.Expect.aboutStream() {
			cur = r.last(label)
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := cur.s.Wait(wctx)
			cancel()
			if err != nil {
				t.Fatalf("%s: stream neither resumed nor answered after the call: %v", label, err)
			}
			cur.action = abi.ActionContinue
			if cur.s.LocalResponse() != nil {
				cur.action = abi.ActionPause
			}
		}
	case st.Tick:
		// The plugin's ticker runs on its own (Plugin.Start); the checks below wait for its effects.
	default:
		t.Fatalf("%s: a step needs request, response, callout or tick", label)
	}
	// Calls and callbacks run on other goroutines: poll until the expectations hold or time is up.
	deadline := time.Now().Add(3 * time.Second)
	for {
		problems, newCalls := r.check(cur, st.Expect)
		if len(problems) == 0 || time.Now().After(deadline) {
			r.reported += newCalls
			for _, p := range problems {
				t.Errorf("%s: %s", label, p)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *scenarioRun) last(label string) *openStream {
	if len(r.streams) == 0 {
		r.t.Fatalf("%s: no stream yet", label)
	}
	return r.streams[len(r.streams)-1]
}

func (r *scenarioRun) answer(label string, st step) {
	c := st.Callout
	deadline := time.Now().Add(3 * time.Second)
	for {
		for _, cl := range r.f.caller.snapshot() {
			if cl.answered || cl.cluster != c.Cluster || (c.Path != "" && cl.path != c.Path) {
				continue
			}
			cl.answered = true
			if c.Fail {
				cl.answer <- nil
				return
			}
			h := append(abi.Headers{{Key: ":status", Value: fmt.Sprint(c.Status)}}, toHeaders(c.Headers)...)
			cl.answer <- &engine.CallResponse{Headers: h, Body: []byte(c.Body)}
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: no pending HTTP call to cluster %q path %q", label, c.Cluster, c.Path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// check returns what does not hold yet, and how many new calls it saw.
func (r *scenarioRun) check(cur *openStream, e expect) (problems []string, newCalls int) {
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	calls := r.f.caller.snapshot()[r.reported:]
	if len(calls) != len(e.Callouts) {
		fail("%d HTTP calls dispatched, want %d", len(calls), len(e.Callouts))
	} else {
		for i, want := range e.Callouts {
			if calls[i].cluster != want.Cluster || (want.Path != "" && calls[i].path != want.Path) {
				fail("call %d went to %s %s, want %s %s", i, calls[i].cluster, calls[i].path, want.Cluster, want.Path)
			}
		}
	}
	for _, want := range e.Logs {
		if !r.logs.contains(want) {
			fail("no log line contains %q; logs:\n%s", want, r.logs)
		}
	}
	if cur == nil {
		if e.aboutStream() {
			fail("stream expectations given but the step has no stream")
		}
		return problems, len(calls)
	}
	if e.Action != "" {
		got := "pause"
		if cur.action == abi.ActionContinue {
			got = "continue"
		}
		if got != e.Action {
			fail("action = %s, want %s", got, e.Action)
		}
	}
	local := cur.s.LocalResponse()
	switch {
	case e.Status == 0 && local != nil:
		fail("unexpected local response %d %v", local.StatusCode, local.Headers)
	case e.Status != 0 && local == nil:
		fail("no local response, want %d", e.Status)
	case e.Status != 0 && int(local.StatusCode) != e.Status:
		fail("local response %d, want %d", local.StatusCode, e.Status)
	}
	if local != nil {
		problems = append(problems, headerProblems("local response", local.Headers, e.LocalHeaders)...)
	}
	problems = append(problems, headerProblems("upstream request", cur.req, e.Headers)...)
	for _, name := range e.AbsentHeaders {
		if v, ok := cur.req.Get(name); ok {
			fail("upstream request header %s = %.80q, want it absent", name, v)
		}
	}
	problems = append(problems, headerProblems("response", cur.resp, e.ResponseHeaders)...)
	for name, want := range e.Properties {
		if v, ok := cur.s.Property(name); !ok || !valueMatches(want, string(v)) {
			fail("property %s = %q (set %v), want %q", name, v, ok, want)
		}
	}
	for _, name := range e.AbsentProperties {
		if v, ok := cur.s.Property(name); ok {
			fail("property %s = %q, want it unset", name, v)
		}
	}
	return problems, len(calls)
}

// headerProblems passes when each expected header has a matching value among its values.
func headerProblems(what string, got abi.Headers, want map[string]string) []string {
	var out []string
	for name, w := range want {
		var values []string
		for _, h := range got {
			if strings.EqualFold(h.Key, name) {
				values = append(values, h.Value)
			}
		}
		ok := false
		for _, v := range values {
			ok = ok || valueMatches(w, v)
		}
		if !ok {
			out = append(out, fmt.Sprintf("%s header %s = %.200q, want %q", what, name, values, w))
		}
	}
	return out
}
