// Package wasm is the filter kind that runs proxy-wasm modules on host/engine: it fetches the module (file://,
// http(s):// with a sha256 pin, oci:// when a source is given), compiles it once per digest, starts the plugin
// (on_vm_start and on_configure must succeed, or the configuration is refused) and maps each filter callback to
// the engine's stream: headers as proxy-wasm header pairs, bodies, trailers, local replies, pauses
// (proxy_continue_stream), the upstream_cluster property and stream properties.
//
//	eng, _ := engine.New(engine.Config{CacheDir: cacheDir, Logger: log})
//	reg, _ := filter.NewRegistry(wasm.Kind(eng, module.Default(http.DefaultClient)), header.Kind())
//
// proxy.yaml:
//
//	filters:
//	- name: greet
//	  kind: wasm
//	  module: {url: file:///etc/wasmesh/greet.wasm}
//	  config: "hello"                         # plugin configuration (JSON strings are passed unquoted)
//	  options: {pool_size: 4, callbacks: [request_headers, response_headers]}
package wasm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/module"
)

// KindName is the kind to write in proxy.yaml.
const KindName = "wasm"

// Options is the filter's `options` block.
type Options struct {
	RootID          string          `json:"root_id,omitempty"`
	VMID            string          `json:"vm_id,omitempty"`
	VMConfig        json.RawMessage `json:"vm_config,omitempty"`
	PoolSize        int             `json:"pool_size,omitempty"`
	CallTimeout     string          `json:"call_timeout,omitempty"` // e.g. "100ms"; "-1s" for no deadline
	MemoryLimitPage uint32          `json:"memory_limit_pages,omitempty"`
	FailStrategy    string          `json:"fail_strategy,omitempty"` // FAIL_CLOSE (default), FAIL_OPEN, FAIL_RELOAD
	// Env is the guest's WASI environment (Envoy's vm_config.environment_variables, key_values).
	Env map[string]string `json:"env,omitempty"`
	// Callbacks narrows the callbacks the proxy makes, e.g. [request_headers, response_headers] for a header
	// filter built with an SDK that exports every callback: without it, every body chunk would be passed
	// through a module that ignores them. Default: every callback the module exports.
	Callbacks []string `json:"callbacks,omitempty"`
}

var callbackExports = []struct {
	name, export string
	want         filter.Wants
}{
	{"request_headers", "proxy_on_request_headers", filter.WantRequestHeaders},
	{"request_body", "proxy_on_request_body", filter.WantRequestBody},
	{"request_trailers", "proxy_on_request_trailers", filter.WantRequestTrailers},
	{"response_headers", "proxy_on_response_headers", filter.WantResponseHeaders},
	{"response_body", "proxy_on_response_body", filter.WantResponseBody},
	{"response_trailers", "proxy_on_response_trailers", filter.WantResponseTrailers},
}

// Kind returns the wasm filter kind on eng, fetching modules through srcs.
func Kind(eng *engine.Engine, srcs module.Sources) filter.Kind {
	return filter.Kind{Name: KindName, New: func(ctx context.Context, spec filter.Spec) (filter.Filter, error) {
		return newFilter(ctx, eng, srcs, spec)
	}}
}

type wasmFilter struct {
	name    string
	plugin  *engine.Plugin
	mod     *engine.Module
	wants   filter.Wants
	stop    context.CancelFunc
	ticks   chan struct{}
	lastErr atomic.Pointer[string]
	errors  atomic.Uint64
	// calls and failures count streams, each failed stream once (filter.Status).
	calls, failures atomic.Uint64
	instance        uint64
}

// instances numbers filter builds (filter.Status.Instance).
var instances atomic.Uint64

var _ filter.Filter = (*wasmFilter)(nil)

