package filter

import "time"

// BodyResult says what became of a body chunk given to RequestData or ResponseData.
type BodyResult uint8

const (
	// BodyForward: the returned bytes go on (they may be empty when a filter holds the chunk).
	BodyForward BodyResult = iota
	// BodyStopped: a filter answered locally (see Stream.LocalResponse), or the stream ended while a filter
	// held it paused. Nothing more of the body should be sent.
	BodyStopped
	// BodyOverflow: a filter held more than the limit. The proxy answers 413 for a request, 500 for a
	// response (Envoy's choices), or resets a response whose headers are already sent.
	BodyOverflow
)

// RequestData runs one chunk of the request body through the filters that want request bodies, in chain
// order, as proxy-wasm's on_request_body: end is true for the last chunk (which may be empty).
//
// A filter sees, in Stream.RequestBody, the bytes it holds followed by the new chunk, and may replace them. When
// it returns Continue those bytes go on to the next filter and it holds nothing. When it returns Pause before the
// end of the stream (proxy-wasm's StopIterationAndBuffer) the chain copies the bytes into the filter's own buffer
// and forwards nothing; on the next chunk the filter sees everything it held plus the new bytes. A Pause on the
// last chunk waits for Stream.Resume, as for headers. No filter may hold more than limit bytes.
//
// chunk is only read during the call; the returned bytes are valid until the next call for the same direction
// or the end of the stream. RequestData may run on another goroutine than the stream's other callbacks (the
// transport reading the request body while the response arrives): the chain never runs two callbacks of one
// stream at once.
func (c *Chain) RequestData(s *Stream, chunk []byte, end bool, limit int) ([]byte, BodyResult) {
	return c.data(s, cbRequestBody, chunk, end, limit)
}

// ResponseData is RequestData for the response body, with the filters in reverse order.
func (c *Chain) ResponseData(s *Stream, chunk []byte, end bool, limit int) ([]byte, BodyResult) {
	return c.data(s, cbResponseBody, chunk, end, limit)
}

func (c *Chain) data(s *Stream, cb callback, chunk []byte, end bool, limit int) ([]byte, BodyResult) {
	idx := c.by[cb]
	if len(idx) == 0 {
		return chunk, BodyForward
	}
	s.lock()
	defer s.unlock()
	response := cb == cbResponseBody
	dir := 0
	if response {
		dir = 1
	}
	for len(s.held[dir]) < len(idx) {
		s.held[dir] = append(s.held[dir], nil)
	}
	held := s.held[dir]
	data := chunk
	for n := range idx {
		k := n
		if response {
			k = len(idx) - 1 - n
		}
		i := idx[k]
		h := &held[k]
		holding := len(*h) > 0
		if holding {
			*h = append(*h, data...)
			data = *h
		}
		body := &s.RequestBody
		if response {
			body = &s.ResponseBody
		}
		*body = data
		s.cur = i
		e := &c.entries[i]
		var start time.Time
		if e.Observe != nil {
			start = time.Now()
		}
		var a Action
		if response {
			a = e.Filter.OnResponseBody(s, end)
		} else {
			a = e.Filter.OnRequestBody(s, end)
		}
		if e.Observe != nil {
			e.Observe(time.Since(start).Seconds())
		}
		if a == Pause && end {
			// Wait for Resume without the callback lock, so the other direction's callbacks can run.
			s.unlock()
			ok := s.wait()
			s.lock()
			if !ok {
				return nil, BodyStopped
			}
		}
		if s.LocalResponse() != nil {
			if s.Info.LocalReplyBy == "" {
				s.Info.LocalReplyBy = e.Name
			}
			return nil, BodyStopped
		}
		data = *body
		if a == Pause && !end {
			// The copy is needed: chunk is the caller's read buffer, reused for the next read. When the
			// filter was already holding, data starts at *h and the copy moves nothing.
			*h = append((*h)[:0], data...)
			if len(*h) > limit {
				return nil, BodyOverflow
			}
			return nil, BodyForward
		}
		// Forwarded: the filter holds nothing now. data may still point into *h's array; it is consumed before
		// the filter can hold again (on a later call).
		*h = (*h)[:0]
	}
	return data, BodyForward
}
