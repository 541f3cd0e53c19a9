package filter

import "context"

// Action is what a callback tells the chain.
type Action uint8

const (
	// Continue passes the stream to the next filter.
	Continue Action = iota
	// Pause stops iteration until the filter calls Stream.Resume (for example after an HTTP callout) or sends a
	// local response. It maps to proxy-wasm's StopIteration / Pause.
	Pause
)

// Wants says which callbacks a filter needs. The chain skips the others entirely; the proxy reads a body through
// the chain only when a filter wants it, so header-only filters cost nothing for bodies.
type Wants uint8

const (
	WantRequestHeaders Wants = 1 << iota
	WantRequestBody
	WantRequestTrailers
	WantResponseHeaders
	WantResponseBody
	WantResponseTrailers
	WantDone

	WantAll = WantRequestHeaders | WantRequestBody | WantRequestTrailers | WantResponseHeaders |
		WantResponseBody | WantResponseTrailers | WantDone
)

// Filter is one configured filter of a chain. Native Go filters and the Wasm adapter implement it. A Filter is
// shared by every stream of a chain and must be safe for concurrent use; per-stream state goes in Stream.State.
//
// Callbacks of one stream never run at once (a streamed request body may be filtered on another goroutine than
// the response; the chain then serializes them). Request callbacks run in chain order, response callbacks in
// reverse order (as Envoy's encoder filters do). Each gets the stream; headers, bodies and trailers are read and
// changed through it. Body callbacks get one chunk at a time, with end of stream on the last; returning Pause
// before the end makes the chain hold the bytes and offer them again with the next chunk (Chain.RequestData).
type Filter interface {
	Wants() Wants
	OnRequestHeaders(s *Stream, endOfStream bool) Action
	OnRequestBody(s *Stream, endOfStream bool) Action
	OnRequestTrailers(s *Stream) Action
	OnResponseHeaders(s *Stream, endOfStream bool) Action
	OnResponseBody(s *Stream, endOfStream bool) Action
	OnResponseTrailers(s *Stream) Action
	// OnDone runs once when the stream ends, whatever happened (proxy-wasm's on_log and on_done).
	OnDone(s *Stream)
}

// Base answers Continue to every callback; native filters embed it and override what they need.
type Base struct{}

func (Base) OnRequestHeaders(*Stream, bool) Action  { return Continue }
func (Base) OnRequestBody(*Stream, bool) Action     { return Continue }
func (Base) OnRequestTrailers(*Stream) Action       { return Continue }
func (Base) OnResponseHeaders(*Stream, bool) Action { return Continue }
func (Base) OnResponseBody(*Stream, bool) Action    { return Continue }
func (Base) OnResponseTrailers(*Stream) Action      { return Continue }
func (Base) OnDone(*Stream)                         {}

// Status is what a filter reports about itself for the admin API's /filters (optional: a Filter that
// implements Describer is asked).
type Status struct {
	ModuleDigest string `json:"module_digest,omitempty"`
	ABI          string `json:"abi,omitempty"`
	VMs          int    `json:"vms,omitempty"`
	MemoryBytes  uint64 `json:"memory_bytes,omitempty"`
	State        string `json:"state"`
	LastError    string `json:"last_error,omitempty"`
	// Calls counts the streams (connections on tcp listeners) the filter ran on since it was built; Failures
	// those it failed: the module trapped or ran out of time, no VM could serve it (the fail strategy
	// applied), or it answered locally with a 5xx. The operator's error-rate rollback reads them.
	Calls    uint64 `json:"calls"`
	Failures uint64 `json:"failures"`
	// Instance tells builds of a filter apart: every reload builds new instances whose counters start at zero.
	Instance uint64 `json:"instance,omitempty"`
}

// Describer is implemented by filters that have more to say than "ok" (the Wasm adapter: digest, VMs, errors).
type Describer interface {
	Describe() Status
}

// Closer is implemented by filters that hold resources (VMs). The proxy closes a filter after the last stream of
// the configuration that built it has finished.
type Closer interface {
	Close(ctx context.Context) error
}