func newFilter(ctx context.Context, eng *engine.Engine, srcs module.Sources, spec filter.Spec) (filter.Filter, error) {
	var o Options
	if len(spec.Options) > 0 {
		d := json.NewDecoder(bytes.NewReader(spec.Options))
		d.DisallowUnknownFields()
		if err := d.Decode(&o); err != nil {
			return nil, fmt.Errorf("options: %w (expected root_id, vm_id, vm_config, pool_size, call_timeout, memory_limit_pages, fail_strategy, env, callbacks)", err)
		}
	}
	pc := engine.PluginConfig{Name: spec.Name, RootID: o.RootID, VMID: o.VMID, PoolSize: o.PoolSize,
		MemoryLimitPages: o.MemoryLimitPage, Configuration: pluginBytes(spec.Config), VMConfiguration: pluginBytes(o.VMConfig),
		Env: o.Env, Logger: spec.Logger}
	switch o.FailStrategy {
	case "", "FAIL_CLOSE":
		pc.FailStrategy = engine.FailClose
		if spec.FailOpen {
			pc.FailStrategy = engine.FailOpen
		}
	case "FAIL_OPEN":
		pc.FailStrategy = engine.FailOpen
	case "FAIL_RELOAD":
		pc.FailStrategy = engine.FailReload
	default:
		return nil, fmt.Errorf("options.fail_strategy: unknown %q (expected FAIL_CLOSE, FAIL_OPEN or FAIL_RELOAD)", o.FailStrategy)
	}
	if o.CallTimeout != "" {
		d, err := time.ParseDuration(o.CallTimeout)
		if err != nil {
			return nil, fmt.Errorf("options.call_timeout: expected a duration such as \"100ms\": %w", err)
		}
		pc.CallTimeout = d
	}
	if spec.Module.URL == "" {
		return nil, fmt.Errorf("module.url: a wasm filter needs a module")
	}
	wasmBytes, err := module.Fetch(ctx, srcs, spec.Module)
	if err != nil {
		return nil, err
	}
	mod, err := eng.Compile(ctx, wasmBytes)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", spec.Module.URL, err)
	}
	pc.Module = mod
	f := &wasmFilter{name: spec.Name, mod: mod, wants: filter.WantDone, instance: instances.Add(1)}
	narrow := filter.WantAll
	if len(o.Callbacks) > 0 {
		narrow = 0
	}
	for _, name := range o.Callbacks {
		found := false
		for _, c := range callbackExports {
			if c.name == name {
				narrow |= c.want
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("options.callbacks: unknown callback %q (expected request_headers, request_body, request_trailers, response_headers, response_body, response_trailers)", name)
		}
	}
	for _, c := range callbackExports {
		if mod.Exports(c.export) && narrow&c.want != 0 {
			f.wants |= c.want
		}
	}
	p, err := eng.NewPlugin(ctx, pc)
	if err != nil {
		return nil, err
	}
	f.plugin = p
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.stop, f.ticks = cancel, make(chan struct{})
	go func() {
		defer close(f.ticks)
		_ = p.Start(tctx)
	}()
	return f, nil
}

// pluginBytes passes a JSON string's contents unquoted (config: "hello" gives the module hello, as Envoy's
// StringValue configuration does) and any other JSON value as its text.
func pluginBytes(raw json.RawMessage) []byte {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return []byte(s)
		}
	}
	return raw
}

func (f *wasmFilter) Wants() filter.Wants { return f.wants }

// Close stops the ticker and removes the plugin; the engine frees the VMs with the last plugin using them.
func (f *wasmFilter) Close(ctx context.Context) error {
	f.stop()
	<-f.ticks
	return f.plugin.Close(ctx)
}

// Describe reports the module and VMs for the admin API.
func (f *wasmFilter) Describe() filter.Status {
	st := filter.Status{ModuleDigest: f.mod.Digest(), ABI: string(f.mod.ABIVersion()), VMs: f.plugin.VMs(),
		MemoryBytes: f.plugin.MemoryBytes(), State: "ok", Calls: f.calls.Load(), Failures: f.failures.Load(), Instance: f.instance}
	if f.plugin.VMs() == 0 {
		st.State = "failed"
	}
	if e := f.lastErr.Load(); e != nil {
		st.LastError = *e
	}
	return st
}

// failed counts a stream's first failure; done is the stream's flag.
func (f *wasmFilter) failed(done *bool) {
	if !*done {
		*done = true
		f.failures.Add(1)
	}
}

func (f *wasmFilter) recordErr(err error) {
	if err == nil {
		return
	}
	f.errors.Add(1)
	msg := err.Error()
	f.lastErr.Store(&msg)
}

// stream is the per-stream state: the engine stream and the header pairs it edits in place.
type stream struct {
	es              *engine.HTTPStream
	fs              *filter.Stream
	reqH, respH     abi.Headers
	reqT, respT     abi.Headers
	orig            abi.Headers // the pairs as given, to see whether the module changed anything
	bypass, started bool
	failed          bool // counted in failures already
}

var streams = sync.Pool{New: func() any { return new(stream) }}

// start creates the engine stream on first use.
func (f *wasmFilter) start(s *filter.Stream) *stream {
	if st, ok := s.State().(*stream); ok {
		return st
	}
	st := streams.Get().(*stream)
	st.fs, st.bypass, st.started, st.failed = s, false, false, false
	s.SetState(st)
	f.calls.Add(1)
	es, err := f.plugin.NewHTTPStream(s.Context(), engine.StreamInfo{Properties: (*properties)(s)})
	if err != nil {
		// The client went away while waiting for a VM: not the filter's failure.
		f.recordErr(err)
		st.bypass = true
		return st
	}
	st.es, st.started = es, true
	return st
}

