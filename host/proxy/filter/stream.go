package filter

import (
	"context"
	"crypto/tls"
	"sync"
	"sync/atomic"
)

// Info is what the proxy knows about a stream. The Wasm adapter shows these as proxy-wasm properties
// (source.address, destination.address, connection.tls_version, route_name, cluster_name, upstream_cluster).
type Info struct {
	Protocol    string // "HTTP/1.1", "HTTP/2.0", "dubbo"
	Listener    string
	Route       string // the matched route's name; empty when none matched
	Cluster     string // the cluster the stream goes to, once chosen
	Source      string // client ip:port
	Destination string // local ip:port the client connected to
	TLS         *tls.ConnectionState
	// UpstreamCluster, when a filter sets it, overrides the route's cluster (proxy-wasm property
	// "upstream_cluster"). Set it through Stream.SetUpstreamCluster.
	UpstreamCluster string
	// ResponseCode is the status sent to the client, for on_done and the access log.
	ResponseCode int
	// LocalReplyBy names the filter that answered locally, for the access log.
	LocalReplyBy string
}

// LocalResponse is a reply a filter sends instead of forwarding the request.
type LocalResponse struct {
	Status  int
	Headers [][2]string
	Body    []byte
	Details string // why, for logs (proxy-wasm's status details)
}

// Stream is one request/response (or one Dubbo call) passing a chain. The proxy owns it and reuses it after the
// stream is done: filters must not keep it, nor anything it returns, past OnDone.
type Stream struct {
	Info Info

	RequestHeaders   Headers
	RequestBody      []byte // during OnRequestBody: what the filter holds plus the new chunk; filters may replace it
	RequestTrailers  Headers
	ResponseHeaders  Headers
	ResponseBody     []byte // during OnResponseBody: likewise for the response
	ResponseTrailers Headers

	ctx    context.Context
	cur    int   // index of the filter being called, for State
	state  []any // per-filter stream state
	resume chan struct{}
	// cbMu is held while a callback runs once the stream is concurrent (SetConcurrent): request-body chunks
	// may then be filtered on another goroutine while the response arrives on the stream's, and a filter must
	// never see two callbacks at once. Streams that stay on one goroutine skip the lock.
	cbMu       sync.Mutex
	concurrent bool
	// held are the body bytes each body filter holds (StopIterationAndBuffer), request [0] and response [1],
	// indexed like the chain's list of body filters.
	held [2][][]byte

	mu       sync.Mutex
	hasLocal atomic.Bool // read on every callback without taking mu
	local    *LocalResponse
	lr       LocalResponse // storage for local, so a reply does not allocate
}

// maxPooledHeld is the largest body buffer a pooled Stream keeps for its next use.
const maxPooledHeld = 64 << 10

// NewStream returns an empty Stream; the proxy pools them.
func NewStream() *Stream {
	return &Stream{resume: make(chan struct{}, 1)}
}

// Reset prepares s for a new stream with its request headers.
func (s *Stream) Reset(ctx context.Context, req Headers, info Info) {
	s.Info = info
	s.RequestHeaders = req
	s.RequestBody, s.RequestTrailers = nil, nil
	s.ResponseHeaders, s.ResponseBody, s.ResponseTrailers = nil, nil, nil
	s.ctx = ctx
	s.concurrent = false
	s.cur = 0
	clear(s.state)
	s.state = s.state[:0]
	for d := range s.held {
		for i, h := range s.held[d] {
			if cap(h) > maxPooledHeld {
				h = nil // do not keep a large body alive in the pool
			}
			s.held[d][i] = h[:0]
		}
	}
	select {
	case <-s.resume:
	default:
	}
	if s.hasLocal.Load() {
		s.hasLocal.Store(false)
		s.local = nil
		s.lr = LocalResponse{}
	}
}

// Context is the stream's context: it ends when the client goes away or the stream times out.
func (s *Stream) Context() context.Context { return s.ctx }

// SetConcurrent replaces the stream's context with ctx, which the proxy can end itself (a stream whose request
// body is still being filtered when its response is done), and tells the chain that callbacks may from now on
// come from two goroutines, so that it runs them one at a time. Call it between callbacks, before the second
// goroutine starts.
func (s *Stream) SetConcurrent(ctx context.Context) {
	s.ctx = ctx
	s.concurrent = true
}

func (s *Stream) lock() {
	if s.concurrent {
		s.cbMu.Lock()
	}
}

func (s *Stream) unlock() {
	if s.concurrent {
		s.cbMu.Unlock()
	}
}

// State returns the calling filter's per-stream value (nil until SetState).
func (s *Stream) State() any {
	if s.cur < len(s.state) {
		return s.state[s.cur]
	}
	return nil
}

// SetState stores the calling filter's per-stream value (for example a Wasm VM and context id).
func (s *Stream) SetState(v any) {
	for len(s.state) <= s.cur {
		s.state = append(s.state, nil)
	}
	s.state[s.cur] = v
}

// SetUpstreamCluster overrides the route's cluster for this stream. The proxy checks the name when it forwards
// and answers 503 for an unknown cluster.
func (s *Stream) SetUpstreamCluster(name string) { s.Info.UpstreamCluster = name }

// SendLocalResponse answers the stream without forwarding it (or replaces the upstream's response). It may be
// called from another goroutine while the filter has paused the stream; the chain then stops iterating.
func (s *Stream) SendLocalResponse(status int, headers [][2]string, body []byte, details string) {
	s.mu.Lock()
	s.lr = LocalResponse{Status: status, Headers: headers, Body: body, Details: details}
	s.local = &s.lr
	s.hasLocal.Store(true)
	s.mu.Unlock()
	s.Resume()
}

// LocalResponse returns the reply a filter sent, or nil.
func (s *Stream) LocalResponse() *LocalResponse {
	if !s.hasLocal.Load() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.local
}

// Resume continues a paused stream with the filter after the one that paused. Safe from any goroutine; calling
// it when the stream is not paused has no effect beyond waking the next pause.
func (s *Stream) Resume() {
	select {
	case s.resume <- struct{}{}:
	default:
	}
}

// wait blocks a paused stream until Resume or the end of its context.
func (s *Stream) wait() bool {
	select {
	case <-s.resume:
		return true
	case <-s.ctx.Done():
		return false
	}
}
