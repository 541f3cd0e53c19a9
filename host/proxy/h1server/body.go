package h1server

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// body is a request body read from the connection: Content-Length or chunked (with trailers), sending
// "100 Continue" before the first read when the client asked for it. It is allocated per request that has a
// body, so a reader left behind by the handler (a transport still writing upstream) can only ever see its own
// request's bytes; after the request ends its reads fail with http.ErrBodyReadAfterClose.
type body struct {
	mu        sync.Mutex
	c         *conn
	br        *bufio.Reader
	remaining int64 // Content-Length bytes left, or in chunked mode the current chunk's bytes left
	chunked   bool
	inChunk   bool // chunked: inside a chunk's data
	eof       bool
	done      atomic.Bool // eof, readable without the lock
	closed    bool
	err       error
	expect100 bool
	trailer   *http.Header
}

var errChunk = errors.New("malformed chunked request body")

// maxChunkLine bounds a chunk-size line with its extensions.
const maxChunkLine = 4096

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.eof {
		return 0, io.EOF
	}
	if b.expect100 {
		b.expect100 = false
		b.c.sendContinue()
	}
	n, err := b.read(p)
	if err != nil {
		b.err = err
		if err == io.EOF {
			b.eof = true
			b.done.Store(true)
		}
	}
	return n, err
}

func (b *body) read(p []byte) (int, error) {
	if !b.chunked {
		if int64(len(p)) > b.remaining {
			p = p[:b.remaining]
		}
		n, err := b.br.Read(p)
		b.remaining -= int64(n)
		if b.remaining == 0 {
			return n, io.EOF
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	}
	for !b.inChunk {
		size, err := b.chunkSize()
		if err != nil {
			return 0, err
		}
		if size == 0 {
			return 0, b.readTrailer()
		}
		b.remaining, b.inChunk = size, true
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	if b.remaining == 0 {
		b.inChunk = false
		if err := b.crlf(); err != nil {
			return n, err
		}
		// The next chunk's size line is read by the next call, so a chunk reaches the handler as soon as it
		// arrives, without waiting for the following one.
		return n, nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// chunkSize reads a chunk-size line (RFC 9112 7.1), ignoring chunk extensions.
func (b *body) chunkSize() (int64, error) {
	line, err := b.br.ReadSlice('\n')
	if err != nil {
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return 0, errChunk // a size line longer than the read buffer, far past maxChunkLine
		case err == io.EOF || len(line) > 0:
			return 0, io.ErrUnexpectedEOF
		}
		return 0, err
	}
	if len(line) > maxChunkLine {
		return 0, errChunk
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	var size int64
	digits := 0
	for _, c := range line {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		case c == ';' || c == ' ' || c == '\t':
			if digits == 0 {
				return 0, errChunk
			}
			return size, nil
		default:
			return 0, errChunk
		}
		if digits++; digits > 15 {
			return 0, errChunk // more than 2^60 bytes: not a real chunk
		}
		size = size<<4 | int64(d)
	}
	if digits == 0 {
		return 0, errChunk
	}
	return size, nil
}

func (b *body) crlf() error {
	c, err := b.br.ReadByte()
	if err == nil && c == '\r' {
		c, err = b.br.ReadByte()
	}
	if err != nil {
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if c != '\n' {
		return errChunk
	}
	return nil
}

// readTrailer reads the trailer section after the last chunk into the request's Trailer, with the head's
// limits, and returns io.EOF.
func (b *body) readTrailer() error {
	var t http.Header
	if *b.trailer != nil {
		t = *b.trailer
	} else {
		t = http.Header{}
	}
	if err := b.c.parser.fields(b.br, t, false, nil); err != nil {
		var re *requestError
		if errors.As(err, &re) {
			return errors.New("request trailer: " + re.reason)
		}
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if len(t) > 0 {
		*b.trailer = t
	}
	return io.EOF
}

func (b *body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// finish ends the body when the handler is done and reports whether the connection can serve another request:
// the rest of the body is read and dropped when it is small and was asked for (or no 100 Continue is awaited).
// A read still running elsewhere (a transport writing upstream) is cut by a past read deadline.
func (b *body) finish() bool {
	if !b.mu.TryLock() {
		b.c.setReadDeadline(aLongTimeAgo)
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		return false
	}
	defer b.mu.Unlock()
	b.closed = true
	if b.eof {
		return true
	}
	if b.err != nil || b.expect100 {
		return false // the client waits for a 100 Continue that will not come; it may still send the body
	}
	var discarded int64
	b.c.setReadDeadline(time.Now().Add(discardTimeout))
	for discarded < maxDiscard {
		n, err := b.read(b.c.scratch[:])
		discarded += int64(n)
		if err == io.EOF {
			b.eof = true
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}

// maxDiscard is how much of an unread request body the server reads to keep the connection (net/http's
// figure).
const maxDiscard = 256 << 10

// discardTimeout bounds the wait for the rest of an unread body.
const discardTimeout = 5 * time.Second
