package scenario

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// Run runs every scenario of the file at path against a fresh VM from newVM in the proxytest emulator.
func Run(t *testing.T, path string, newVM func() types.VMContext) {
	t.Helper()
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Scenarios) == 0 {
		t.Fatalf("%s holds no scenarios", path)
	}
	for _, sc := range f.Scenarios {
		t.Run(sc.Name, func(t *testing.T) { runOne(t, sc, newVM()) })
	}
}

type runner struct {
	t        *testing.T
	host     proxytest.HostEmulator
	contexts []uint32 // root first, then streams in creation order
	calls    []*pendingCall
	perCtx   map[uint32]int
	reported int
}

func runOne(t *testing.T, sc Scenario, vm types.VMContext) {
	opt := proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration(sc.Config)
	host, reset := proxytest.NewHostEmulator(opt)
	defer reset()
	r := &runner{t: t, host: host, contexts: []uint32{proxytest.PluginContextID}, perCtx: map[uint32]int{}}
	r.setProperties(sc.Properties)

	if st := host.StartVM(); st != types.OnVMStartStatusOK {
		t.Fatalf("OnVMStart = %v", st)
	}
	st := host.StartPlugin()
	wantStart := sc.ExpectStart
	if wantStart == "" {
		wantStart = "ok"
	}
	gotStart := map[types.OnPluginStartStatus]string{types.OnPluginStartStatusOK: "ok", types.OnPluginStartStatusFailed: "failed"}[st]
	if gotStart != wantStart {
		t.Fatalf("OnPluginStart = %s, want %s; logs:\n%s", gotStart, wantStart, strings.Join(r.allLogs(), "\n"))
	}
	r.checkLogs("start", sc.ExpectLogs)
	r.newCallouts() // calls made while starting are answered by callout steps, not asserted here

	for i, step := range sc.Steps {
		label := step.Name
		if label == "" {
			label = "step " + strconv.Itoa(i)
		}
		n := step.Repeat
		if n <= 0 {
			n = 1
		}
		for k := 0; k < n; k++ {
			r.step(fmt.Sprintf("%s#%d", label, k), sc, step)
		}
	}
	for name, want := range sc.Metrics {
		got, err := host.GetCounterMetric(name)
		if err != nil {
			t.Errorf("metric %s: %v", name, err)
			continue
		}
		if got != want {
			t.Errorf("metric %s = %d, want %d", name, got, want)
		}
	}
}

func (r *runner) setProperties(props map[string]string) {
	for k, v := range props {
		if err := r.host.SetProperty(PropertyPath(k), []byte(v)); err != nil {
			r.t.Fatalf("set property %s: %v", k, err)
		}
	}
}

func (r *runner) lastStream() uint32 {
	if len(r.contexts) < 2 {
		r.t.Fatalf("step needs a stream, but no request was sent yet")
	}
	return r.contexts[len(r.contexts)-1]
}

func (r *runner) step(label string, sc Scenario, s Step) {
	t := r.t
	r.setProperties(sc.Properties)
	if s.Sleep != "" {
		d, err := time.ParseDuration(s.Sleep)
		if err != nil || d > 5*time.Second {
			t.Fatalf("%s: sleep %q: want a duration up to 5s", label, s.Sleep)
		}
		time.Sleep(d)
	}
	var id uint32
	switch {
	case s.Request != nil:
		r.setProperties(s.Request.Properties)
		// proxytest keeps one property map for all streams; a sentinel stands for "not set on this stream".
		for _, name := range append(keys(s.Expect.Properties), s.Expect.AbsentProperties...) {
			if err := r.host.SetProperty(PropertyPath(name), []byte(unsetSentinel)); err != nil {
				t.Fatalf("%s: reset property %s: %v", label, name, err)
			}
		}
		id = r.host.InitializeHttpContext()
		r.contexts = append(r.contexts, id)
		r.host.CallOnRequestHeaders(id, s.Request.Headers, false)
	case s.Response != nil:
		id = r.lastStream()
		r.host.CallOnResponseHeaders(id, s.Response.Headers, false)
	case s.Callout != nil:
		r.answer(label, s.Callout)
		// A paused stream may have been resumed or answered: check it when the step says something about it.
		if s.Expect.aboutStream() {
			id = r.lastStream()
		}
	case s.Tick:
		r.host.Tick()
	default:
		t.Fatalf("%s: a step needs request, response, callout or tick", label)
	}
	r.check(label, id, s.Expect)
}

type pendingCall struct {
	id       uint32
	cluster  string
	path     string
	answered bool
}

// refresh records HTTP calls dispatched since the last look. proxytest reuses callout IDs once a call is answered,
// so calls are told apart by their context and position, not by ID.
func (r *runner) refresh() {
	for _, ctx := range r.contexts {
		attrs := r.host.GetCalloutAttributesFromContext(ctx)
		for i := r.perCtx[ctx]; i < len(attrs); i++ {
			a := attrs[i]
			r.calls = append(r.calls, &pendingCall{id: a.CalloutID, cluster: a.Upstream, path: header(a.Headers, ":path")})
		}
		r.perCtx[ctx] = len(attrs)
	}
}

// newCallouts returns HTTP calls dispatched since the last call of newCallouts, in order.
func (r *runner) newCallouts() []*pendingCall {
	r.refresh()
	out := r.calls[r.reported:]
	r.reported = len(r.calls)
	return out
}

