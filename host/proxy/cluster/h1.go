package cluster

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// h1Transport sends HTTP/1.1 requests without a body on pooled connections from the calling goroutine: it writes
// the request and reads the response itself instead of handing them to a write loop and a read loop goroutine as
// net/http's Transport does. Those handoffs were about a third of the proxy's CPU per request. Requests with a
// body, upgrades and anything that is not plain http:// go to the fallback (net/http's Transport), which writes
// the body while reading the response, as a server answering before the end of an upload needs.
type h1Transport struct {
	pools    map[string]*h1Pool // by endpoint address, built with the cluster, read-only afterwards
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	fallback http.RoundTripper
}

type h1Pool struct {
	addr    string
	maxIdle int
	mu      sync.Mutex
	idle    []*h1Conn
	closed  bool
}

type h1Conn struct {
	conn     net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	pool     *h1Pool
	deadline bool // a deadline is set and must be cleared before reuse
	body     h1Body
	head     respHead
}

func newH1Transport(addrs []string, maxIdle int, dial func(context.Context, string, string) (net.Conn, error), fallback http.RoundTripper) *h1Transport {
	t := &h1Transport{pools: make(map[string]*h1Pool, len(addrs)), dial: dial, fallback: fallback}
	for _, a := range addrs {
		t.pools[a] = &h1Pool{addr: a, maxIdle: maxIdle}
	}
	return t
}

var aLongTimeAgo = time.Unix(1, 0)

func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := t.pools[req.URL.Host]
	if p == nil || (req.Body != nil && req.Body != http.NoBody) || req.URL.Scheme != "http" || req.Header["Upgrade"] != nil {
		return t.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		c, reused, err := p.get(ctx, t.dial)
		if err != nil {
			return nil, err
		}
		resp, wrote, err := c.roundTrip(ctx, req)
		if err == nil {
			return resp, nil
		}
		c.close()
		// A pooled connection the server closed while idle fails on first use; try once more on a new one when
		// nothing can have been processed: the request was not fully written, or it is idempotent.
		// A deadline that fired on the connection a moment before ctx's own timer is not a stale connection.
		if !reused || attempt > 0 || ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (wrote && !idempotent(req.Method)) {
			return nil, err
		}
	}
}

func idempotent(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

func (p *h1Pool) get(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error)) (*h1Conn, bool, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, true, nil
	}
	p.mu.Unlock()
	conn, err := dial(ctx, "tcp", p.addr)
	if err != nil {
		return nil, false, err
	}
	return &h1Conn{conn: conn, br: bufio.NewReaderSize(conn, 16<<10), bw: bufio.NewWriterSize(conn, 8<<10), pool: p}, false, nil
}

func (p *h1Pool) put(c *h1Conn) {
	p.mu.Lock()
	if !p.closed && len(p.idle) < p.maxIdle {
		p.idle = append(p.idle, c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	c.close()
}

func (p *h1Pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

func (c *h1Conn) close() { c.conn.Close() }

// quickResponse is how long a response may take before the request's context is watched for cancellation.
const quickResponse = 20 * time.Millisecond

// readErr reports a failed read as the context's error when the context is why it failed.
func (c *h1Conn) readErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		// The connection deadline (set from ctx's) fired a moment before ctx's own timer.
		return context.DeadlineExceeded
	}
	return err
}

// roundTrip writes req and reads the response head. wrote reports whether the request was fully written.
func (c *h1Conn) roundTrip(ctx context.Context, req *http.Request) (resp *http.Response, wrote bool, err error) {
	var stop func() bool
	dl, hasDeadline := ctx.Deadline()
	if hasDeadline {
		c.conn.SetDeadline(dl)
		c.deadline = true
	} else if c.deadline {
		c.conn.SetDeadline(time.Time{})
		c.deadline = false
	}
	if err := writeRequest(c.bw, req); err != nil {
		if stop != nil {
			stop()
		}
		return nil, false, err
	}
	// A client that goes away must abort the upstream exchange, as with net/http's Transport, but watching the
	// request context costs several allocations (context.AfterFunc). Most answers come quickly: wait briefly for
	// the first byte of the response, and watch the context only when the upstream is slow.
	if ctx.Done() != nil {
		quick := time.Now().Add(quickResponse)
		if hasDeadline && dl.Before(quick) {
			quick = dl
		}
		c.conn.SetReadDeadline(quick)
		_, perr := c.br.Peek(1)
		var ne net.Error
		if perr != nil && !(errors.As(perr, &ne) && ne.Timeout() && (!hasDeadline || time.Now().Before(dl))) {
			return nil, true, c.readErr(ctx, perr)
		}
		if perr != nil {
			conn := c.conn
			stop = context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
		}
		if hasDeadline {
			c.conn.SetReadDeadline(dl)
		} else {
			c.conn.SetReadDeadline(time.Time{})
		}
	}
	if resp, ok := c.head.read(c.br, req); ok {
		c.body = h1Body{rc: resp.Body, c: c, stop: stop, keep: !resp.Close}
		resp.Body = &c.body
		return resp, true, nil
	}
	for {
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			if stop != nil {
				stop()
			}
			return nil, true, c.readErr(ctx, err)
		}
		// 1xx informational responses (other than 101, which never comes: upgrades take the fallback) precede
		// the real one.
		if resp.StatusCode >= 200 || resp.StatusCode < 100 {
			break
		}
		resp.Body.Close()
	}
	c.body = h1Body{rc: resp.Body, c: c, stop: stop, keep: !resp.Close}
	resp.Body = &c.body
	return resp, true, nil
}

// writeRequest writes the request head. Values holding CR or LF, which a filter could have set, are dropped
// rather than let them split the request.
func writeRequest(w *bufio.Writer, req *http.Request) error {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	w.WriteString(req.Method)
	w.WriteByte(' ')
	w.WriteString(req.URL.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	for k, vs := range req.Header {
		if k == "Host" || !httpguts.ValidHeaderFieldName(k) {
			continue // what net/http's Transport would refuse to send is left out
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				continue
			}
			if v == "" && k == "User-Agent" {
				continue // the proxy's marker for "send none"
			}
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	w.WriteString("\r\n")
	return w.Flush()
}

// h1Body returns the connection to the pool when the body has been read to its end and the server keeps the
// connection; otherwise it closes the connection.
type h1Body struct {
	rc   io.ReadCloser
	c    *h1Conn
	stop func() bool
	eof  bool
	keep bool
	done bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// maxDrain is how much of an unread body Close reads to keep the connection, rather than closing it.
const maxDrain = 4 << 10

func (b *h1Body) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	if !b.eof {
		n, err := io.CopyN(io.Discard, b.rc, maxDrain+1)
		b.eof = errors.Is(err, io.EOF) && n <= maxDrain
	}
	b.rc.Close()
	stopped := true
	if b.stop != nil {
		stopped = b.stop() // false: the abort already fired and the deadline is in the past
	}
	c := b.c
	if b.eof && b.keep && stopped {
		c.pool.put(c)
	} else {
		c.close()
	}
	return nil
}
