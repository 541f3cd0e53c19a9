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
	ts, err := f.plugin.NewTCPStream(c.Context(), engine.StreamInfo{Properties: (*connProperties)(c)})
	if err != nil {
		f.recordErr(err)
		c.RequestClose()
		return nil, filter.Continue
	}
	wc := &wasmConn{f: f, c: c, ts: ts}
	wc.mu.Lock()
	defer wc.mu.Unlock()
	wc.after(ts.OnNewConnection())
	return wc, filter.Continue
}

// wasmConn is a module's connection context. The engine runs one callback of a stream at a time, while the
// proxy reads both directions concurrently, so calls are serialised here.
type wasmConn struct {
	f  *wasmFilter
	c  *filter.Conn
	ts *engine.TCPStream
	mu sync.Mutex
}

func (w *wasmConn) after(a abi.Action) {
	if err := w.ts.Err(); err != nil {
		w.f.recordErr(err)
	}
	if w.ts.Bypassed() {
		return
	}
	if w.ts.ResetRequested() || w.ts.Err() != nil {
		w.c.RequestClose()
	}
	_ = a // Pause is not supported on L4 (see filter.ConnFilter)
}

func (w *wasmConn) OnDownstreamData(data *[]byte, end bool) filter.Action {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ts.Bypassed() {
		return filter.Continue
	}
	w.after(w.ts.OnDownstreamData(data, end))
	return filter.Continue
}

func (w *wasmConn) OnUpstreamData(data *[]byte, end bool) filter.Action {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ts.Bypassed() {
		return filter.Continue
	}
	w.after(w.ts.OnUpstreamData(data, end))
	return filter.Continue
}

func (w *wasmConn) OnClose() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ts.OnDownstreamClose(abi.PeerRemote)
	w.ts.OnUpstreamClose(abi.PeerRemote)
	w.ts.Done()
}
