package engine

import (
	"context"
	"sync"

	"github.com/wasmesh/wasmesh/host/abi"
)

// PropertyGetter answers property lookups by dotted path ("request.path", "source.address"). The path string is
// only valid during the call (it may point into a reused buffer): do not keep it. Values use Envoy's encodings:
// strings as bytes, integers as 8-byte little-endian, maps in the proxy-wasm map encoding.
type PropertyGetter interface {
	GetProperty(path string) ([]byte, bool)
}

// PropertyMap is the simplest PropertyGetter.
type PropertyMap map[string][]byte

// GetProperty implements PropertyGetter.
func (m PropertyMap) GetProperty(path string) ([]byte, bool) {
	v, ok := m[path]
	return v, ok
}

// StreamInfo is what the data plane tells the engine about a stream besides headers and bodies.
type StreamInfo struct {
	// Properties answers request.*, response.*, source.*, destination.*, connection.*, upstream.* lookups.
	Properties PropertyGetter
}

// LocalResponse is the answer a module sent with proxy_send_local_response, or the 503 of FAIL_CLOSE.
type LocalResponse struct {
	StatusCode uint32
	Details    string
	Headers    abi.Headers
	Body       []byte
	GRPCStatus int32
}

type prop struct {
	key   string
	value []byte
}

type streamMode uint8

const (
	modeNormal streamMode = iota
	modeBypass            // FAIL_OPEN after a failure: the filter is skipped
	modeFailed            // FAIL_CLOSE / FAIL_RELOAD after a failure: the stream has a 503 local response
)

// streamCore is what HTTP and TCP streams share: the VM they are pinned to, their context, their fail handling.
// A stream is used by one goroutine at a time (the data plane's), like an http.Request.
type streamCore struct {
	p    *Plugin
	v    *vm
	cs   ctxState
	ctx  context.Context
	info StreamInfo
	mode streamMode
	err  error
	skip uint32 // 1<<cb for each callback the guest declared a no-op for this context (ExportSkipCallbacks)
	// lent says the data plane is not using its header maps and bodies, so host calls may touch them: during the
	// data plane's own callbacks, and while it waits after a Pause (an HTTP-call response may edit them then).
	// Read and written under the VM lock; host calls from other contexts find the maps absent otherwise.
	lent bool

	// Written by the guest (also from HTTP-call responses on other goroutines), read by the data plane: mu guards
	// them, since a response can arrive while the data plane looks.
	mu     sync.Mutex
	local  *LocalResponse
	reset  bool
	props  []prop
	resume chan struct{}

	owner struct { // the stream type embedding this core, for the host functions
		http *HTTPStream
		tcp  *TCPStream
	}
}

func (s *streamCore) init(ctx context.Context, p *Plugin, info StreamInfo) error {
	s.p, s.ctx, s.info = p, ctx, info
	s.mode, s.err, s.skip, s.lent = modeNormal, nil, 0, false
	s.mu.Lock()
	s.local, s.reset, s.props = nil, false, s.props[:0]
	s.mu.Unlock()
	if s.resume == nil {
		s.resume = make(chan struct{}, 1)
	}
	select {
	case <-s.resume:
	default:
	}
	v, err := p.g.pick(ctx, p) // counts this stream on v
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.v = nil
		s.fail(err)
		return nil
	}
	if err := v.acquire(ctx); err != nil {
		v.streams.Add(-1)
		return err
	}
	defer v.release()
	if v.dead.Load() {
		v.streams.Add(-1)
		s.v = nil
		s.fail(v.deathErr)
		return nil
	}
	root := v.rootFor(p)
	if root == nil { // the VM started while p was joining the group
		if err := v.startRoot(p); err != nil {
			v.streams.Add(-1)
			s.fail(err)
			return nil
		}
		root = v.rootFor(p)
	}
	s.v = v
	v.nextID++
	s.cs = ctxState{id: v.nextID, plugin: p, root: root, stream: s}
	v.contexts[s.cs.id] = &s.cs
	if _, err := v.call(&s.cs, cbContextCreate, uint64(s.cs.id), uint64(root.id), 0, 0, 0); err != nil && err != errMissingCallback {
		s.fail(err)
	} else {
		s.skip = v.skips()
	}
	return nil
}