func (r *runner) answer(label string, c *Callout) {
	r.refresh()
	for _, p := range r.calls {
		if p.answered || p.cluster != c.Cluster || (c.Path != "" && p.path != c.Path) {
			continue
		}
		p.answered = true
		headers := c.Headers
		if !c.Fail {
			headers = append([][2]string{{":status", strconv.Itoa(c.Status)}}, headers...)
		}
		body := []byte(c.Body)
		if c.Fail {
			body = nil
		}
		r.host.CallOnHttpCallResponse(p.id, headers, nil, body)
		return
	}
	r.t.Fatalf("%s: no pending HTTP call to cluster %q path %q", label, c.Cluster, c.Path)
}

func (r *runner) check(label string, id uint32, e Expect) {
	t := r.t
	t.Helper()
	calls := r.newCallouts()
	if len(e.Callouts) != len(calls) {
		t.Errorf("%s: %d HTTP calls dispatched, want %d: %v", label, len(calls), len(e.Callouts), calls)
	} else {
		for i, want := range e.Callouts {
			if calls[i].cluster != want.Cluster || (want.Path != "" && calls[i].path != want.Path) {
				t.Errorf("%s: call %d went to %s %s, want %s %s", label, i, calls[i].cluster, calls[i].path, want.Cluster, want.Path)
			}
		}
	}
	r.checkLogs(label, e.Logs)
	for name, want := range e.Properties {
		got, err := r.host.GetProperty(PropertyPath(name))
		if err != nil || !ValueMatches(want, string(got)) {
			t.Errorf("%s: property %s = %q (%v), want %q", label, name, got, err, want)
		}
	}
	for _, name := range e.AbsentProperties {
		if got, err := r.host.GetProperty(PropertyPath(name)); err == nil && string(got) != unsetSentinel {
			t.Errorf("%s: property %s = %q, want it unset", label, name, got)
		}
	}
	if id == 0 {
		if e.aboutStream() {
			t.Errorf("%s: stream expectations given but no stream exists", label)
		}
		return
	}
	action := r.host.GetCurrentHttpStreamAction(id)
	if e.Action != "" {
		got := map[types.Action]string{types.ActionContinue: "continue", types.ActionPause: "pause"}[action]
		if got != e.Action {
			t.Errorf("%s: action = %s, want %s", label, got, e.Action)
		}
	}
	local := r.host.GetSentLocalResponse(id)
	switch {
	case e.Status == 0 && local != nil:
		t.Errorf("%s: unexpected local response %d %v body %q", label, local.StatusCode, local.Headers, local.Data)
	case e.Status != 0 && local == nil:
		t.Errorf("%s: no local response, want %d", label, e.Status)
	case e.Status != 0 && int(local.StatusCode) != e.Status:
		t.Errorf("%s: local response %d, want %d (body %q)", label, local.StatusCode, e.Status, local.Data)
	}
	if local != nil {
		checkHeaders(t, label+": local response", local.Headers, e.LocalHeaders)
	}
	req := r.host.GetCurrentRequestHeaders(id)
	checkHeaders(t, label+": upstream request", req, e.Headers)
	for _, name := range e.AbsentHeaders {
		if v, ok := lookup(req, name); ok {
			t.Errorf("%s: upstream request header %s = %q, want it absent", label, name, v)
		}
	}
	if len(e.ResponseHeaders) > 0 {
		checkHeaders(t, label+": response", r.host.GetCurrentResponseHeaders(id), e.ResponseHeaders)
	}
}

func (r *runner) allLogs() []string {
	var all []string
	all = append(all, r.host.GetTraceLogs()...)
	all = append(all, r.host.GetDebugLogs()...)
	all = append(all, r.host.GetInfoLogs()...)
	all = append(all, r.host.GetWarnLogs()...)
	all = append(all, r.host.GetErrorLogs()...)
	all = append(all, r.host.GetCriticalLogs()...)
	return all
}

// checkLogs looks for each substring among all log lines. Lines are not attributed to steps because proxytest
// keeps one list per level; a substring logged by an earlier step also counts.
func (r *runner) checkLogs(label string, want []string) {
	if len(want) == 0 {
		return
	}
	all := r.allLogs()
	for _, w := range want {
		found := false
		for _, l := range all {
			if strings.Contains(l, w) {
				found = true
				break
			}
		}
		if !found {
			r.t.Errorf("%s: no log line contains %q; logs:\n%s", label, w, strings.Join(all, "\n"))
		}
	}
}

// checkHeaders passes when, for each expected header, one of its values matches.
func checkHeaders(t *testing.T, what string, got [][2]string, want map[string]string) {
	t.Helper()
	for name, w := range want {
		var values []string
		for _, kv := range got {
			if strings.EqualFold(kv[0], name) {
				values = append(values, kv[1])
			}
		}
		if len(values) == 0 {
			t.Errorf("%s: header %s missing, want %q (have %v)", what, name, w, got)
			continue
		}
		ok := false
		for _, v := range values {
			ok = ok || ValueMatches(w, v)
		}
		if !ok {
			t.Errorf("%s: header %s = %q, want %q", what, name, values, w)
		}
	}
}

func lookup(h [][2]string, name string) (string, bool) {
	for _, kv := range h {
		if strings.EqualFold(kv[0], name) {
			return kv[1], true
		}
	}
	return "", false
}

func header(h [][2]string, name string) string {
	v, _ := lookup(h, name)
	return v
}

func (e Expect) aboutStream() bool {
	return e.Action != "" || e.Status != 0 || len(e.LocalHeaders) > 0 || len(e.Headers) > 0 || len(e.AbsentHeaders) > 0 ||
		len(e.ResponseHeaders) > 0
}

const unsetSentinel = "\x00unset"

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
