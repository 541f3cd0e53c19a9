package httpproxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/filter"
)

// Bodies reach filters in chunks, as they arrive (proxy-wasm's on_request_body and on_response_body), and only
// when some filter of the chain wants a body or trailers; otherwise they stream through untouched.
//
// The first chunks are filtered on the handler's goroutine until either the body ends or some bytes are ready
// to go on. A body that ends first (small bodies, or a filter that holds the whole body) is sent with an exact
// Content-Length and can be replayed on retries. Otherwise the bytes stream on (chunked, since filters may
// change the length): a request body through a pipe fed by a pump goroutine, as the transport reads it while
// the response may already arrive; a response body from the handler's goroutine.

// pipeResult is how reading a body through the filters went.
type pipeResult uint8

const (
	pipeOK pipeResult = iota
	pipeReadError
	pipeStopped  // a filter answered locally, or the stream ended while paused
	pipeOverflow // a filter held more than max_buffer_bytes
)

// bodyPipe reads one body from its source and runs each chunk through the chain's body callbacks.
type bodyPipe struct {
	chain     *filter.Chain
	s         *filter.Stream
	src       io.Reader
	response  bool
	limit     int
	remaining int64 // bytes still to come when the length is known (so the last chunk says end), else -1
	buf       []byte
	// trailer points at the request's or response's Trailer field, read once the body has ended (net/http
	// fills it in then) and run through the chain when it wants trailers.
	trailer  *http.Header
	trailers *filter.MapHeaders
	done     bool
}

func (p *bodyPipe) init(chain *filter.Chain, s *filter.Stream, src io.Reader, length int64, response bool, limit int,
	buf []byte, trailers *filter.MapHeaders, trailer *http.Header) {
	*p = bodyPipe{chain: chain, s: s, src: src, response: response, limit: limit, remaining: length, buf: buf,
		trailers: trailers, trailer: trailer}
	if length < 0 {
		p.remaining = -1
	}
}

// next reads and filters one chunk. It returns the bytes to forward (valid until the next call) and whether the
// body has ended.
func (p *bodyPipe) next() ([]byte, bool, pipeResult) {
	if p.done {
		return nil, true, pipeOK
	}
	n, err := p.src.Read(p.buf)
	if err != nil && err != io.EOF {
		return nil, false, pipeReadError
	}
	end := err == io.EOF
	if p.remaining >= 0 {
		p.remaining -= int64(n)
		if !end && p.remaining <= 0 {
			end = true
			if p.wantsTrailers() {
				// The length is reached, but trailers (HTTP/2 allows them with a Content-Length) come after the
				// last data: read on to the end of the stream, which net/http's length-limited bodies report
				// at once.
				var one [1]byte
				_, _ = p.src.Read(one[:])
			}
		}
	}
	if n == 0 && !end {
		return nil, false, pipeOK
	}
	var out []byte
	var res filter.BodyResult
	if p.response {
		out, res = p.chain.ResponseData(p.s, p.buf[:n], end, p.limit)
	} else {
		out, res = p.chain.RequestData(p.s, p.buf[:n], end, p.limit)
	}
	switch res {
	case filter.BodyStopped:
		return nil, false, pipeStopped
	case filter.BodyOverflow:
		return nil, false, pipeOverflow
	}
	if end {
		p.done = true
		if !p.runTrailers() {
			return nil, false, pipeStopped
		}
	}
	return out, end, pipeOK
}

func (p *bodyPipe) wantsTrailers() bool {
	if p.response {
		return p.chain.Wants()&filter.WantResponseTrailers != 0
	}
	return p.chain.Wants()&filter.WantRequestTrailers != 0
}

// runTrailers runs the trailer callbacks when the peer sent trailers and a filter wants them.
func (p *bodyPipe) runTrailers() bool {
	t := *p.trailer
	if len(t) == 0 {
		return true
	}
	if !p.wantsTrailers() {
		return true
	}
	p.trailers.H = t
	if p.response {
		p.s.ResponseTrailers = p.trailers
		return p.chain.ResponseTrailers(p.s)
	}
	p.s.RequestTrailers = p.trailers
	return p.chain.RequestTrailers(p.s)
}

// prefetch filters chunks until some bytes are ready to go on or the body ends.
func (p *bodyPipe) prefetch() (first []byte, end bool, res pipeResult) {
	for {
		out, end, res := p.next()
		if res != pipeOK || end || len(out) > 0 {
			return out, end, res
		}
	}
}

