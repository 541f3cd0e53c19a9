package h1server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Connection states, for graceful shutdown: idle connections (waiting for a request) may be closed at once.
const (
	stateActive int32 = iota
	stateIdle
	stateClosed
)

const bufSize = 4 << 10

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufSize) }}
)

var aLongTimeAgo = time.Unix(1, 0)

// conn serves the requests of one client connection in order: it reads a request, runs the handler, finishes
// the response, and only then reads the next, so pipelined requests are answered in the order they came.
type conn struct {
	srv    *Server
	rwc    net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	parser *parser
	cancel context.CancelFunc
	state  atomic.Int32

	req    *http.Request // reused for every request: it carries the connection's context
	header http.Header
	resp   response
	head   head
	body   *body

	// wmu orders a "100 Continue" (sent from a body read, maybe on another goroutine) before the response head.
	wmu          sync.Mutex
	started      bool // the response head was begun
	continueSent bool

	watch    watchState
	hijacked bool
	served   int
	idleSet  time.Time // when next last set the idle deadline; zero when the deadline is another
	remote   string
	scratch  [bufSize]byte
}

func (s *Server) newConn(rwc net.Conn) *conn {
	c := &conn{srv: s, rwc: rwc, parser: newParser(s.Limits), header: http.Header{}, remote: rwc.RemoteAddr().String()}
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(rwc)
	c.bw = writerPool.Get().(*bufio.Writer)
	c.bw.Reset(rwc)
	ctx, cancel := context.WithCancel(s.baseContext())
	c.cancel = cancel
	c.req = new(http.Request).WithContext(ctx)
	c.resp.c, c.resp.header = c, http.Header{}
	return c
}

func (c *conn) serve() {
	defer c.close()
	for {
		if !c.next() {
			return
		}
		if c.served == 0 && c.srv.H2C != nil && c.priorKnowledge() {
			return
		}
		c.served++
		if !c.serveOne() {
			return
		}
	}
}

// next waits for the first byte of the next request: up to IdleTimeout between requests (ReadHeaderTimeout for
// the first), closable by a graceful shutdown meanwhile. The head itself must then arrive within
// ReadHeaderTimeout; when it is already buffered (pipelining, or it came in one segment) the deadline is left.
func (c *conn) next() bool {
	if c.br.Buffered() == 0 {
		wait := c.srv.IdleTimeout
		if c.served == 0 {
			wait = c.srv.ReadHeaderTimeout
		}
		switch {
		case wait <= 0:
		case c.served == 0:
			c.setReadDeadline(time.Now().Add(wait))
		default:
			// The idle deadline moves only when it is off by more than 1/64 of the timeout: setting it costs
			// about as much as parsing the request.
			if now := time.Now(); c.idleSet.IsZero() || now.Sub(c.idleSet) > wait/64 {
				c.setReadDeadline(now.Add(wait))
				c.idleSet = now
			}
		}
		c.state.Store(stateIdle)
		if c.srv.shuttingDown() {
			return false
		}
		if _, err := c.br.Peek(1); err != nil {
			return false
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) {
			return false // closed by Shutdown as it came
		}
		if c.served > 0 && c.srv.ReadHeaderTimeout > 0 && !c.headBuffered() {
			c.setReadDeadline(time.Now().Add(c.srv.ReadHeaderTimeout))
		}
		return true
	}
	if c.srv.ReadHeaderTimeout > 0 && !c.headBuffered() {
		c.setReadDeadline(time.Now().Add(c.srv.ReadHeaderTimeout))
	}
	return true
}

// setReadDeadline sets the connection's read deadline other than by next's idle wait, which must then set
// its own again.
func (c *conn) setReadDeadline(t time.Time) {
	c.idleSet = time.Time{}
	c.rwc.SetReadDeadline(t)
}

func (c *conn) headBuffered() bool {
	b, _ := c.br.Peek(c.br.Buffered())
	return bytes.Contains(b, crlfcrlf)
}

var crlfcrlf = []byte("\r\n\r\n")

// serveOne reads, serves and finishes one request; it reports whether the connection can serve another.
func (c *conn) serveOne() bool {
	r := c.req
	c.resetRequest()
	c.parser.limits = c.srv.limitsNow()
	if err := c.parser.readRequest(c.br, r, &c.head); err != nil {
		c.reject(err)
		return false
	}
	c.body = nil
	c.started, c.continueSent = false, false
	if r.ContentLength != 0 {
		c.body = &body{c: c, br: c.br, remaining: r.ContentLength, chunked: c.head.chunked,
			expect100: c.head.expect100, trailer: &r.Trailer}
		r.Body = c.body
		c.setReadDeadline(time.Time{}) // bodies may take their time, as with net/http's defaults
	} else {
		r.Body = http.NoBody
	}
	c.resp.reset(r)
	_, upgrade := r.Header["Upgrade"]
	c.beginWatch(c.body == nil && !upgrade)
	ok := c.callHandler()
	c.endWatch()
	if !ok {
		if !c.hijacked {
			c.bw.Flush() // what was written goes out; the client sees the stream break
		}
		return false
	}
	if c.hijacked {
		return false
	}
	keep := c.resp.finish()
	if c.body != nil {
		keep = c.body.finish() && keep
	}
	return keep && !c.srv.shuttingDown()
}