// signal wakes Wait; it never blocks.
func (s *streamCore) signal() {
	select {
	case s.resume <- struct{}{}:
	default:
	}
}

// fail applies the plugin's fail strategy to this stream.
func (s *streamCore) fail(err error) abi.Action {
	if s.mode != modeNormal {
		return s.failedAction()
	}
	s.err = err
	s.p.log.Warn("wasm stream failed", "strategy", s.p.cfg.FailStrategy.String(), "error", err)
	if s.p.cfg.FailStrategy == FailOpen {
		s.mode = modeBypass
	} else {
		s.mode = modeFailed
		s.setLocal(&LocalResponse{StatusCode: 503, Details: "wasm_fail_closed", Body: []byte("wasm plugin " + s.p.cfg.Name + " failed\n")})
	}
	s.signal()
	return s.failedAction()
}

func (s *streamCore) failedAction() abi.Action {
	if s.mode == modeBypass {
		return abi.ActionContinue
	}
	return abi.ActionPause
}

// settle notices a VM that died while the stream was not in a callback (e.g. during an HTTP call).
func (s *streamCore) settle() {
	if s.mode == modeNormal && s.v != nil && s.v.dead.Load() {
		s.fail(s.v.deathErr)
	}
}

// invoke runs a stream callback and turns its result, or its failure, into an Action.
func (s *streamCore) invoke(cb int, a1, a2 uint64) abi.Action {
	if s.mode != modeNormal {
		return s.failedAction()
	}
	v := s.v
	if s.skip&(1<<cb) != 0 && !v.dead.Load() {
		return abi.ActionContinue // a no-op in the guest: what a missing callback gives
	}
	if err := v.acquire(s.ctx); err != nil {
		return s.fail(err)
	}
	if v.dead.Load() {
		v.release()
		return s.fail(v.deathErr)
	}
	s.lent = true
	r, err := v.call(&s.cs, cb, uint64(s.cs.id), a1, a2, 0, 0)
	answered := s.localResponse() != nil
	// After a Pause the data plane waits (Wait takes the maps back); a Pause of a body chunk before the end of the
	// stream is buffering, and the data plane goes on at once, as it does after Continue or a local response.
	buffering := (cb == cbRequestBody || cb == cbResponseBody) && a2 == 0
	s.lent = err == nil && !answered && !buffering && abi.Action(uint32(r)) != abi.ActionContinue
	v.release()
	switch {
	case err == errMissingCallback:
		return abi.ActionContinue
	case err != nil:
		return s.fail(err)
	case answered:
		return abi.ActionPause
	}
	if abi.Action(uint32(r)) == abi.ActionContinue {
		return abi.ActionContinue
	}
	return abi.ActionPause
}

// finish runs proxy_on_done, proxy_on_log and proxy_on_delete (Envoy's order) and unpins the stream from its VM.
// When proxy_on_done returns false the context outlives the stream: proxy_on_delete waits until the guest calls
// proxy_done (from a later callback, with proxy_set_effective_context), and the context keeps its place on the VM
// until then.
func (s *streamCore) finish(closeCallbacks func(v *vm)) {
	v := s.v
	if v == nil {
		return
	}
	s.v = nil
	if err := v.acquire(context.Background()); err != nil {
		return
	}
	defer v.release()
	s.lent = true // proxy_on_log reads the final headers
	if !v.dead.Load() && s.mode == modeNormal {
		id := uint64(s.cs.id)
		if closeCallbacks != nil {
			closeCallbacks(v)
		}
		done := s.skip&(1<<cbDone) != 0 || v.onDone(&s.cs)
		if s.skip&(1<<cbLog) == 0 {
			_, _ = v.call(&s.cs, cbLog, id, 0, 0, 0, 0)
		}
		if !done && !v.dead.Load() {
			// The stream (and s.cs in it) is recycled: the context lives on detached from it.
			v.contexts[s.cs.id] = &ctxState{id: s.cs.id, plugin: s.cs.plugin, root: s.cs.root, pendingDone: true}
			return
		}
		_, _ = v.call(&s.cs, cbDelete, id, 0, 0, 0, 0)
	}
	delete(v.contexts, s.cs.id)
	v.streams.Add(-1)
}

