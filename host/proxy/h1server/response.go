package h1server

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/wasmesh/wasmesh/host/proxy/internal/httpfield"
)

// response is the connection's http.ResponseWriter, reused for every request of the connection. Besides the
// interface it offers what http.ResponseController looks for: Flush (FlushError), Hijack, SetReadDeadline,
// SetWriteDeadline and EnableFullDuplex (reading the body after the response started always works here).
//
// The head is written lazily: a small body written before the handler returns gets an exact Content-Length (as
// net/http does for bodies under 2 KiB); a larger or flushed one without Content-Length goes chunked (HTTP/1.1)
// or ends with the connection (HTTP/1.0).
type response struct {
	c      *conn
	req    *http.Request
	header http.Header
	status int

	wroteHeader bool // a final status was set
	headWritten bool // the head is in the write buffer
	chunked     bool
	noBody      bool  // HEAD, 1xx, 204, 304: body bytes are dropped
	length      int64 // declared Content-Length, -1 if none
	written     int64
	closeAfter  bool
	hijacked    bool
	fullDuplex  bool
	err         error // a write to the client failed
	pending     []byte
	num         [20]byte // formats lengths without allocating
}

// pendingMax is the body a response may buffer before its head is decided.
const pendingMax = 2048

var errHijacked = errors.New("h1server: connection hijacked")