// after maps what the module did in a callback onto the filter stream: errors, bypass, local replies, pauses
// and the upstream_cluster property.
func (f *wasmFilter) after(st *stream, a abi.Action) filter.Action {
	es, s := st.es, st.fs
	if err := es.Err(); err != nil {
		f.recordErr(err)
		f.failed(&st.failed)
	}
	if es.Bypassed() {
		st.bypass = true
		return filter.Continue
	}
	if lr := es.LocalResponse(); lr != nil {
		if lr.StatusCode >= 500 {
			f.failed(&st.failed)
		}
		sendLocal(s, lr)
		return filter.Continue
	}
	if a != abi.ActionContinue {
		if err := es.Wait(s.Context()); err != nil {
			return filter.Pause // the chain sees the context end and stops the stream
		}
		if lr := es.LocalResponse(); lr != nil {
			if lr.StatusCode >= 500 {
				f.failed(&st.failed)
			}
			sendLocal(s, lr)
			return filter.Continue
		}
	}
	if v, ok := es.Property("upstream_cluster"); ok && string(v) != s.Info.UpstreamCluster {
		s.SetUpstreamCluster(string(v))
	}
	return filter.Continue
}

func sendLocal(s *filter.Stream, lr *engine.LocalResponse) {
	hs := make([][2]string, len(lr.Headers))
	for i, h := range lr.Headers {
		hs[i] = [2]string{h.Key, h.Value}
	}
	s.SendLocalResponse(int(lr.StatusCode), hs, lr.Body, lr.Details)
}

func (f *wasmFilter) OnRequestHeaders(s *filter.Stream, end bool) filter.Action {
	st := f.start(s)
	if st.bypass {
		return filter.Continue
	}
	st.reqH = toPairs(st.reqH[:0], s.RequestHeaders)
	st.orig = append(st.orig[:0], st.reqH...)
	act := f.after(st, st.es.OnRequestHeaders(&st.reqH, end))
	applyPairs(s.RequestHeaders, st.orig, st.reqH) // after a pause too: the module may change them before it resumes
	return act
}

func (f *wasmFilter) OnRequestBody(s *filter.Stream, end bool) filter.Action {
	st := f.start(s)
	if st.bypass {
		return filter.Continue
	}
	return f.afterBody(st, st.es.OnRequestBody(&s.RequestBody, end), end)
}

func (f *wasmFilter) OnRequestTrailers(s *filter.Stream) filter.Action {
	st := f.start(s)
	if st.bypass {
		return filter.Continue
	}
	st.reqT = toPairs(st.reqT[:0], s.RequestTrailers)
	st.orig = append(st.orig[:0], st.reqT...)
	act := f.after(st, st.es.OnRequestTrailers(&st.reqT))
	applyPairs(s.RequestTrailers, st.orig, st.reqT)
	return act
}

func (f *wasmFilter) OnResponseHeaders(s *filter.Stream, end bool) filter.Action {
	st := f.start(s)
	if st.bypass {
		return filter.Continue
	}
	st.respH = toPairs(st.respH[:0], s.ResponseHeaders)
	st.orig = append(st.orig[:0], st.respH...)
	act := f.after(st, st.es.OnResponseHeaders(&st.respH, end))
	applyPairs(s.ResponseHeaders, st.orig, st.respH)
	return act
}

func (f *wasmFilter) OnResponseBody(s *filter.Stream, end bool) filter.Action {
	st := f.start(s)
	if st.bypass {
		return filter.Continue
	}
	return f.afterBody(st, st.es.OnResponseBody(&s.ResponseBody, end), end)
}

// afterBody maps a body callback's result. A module that pauses a body chunk before the end of the stream asks
// for buffering (proxy-wasm's StopIterationAndBuffer): the chain holds the bytes and calls it again with them and
// the next chunk, so there is nothing to wait for. On the last chunk a pause waits for proxy_continue_stream, as
// for headers.
func (f *wasmFilter) afterBody(st *stream, a abi.Action, end bool) filter.Action {
	if end || a == abi.ActionContinue {
		return f.after(st, a)
	}
	f.after(st, abi.ActionContinue) // errors, local replies, upstream_cluster; it never waits for a Continue
	if st.bypass || st.fs.LocalResponse() != nil {
		return filter.Continue
	}
	return filter.Pause
}

func (f *wasmFilter) OnResponseTrailers(s *filter.Stream) filter.Action {
	st := f.start(s)
	if st.bypass {
		return filter.Continue
	}
	st.respT = toPairs(st.respT[:0], s.ResponseTrailers)
	st.orig = append(st.orig[:0], st.respT...)
	act := f.after(st, st.es.OnResponseTrailers(&st.respT))
	applyPairs(s.ResponseTrailers, st.orig, st.respT)
	return act
}

// OnDone ends the engine stream (on_log, on_done, on_delete) and recycles the state.
func (f *wasmFilter) OnDone(s *filter.Stream) {
	st, ok := s.State().(*stream)
	if !ok {
		return
	}
	if st.started {
		st.es.Done()
	}
	clear(st.reqH)
	clear(st.respH)
	clear(st.reqT)
	clear(st.respT)
	clear(st.orig)
	st.es, st.fs = nil, nil
	s.SetState(nil)
	streams.Put(st)
}