// Wait blocks until the module resumes a paused stream (proxy_continue_stream), answers it locally
// (proxy_send_local_response), or its VM fails; or until ctx ends. Check LocalResponse after it returns. While a
// stream is paused the module may still edit its headers and bodies (from an HTTP-call response, say): the data
// plane touches them again only after Wait returns nil.
func (s *streamCore) Wait(ctx context.Context) error {
	select {
	case <-s.resume:
		s.reclaim()
		s.settle()
		return nil
	case <-ctx.Done():
		s.reclaim()
		return ctx.Err()
	}
}

// reclaim takes the header maps and bodies back from the guest after a wait. The callback that resumed the stream
// may still be running on another goroutine (proxy_continue_stream wakes Wait at once): taking the VM lock waits
// for it to return, so the data plane never uses a map the guest is still editing.
func (s *streamCore) reclaim() {
	v := s.v
	if v == nil || v.acquire(context.Background()) != nil {
		return
	}
	s.lent = false
	v.release()
}

// Resumed delivers the signal Wait waits for (proxy_continue_stream, a local response, a failure, a close) to a
// data plane that must wait for other events at the same time: an L4 connection, whose other direction keeps
// running callbacks. Receiving consumes the signal as Wait does; check Err and ResetRequested afterwards.
func (s *streamCore) Resumed() <-chan struct{} { return s.resume }

// LocalResponse is the module's local answer (or the fail-closed 503), nil if the stream should proceed.
func (s *streamCore) LocalResponse() *LocalResponse {
	s.settle()
	return s.localResponse()
}

func (s *streamCore) localResponse() *LocalResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.local
}

func (s *streamCore) setLocal(lr *LocalResponse) {
	s.mu.Lock()
	s.local = lr
	s.mu.Unlock()
	s.signal()
}

// Property returns a property the module set on the stream with proxy_set_property, e.g. "upstream_cluster"
// (the routing hook the data plane reads).
func (s *streamCore) Property(path string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return findProp(s.props, path)
}

func findProp(props []prop, key string) ([]byte, bool) {
	for _, p := range props {
		if p.key == key {
			return p.value, true
		}
	}
	return nil, false
}

// Err is the failure that put the stream into its fail strategy, nil if none.
func (s *streamCore) Err() error { return s.err }

// Bypassed reports whether the filter is being skipped (FAIL_OPEN after a failure).
func (s *streamCore) Bypassed() bool { return s.mode == modeBypass }

// ResetRequested reports whether the module asked to close the stream (proxy_close_stream).
func (s *streamCore) ResetRequested() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reset
}

// HTTPStream is one HTTP (or HTTP-like, e.g. Dubbo) request/response exchange, pinned to one VM for its life.
// The data plane owns the header maps and bodies it passes in; the module edits them in place.
type HTTPStream struct {
	streamCore
	maps              [4]*abi.Headers // by abi.MapType: request headers and trailers, response headers and trailers
	reqBody, respBody *[]byte
	reqEnd, respEnd   bool
}

var httpStreams = sync.Pool{New: func() any { return new(HTTPStream) }}