func (w *response) reset(req *http.Request) {
	clear(w.header)
	*w = response{c: w.c, req: req, header: w.header, pending: w.pending[:0], length: -1}
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.hijacked || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("h1server: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.wroteHeader, w.status = true, code
}

// writeInformational sends a 1xx response (103 Early Hints, 100 Continue) with the current headers at once.
func (w *response) writeInformational(code int) {
	if code == http.StatusContinue && !w.c.continueUnsent() {
		return
	}
	bw := w.c.bw
	bw.WriteString(statusLine(code))
	writeFields(bw, w.header)
	bw.WriteString("\r\n")
	w.flushErr(bw.Flush())
}

func (w *response) flushErr(err error) {
	if err != nil && w.err == nil {
		w.err = err
	}
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, errHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if !w.headWritten {
		if w.length < 0 && !w.noBodyStatus() && w.declaredLength() < 0 && len(w.pending)+len(p) <= pendingMax {
			w.pending = append(w.pending, p...)
			return len(p), nil
		}
		w.writeHead(false)
		if w.err != nil {
			return 0, w.err
		}
	}
	return w.writeBody(p)
}

func (w *response) writeBody(p []byte) (int, error) {
	if w.noBody {
		return len(p), nil
	}
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		return 0, http.ErrContentLength
	}
	if len(p) == 0 {
		return 0, nil
	}
	w.written += int64(len(p))
	bw := w.c.bw
	if w.chunked {
		bw.Write(strconv.AppendInt(w.num[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
		bw.Write(p)
		_, err := bw.WriteString("\r\n")
		if err != nil {
			w.flushErr(err)
			return 0, err
		}
		return len(p), nil
	}
	n, err := bw.Write(p)
	w.flushErr(err)
	return n, err
}

func (w *response) noBodyStatus() bool {
	return w.status == http.StatusNoContent || w.status == http.StatusNotModified ||
		w.status < 200 || w.req.Method == http.MethodHead
}

// declaredLength is the handler's Content-Length header, -1 if absent or invalid.
func (w *response) declaredLength() int64 {
	v, ok := w.header["Content-Length"]
	if !ok || len(v) == 0 {
		return -1
	}
	n, ok := parseLength(httpfield.TrimOWS(v[0]))
	if !ok {
		return -1
	}
	return n
}

// writeHead decides the framing and writes the status line and fields. final means the handler returned, so the
// pending bytes are the whole body.
func (w *response) writeHead(final bool) {
	w.headWritten = true
	w.c.startResponse()
	h := w.header
	w.noBody = w.noBodyStatus()
	if w.c.srv.shuttingDown() || w.req.Close {
		w.closeAfter = true
	}
	if b := w.c.body; b != nil && !w.fullDuplex && !b.done.Load() &&
		(w.req.ContentLength < 0 || w.req.ContentLength > maxDiscard) {
		// An answer before a large body was read (a refusal): dropping the rest would take too long.
		w.closeAfter = true
	}
	if n := w.declaredLength(); n >= 0 {
		w.length = n
	} else {
		delete(h, "Content-Length")
		switch {
		case w.noBody:
		case final:
			w.length = int64(len(w.pending)) // written below, without a map entry to allocate
		case w.req.ProtoMinor >= 1:
			w.chunked = true
		default:
			w.closeAfter = true // HTTP/1.0 without a length: the body ends with the connection
		}
	}
	delete(h, "Transfer-Encoding")
	if v, ok := h["Connection"]; ok {
		for _, s := range v {
			if httpfield.HasToken(s, "close") {
				w.closeAfter = true
			}
		}
	}
	bw := w.c.bw
	bw.WriteString(statusLine(w.status))
	writeFields(bw, h)
	if _, ok := h["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.Write(w.c.srv.date())
		bw.WriteString("\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	} else if _, ok := h["Content-Length"]; !ok && w.length >= 0 {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(w.num[:0], w.length, 10))
		bw.WriteString("\r\n")
	}
	if _, ok := h["Connection"]; !ok {
		if w.closeAfter {
			bw.WriteString("Connection: close\r\n")
		} else if w.req.ProtoMinor == 0 {
			bw.WriteString("Connection: keep-alive\r\n")
		}
	}
	_, err := bw.WriteString("\r\n")
	w.flushErr(err)
	if len(w.pending) > 0 {
		p := w.pending
		w.pending = w.pending[:0]
		w.writeBody(p)
	}
}

// writeFields writes a header map, leaving out trailers, values that would split the message (CR, LF, NUL:
// a filter could have set them) and invalid names.
func writeFields(bw *bufio.Writer, h http.Header) {
	for k, vv := range h {
		writeField(bw, k, vv)
	}
}

func writeField(bw *bufio.Writer, name string, vv []string) {
	if !httpguts.ValidHeaderFieldName(name) {
		return
	}
	for _, v := range vv {
		if httpguts.ValidHeaderFieldValue(v) {
			bw.WriteString(name)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
}

// finish completes the response after the handler returned: the head if not yet out, the last chunk and the
// trailers (header keys with http.TrailerPrefix), then the buffered bytes go out. It reports whether the
// connection can carry another request.
func (w *response) finish() bool {
	if !w.commit(true) {
		return false
	}
	bw := w.c.bw
	if w.chunked {
		bw.WriteString("0\r\n")
		for k, vv := range w.header {
			if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
				writeField(bw, name, vv)
			}
		}
		bw.WriteString("\r\n")
	}
	w.flushErr(bw.Flush())
	if w.length >= 0 && w.written < w.length && !w.noBody {
		return false // the body is shorter than announced: only closing tells the client
	}
	return w.err == nil && !w.closeAfter
}

// Flush sends what is buffered; a response without Content-Length is committed to chunked (or close) framing.
func (w *response) Flush() { w.FlushError() }

func (w *response) FlushError() error {
	if !w.commit(false) {
		return errHijacked
	}
	w.flushErr(w.c.bw.Flush())
	return w.err
}

// commit writes the head if it is not out yet (200 if no status was set); false if the connection was hijacked.
func (w *response) commit(final bool) bool {
	if w.hijacked {
		return false
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headWritten {
		w.writeHead(final)
	}
	return true
}

// Hijack hands the connection to the handler (WebSocket and other upgrades), with the buffered reader holding
// any bytes the client sent after the request head.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, errHijacked
	}
	if w.headWritten {
		if err := w.c.bw.Flush(); err != nil {
			return nil, nil, err
		}
	}
	w.c.endWatch() // the handler reads the connection from now on
	w.hijacked = true
	w.c.hijacked = true
	w.c.srv.forget(w.c) // as with net/http, a graceful shutdown does not wait for hijacked connections
	w.c.rwc.SetDeadline(time.Time{})
	return w.c.rwc, bufio.NewReadWriter(w.c.br, w.c.bw), nil
}

func (w *response) SetReadDeadline(t time.Time) error {
	w.c.idleSet = time.Time{}
	return w.c.rwc.SetReadDeadline(t)
}
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.rwc.SetWriteDeadline(t) }
func (w *response) EnableFullDuplex() error            { w.fullDuplex = true; return nil }

var statusLines = func() (t [600]string) {
	for code := 100; code < 600; code++ {
		text := http.StatusText(code)
		if text == "" {
			text = "status code " + strconv.Itoa(code)
		}
		t[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
	}
	return t
}()

func statusLine(code int) string {
	if code < len(statusLines) {
		return statusLines[code]
	}
	return "HTTP/1.1 " + strconv.Itoa(code) + " status code " + strconv.Itoa(code) + "\r\n"
}

// dateCache formats the Date header once a second.
type dateCache struct {
	cur atomic.Pointer[dateValue]
}

type dateValue struct {
	sec int64
	b   []byte
}

func (d *dateCache) get() []byte {
	now := time.Now()
	if v := d.cur.Load(); v != nil && v.sec == now.Unix() {
		return v.b
	}
	v := &dateValue{sec: now.Unix(), b: now.UTC().AppendFormat(nil, http.TimeFormat)}
	d.cur.Store(v)
	return v.b
}