func (c *conn) resetRequest() {
	r := c.req
	clear(c.header)
	r.Method, r.URL, r.Proto, r.ProtoMajor, r.ProtoMinor = "", nil, "", 0, 0
	r.Header, r.Body, r.GetBody, r.ContentLength, r.TransferEncoding = c.header, nil, nil, 0, nil
	r.Close, r.Host, r.Form, r.PostForm, r.MultipartForm, r.Trailer = false, "", nil, nil, nil, nil
	r.RemoteAddr, r.RequestURI, r.TLS, r.Response, r.Pattern = c.remote, "", nil, nil, ""
}

// callHandler runs the handler; false means it panicked (http.ErrAbortHandler: break the connection quietly).
func (c *conn) callHandler() (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			ok = false
			if v != http.ErrAbortHandler {
				buf := make([]byte, 16<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.log().Error("handler panic", "remote", c.remote, "panic", v, "stack", string(buf))
			}
		}
	}()
	c.srv.Handler.ServeHTTP(&c.resp, c.req)
	return true
}

// reject answers a request the parser refused and logs why; read errors (the client went away or was too
// slow) close the connection silently, as net/http does.
func (c *conn) reject(err error) {
	var re *requestError
	if !errors.As(err, &re) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.srv.log().Debug("request head timeout", "remote", c.remote)
		}
		return
	}
	c.srv.log().Info("request refused", "remote", c.remote, "status", re.status, "reason", re.reason)
	text := strconv.Itoa(re.status) + " " + http.StatusText(re.status) + ": " + re.reason
	bw := c.bw
	bw.WriteString(statusLine(re.status))
	bw.WriteString("Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: ")
	bw.WriteString(strconv.Itoa(len(text)))
	bw.WriteString("\r\n\r\n")
	bw.WriteString(text)
	bw.Flush()
}

var continueLine = []byte("HTTP/1.1 100 Continue\r\n\r\n")

// sendContinue answers "Expect: 100-continue" on the body's first read, unless the response already started.
func (c *conn) sendContinue() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.started || c.continueSent {
		return
	}
	c.continueSent = true
	c.rwc.Write(continueLine)
}

// continueUnsent claims the 100 Continue for a handler that writes it itself.
func (c *conn) continueUnsent() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.continueSent {
		return false
	}
	c.continueSent = true
	return true
}

// startResponse marks the head begun. A client still waiting for 100 Continue gets none: it may send its body
// anyway or not, so the connection closes after this response.
func (c *conn) startResponse() {
	if !c.head.expect100 {
		return
	}
	c.wmu.Lock()
	c.started = true
	if !c.continueSent {
		c.resp.closeAfter = true
	}
	c.wmu.Unlock()
}

// priorKnowledge hands an HTTP/2 connection with prior knowledge (RFC 9113 3.3) to the H2C server, with the
// bytes already read replayed.
func (c *conn) priorKnowledge() bool {
	if b, _ := c.br.Peek(1); b[0] != 'P' {
		return false
	}
	if b, err := c.br.Peek(len(h2Preface)); err != nil || !bytes.Equal(b, h2Preface) {
		return false
	}
	buffered, _ := c.br.Peek(c.br.Buffered())
	rc := &replayConn{Conn: c.rwc, prefix: bytes.Clone(buffered)}
	c.rwc.SetDeadline(time.Time{})
	c.hijacked = true
	c.srv.h2l.push(rc)
	return true
}

var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// replayConn reads prefix before the connection's own bytes.
type replayConn struct {
	net.Conn
	prefix []byte
}

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.prefix) > 0 {
		n := copy(p, r.prefix)
		r.prefix = r.prefix[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}

func (c *conn) close() {
	c.state.Store(stateClosed)
	c.srv.forget(c)
	c.cancel()
	if c.hijacked {
		return // the handler (or the HTTP/2 server) owns the connection and may still use the buffers
	}
	c.rwc.Close()
	c.br.Reset(nil)
	readerPool.Put(c.br)
	c.bw.Reset(nil)
	writerPool.Put(c.bw)
}

// connListener is the HTTP/2 server's listener: connections arrive from push.
type connListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

var _ io.Reader = (*replayConn)(nil)