// NewHTTPStream creates a stream context (proxy_on_context_create) on a VM of the plugin. Waiting for a VM
// ends with ctx. A plugin without a live VM yields a stream already in its fail strategy, not an error.
func (p *Plugin) NewHTTPStream(ctx context.Context, info StreamInfo) (*HTTPStream, error) {
	s := httpStreams.Get().(*HTTPStream)
	s.maps = [4]*abi.Headers{}
	s.reqBody, s.respBody, s.reqEnd, s.respEnd = nil, nil, false, false
	s.owner.http = s
	if err := s.init(ctx, p, info); err != nil {
		httpStreams.Put(s)
		return nil, err
	}
	return s, nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// OnRequestHeaders runs proxy_on_request_headers. h stays in use by the stream until Done: the module reads and
// edits it during its callbacks, while the data plane waits after a Pause, and in proxy_on_log.
func (s *HTTPStream) OnRequestHeaders(h *abi.Headers, endOfStream bool) abi.Action {
	s.maps[abi.MapHTTPRequestHeaders] = h
	s.reqEnd = endOfStream
	return s.invoke(cbRequestHeaders, uint64(len(*h)), b2u(endOfStream))
}

// OnRequestBody runs proxy_on_request_body; body holds what has arrived so far and may be rewritten.
func (s *HTTPStream) OnRequestBody(body *[]byte, endOfStream bool) abi.Action {
	s.reqBody = body
	s.reqEnd = endOfStream
	return s.invoke(cbRequestBody, uint64(len(*body)), b2u(endOfStream))
}

// OnRequestTrailers runs proxy_on_request_trailers.
func (s *HTTPStream) OnRequestTrailers(t *abi.Headers) abi.Action {
	s.maps[abi.MapHTTPRequestTrailers] = t
	s.reqEnd = true
	return s.invoke(cbRequestTrailers, uint64(len(*t)), 0)
}

// OnResponseHeaders runs proxy_on_response_headers.
func (s *HTTPStream) OnResponseHeaders(h *abi.Headers, endOfStream bool) abi.Action {
	s.maps[abi.MapHTTPResponseHeaders] = h
	s.respEnd = endOfStream
	return s.invoke(cbResponseHeaders, uint64(len(*h)), b2u(endOfStream))
}

// OnResponseBody runs proxy_on_response_body.
func (s *HTTPStream) OnResponseBody(body *[]byte, endOfStream bool) abi.Action {
	s.respBody = body
	s.respEnd = endOfStream
	return s.invoke(cbResponseBody, uint64(len(*body)), b2u(endOfStream))
}

// OnResponseTrailers runs proxy_on_response_trailers.
func (s *HTTPStream) OnResponseTrailers(t *abi.Headers) abi.Action {
	s.maps[abi.MapHTTPResponseTrailers] = t
	s.respEnd = true
	return s.invoke(cbResponseTrailers, uint64(len(*t)), 0)
}

// Done ends the stream (proxy_on_done, proxy_on_log, proxy_on_delete). The stream must not be used afterwards:
// it is recycled.
func (s *HTTPStream) Done() {
	if s.p == nil {
		return // already done: do not recycle twice
	}
	s.finish(nil)
	s.p = nil
	s.maps, s.reqBody, s.respBody = [4]*abi.Headers{}, nil, nil
	s.info = StreamInfo{}
	s.ctx = nil
	httpStreams.Put(s)
}

// TCPStream is one L4 connection, pinned to one VM for its life. The data plane passes the bytes read in each
// direction; the module may rewrite them in place.
type TCPStream struct {
	streamCore
	downstream, upstream       *[]byte
	downstreamEnd, upstreamEnd bool
	closedDown, closedUp       bool
}

// NewTCPStream creates a connection context on a VM of the plugin.
func (p *Plugin) NewTCPStream(ctx context.Context, info StreamInfo) (*TCPStream, error) {
	s := &TCPStream{}
	s.owner.tcp = s
	if err := s.init(ctx, p, info); err != nil {
		return nil, err
	}
	return s, nil
}

// OnNewConnection runs proxy_on_new_connection.
func (s *TCPStream) OnNewConnection() abi.Action { return s.invoke(cbNewConnection, 0, 0) }

// OnDownstreamData runs proxy_on_downstream_data with the bytes read from the client.
func (s *TCPStream) OnDownstreamData(data *[]byte, endOfStream bool) abi.Action {
	s.downstream, s.downstreamEnd = data, endOfStream
	return s.invoke(cbDownstreamData, uint64(len(*data)), b2u(endOfStream))
}

// OnUpstreamData runs proxy_on_upstream_data with the bytes read from the server.
func (s *TCPStream) OnUpstreamData(data *[]byte, endOfStream bool) abi.Action {
	s.upstream, s.upstreamEnd = data, endOfStream
	return s.invoke(cbUpstreamData, uint64(len(*data)), b2u(endOfStream))
}

// OnDownstreamClose runs proxy_on_downstream_connection_close.
func (s *TCPStream) OnDownstreamClose(peer abi.PeerType) {
	if !s.closedDown {
		s.closedDown = true
		s.invoke(cbDownstreamClose, uint64(peer), 0)
	}
}

// OnUpstreamClose runs proxy_on_upstream_connection_close.
func (s *TCPStream) OnUpstreamClose(peer abi.PeerType) {
	if !s.closedUp {
		s.closedUp = true
		s.invoke(cbUpstreamClose, uint64(peer), 0)
	}
}

// Done ends the connection's context.
func (s *TCPStream) Done() { s.finish(nil) }