// requestPump streams a request body through the filters into a pipe the transport reads. The handler must call
// stop before the stream is reused: it ends the pump and waits for it.
type requestPump struct {
	pipe    *bodyPipe
	pr      *io.PipeReader
	pw      *io.PipeWriter
	done    chan struct{}
	result  atomic.Uint32 // a pipeResult, set before the pipe is closed with errFilteredBody
	cancel  context.CancelFunc
	control *http.ResponseController
}

var errFilteredBody = errors.New("request body stopped by the filter chain")

// startPump starts streaming the rest of the body, first written ahead. The stream's context is replaced by one
// stop can end, so that a filter paused on the body lets go when the exchange is over.
func startPump(p *bodyPipe, first []byte, w http.ResponseWriter) *requestPump {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(p.s.Context())
	p.s.SetConcurrent(ctx)
	rp := &requestPump{pipe: p, pr: pr, pw: pw, done: make(chan struct{}), cancel: cancel,
		control: http.NewResponseController(w)}
	// An upstream may answer while it still reads the request (an echo, a long upload with progress): without
	// this, net/http's HTTP/1 server would stop the request body once the response head is written.
	_ = rp.control.EnableFullDuplex()
	go rp.run(first)
	return rp
}

func (rp *requestPump) run(first []byte) {
	defer close(rp.done)
	if _, err := rp.pw.Write(first); err != nil {
		return
	}
	for {
		out, end, res := rp.pipe.next()
		if res != pipeOK {
			rp.result.Store(uint32(res))
			rp.pw.CloseWithError(errFilteredBody)
			return
		}
		if len(out) > 0 {
			if _, err := rp.pw.Write(out); err != nil {
				return // the transport stopped reading: the exchange failed or is over
			}
		}
		if end {
			rp.pw.Close()
			return
		}
	}
}

// failure reports why the pump stopped the body, pipeOK if it did not.
func (rp *requestPump) failure() pipeResult { return pipeResult(rp.result.Load()) }

// stop ends the pump if it still runs (the exchange ended before the request body did) and waits for it: reads
// from the client are cut by a past read deadline, writes by closing the pipe, filter waits by the context.
func (rp *requestPump) stop() {
	select {
	case <-rp.done:
	default:
		rp.pr.CloseWithError(context.Canceled)
		_ = rp.control.SetReadDeadline(time.Unix(1, 0))
		rp.cancel()
		<-rp.done
	}
	rp.cancel()
}

// heldBody is a request body the proxy holds whole, for the first attempt and its retries. net/http's transport
// may still read a request body after RoundTrip returned (the upstream answered before reading it all), while the
// bytes live in pooled state the next request reuses: the handler detaches the body before it returns, and later
// reads see its end.
type heldBody struct {
	mu   sync.Mutex
	data []byte
}

func (h *heldBody) detach() {
	h.mu.Lock()
	h.data = nil
	h.mu.Unlock()
}

// view is a reader of the whole body for one attempt.
func (h *heldBody) view() io.ReadCloser { return &heldView{h: h} }

type heldView struct {
	h   *heldBody
	off int
}

func (v *heldView) Read(p []byte) (int, error) {
	v.h.mu.Lock()
	defer v.h.mu.Unlock()
	if v.off >= len(v.h.data) {
		return 0, io.EOF
	}
	n := copy(p, v.h.data[v.off:])
	v.off += n
	return n, nil
}

func (v *heldView) Close() error { return nil }

// readForReplay reads a body of unknown or small length whole, up to max bytes, so that retries can replay it
// (replayable). A longer one is sent as it comes, body being what was read and then the rest. Either way the
// bytes read live in pooled memory: the caller detaches h when the exchange is over.
func readForReplay(st *state, src io.ReadCloser, max int) (h *heldBody, body io.ReadCloser, replayable bool, res pipeResult) {
	st.reqBody.Reset()
	n, err := st.reqBody.ReadFrom(io.LimitReader(src, int64(max)+1))
	if err != nil {
		return nil, nil, false, pipeReadError
	}
	h = &heldBody{data: st.reqBody.Bytes()}
	if n <= int64(max) {
		return h, nil, true, pipeOK
	}
	return h, struct {
		io.Reader
		io.Closer
	}{io.MultiReader(h.view(), src), src}, false, pipeOK
}
