package wasm

import (
	"sync"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
)

var _ filter.NetworkFilter = (*wasmFilter)(nil)

// NewConnection starts the module's connection context (proxy_on_new_connection) for a tcp listener.
func (f *wasmFilter) NewConnection(c *filter.Conn) (filter.ConnFilter, filter.Action) {
	f.calls.Add(1)
	ts, err := f.plugin.NewTCPStream(c.Context(), engine.StreamInfo{Properties: (*connProperties)(c)})
	if err != nil {
		f.recordErr(err)
		if c.Context().Err() == nil { // not the client leaving while it waited for a VM
			f.failures.Add(1)
		}
		c.RequestClose()
		return nil, filter.Continue
	}
	wc := &wasmConn{f: f, c: c, ts: ts}
	wc.mu.Lock()
	defer wc.mu.Unlock()
	return wc, wc.data(ts.OnNewConnection(), filter.Downstream)
}

// wasmConn is a module's connection context. The engine runs one callback of a stream at a time, while the
// proxy reads both directions concurrently, so calls are serialised here.
type wasmConn struct {
	f  *wasmFilter
	c  *filter.Conn
	ts *engine.TCPStream
	mu sync.Mutex
	// paused marks the directions the module holds (Pause returned); waiting is set while a waitResume goroutine
	// listens for its proxy_continue_stream; closed once OnClose ran.
	paused          [2]bool
	waiting, closed bool
	failed          bool // counted in the filter's failures already
}

func (w *wasmConn) after(a abi.Action) {
	if err := w.ts.Err(); err != nil {
		w.f.recordErr(err)
		w.f.failed(&w.failed)
	}
	if w.ts.Bypassed() {
		return
	}
	if w.ts.ResetRequested() || w.ts.Err() != nil {
		w.c.RequestClose()
	}
}

// data maps the action of a callback for direction d: a pause holds the direction until a later callback
// continues or the module calls proxy_continue_stream (seen by waitResume).
func (w *wasmConn) data(a abi.Action, d filter.Direction) filter.Action {
	w.after(a)
	if a == abi.ActionContinue || w.ts.Bypassed() {
		w.paused[d] = false
		return filter.Continue
	}
	if w.ts.ResetRequested() || w.ts.Err() != nil {
		return filter.Pause // after asked the proxy to close the connection: nothing more goes on
	}
	w.paused[d] = true
	if !w.waiting {
		w.waiting = true
		go w.waitResume()
	}
	return filter.Pause
}

// drainStale drops a continue signal left from earlier (a module may call proxy_continue_stream while nothing
// is paused), so it cannot resume a later pause; a signal a waitResume goroutine waits for is left to it.
func (w *wasmConn) drainStale() {
	if !w.waiting {
		select {
		case <-w.ts.Resumed():
		default:
		}
	}
}

// waitResume turns the module's proxy_continue_stream into Conn.Resume. The engine does not say which stream
// type the module named (the Go SDK always names DOWNSTREAM, as Envoy ignores it), so every direction the filter
// holds goes on.
func (w *wasmConn) waitResume() {
	select {
	case <-w.ts.Resumed():
	case <-w.c.Context().Done():
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiting = false
	if w.closed || w.c.Context().Err() != nil {
		return
	}
	if w.ts.ResetRequested() || w.ts.Err() != nil {
		w.c.RequestClose()
		return
	}
	for d, p := range w.paused {
		if p {
			w.paused[d] = false
			w.c.Resume(filter.Direction(d))
		}
	}
}

func (w *wasmConn) OnDownstreamData(data *[]byte, end bool) filter.Action {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ts.Bypassed() {
		return filter.Continue
	}
	w.drainStale()
	return w.data(w.ts.OnDownstreamData(data, end), filter.Downstream)
}

func (w *wasmConn) OnUpstreamData(data *[]byte, end bool) filter.Action {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ts.Bypassed() {
		return filter.Continue
	}
	w.drainStale()
	return w.data(w.ts.OnUpstreamData(data, end), filter.Upstream)
}

func (w *wasmConn) OnClose() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	w.ts.OnDownstreamClose(abi.PeerRemote)
	w.ts.OnUpstreamClose(abi.PeerRemote)
	w.ts.Done()
}
