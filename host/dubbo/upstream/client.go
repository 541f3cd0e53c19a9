// Package upstream is the proxy's Dubbo client toward one upstream address: a small pool of TCP connections,
// each multiplexing many requests by request id. It gives every request an id of its own connection and puts
// the caller's id back on the response, answers the provider's heartbeats and sends its own on idle
// connections, and reports failures as typed errors so the proxy can retry or eject the host.
//
//	c, err := upstream.New(upstream.Config{Addr: "127.0.0.1:20880"})
//	if err != nil { ... }
//	go c.Start(ctx) // heartbeats; closes every connection when ctx ends
//	resp, err := c.Do(ctx, requestFrame) // resp carries requestFrame's id
//	switch {
//	case errors.Is(err, upstream.ErrTimeout):     // answer 31 SERVER_TIMEOUT, keep the host
//	case errors.Is(err, upstream.ErrConnection):  // retry elsewhere, count toward ejection
//	case errors.Is(err, upstream.ErrOverloaded):  // answer 100 THREADPOOL_EXHAUSTED
//	}
package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmesh/wasmesh/host/dubbo"
	"github.com/wasmesh/wasmesh/host/dubbo/internal/framequeue"
)

// Errors a caller decides on with errors.Is.
var (
	// ErrTimeout: no response in time. The connection is kept; a late response is dropped.
	ErrTimeout = errors.New("dubbo upstream: request timed out")
	// ErrConnection: the request could not be sent, or its connection failed before the response came; the
	// provider may or may not have run it. A *ConnError carries the cause.
	ErrConnection = errors.New("dubbo upstream: connection failed")
	// ErrOverloaded: every connection already has MaxPendingPerConn requests in flight.
	ErrOverloaded = errors.New("dubbo upstream: too many pending requests")
	// ErrClosed: the client was stopped.
	ErrClosed = errors.New("dubbo upstream: client stopped")
)

// ConnError is a connection failure toward Addr. It matches ErrConnection and unwraps to the cause (a dial or
// I/O error, or a *dubbo.ProtocolError when the provider sent a bad frame).
type ConnError struct {
	Addr string
	Err  error
}

func (e *ConnError) Error() string {
	return "dubbo upstream " + e.Addr + ": connection failed: " + e.Err.Error()
}
func (e *ConnError) Unwrap() []error { return []error{ErrConnection, e.Err} }

// Config is the client's immutable configuration. Zero fields take the defaults in parentheses.
type Config struct {
	Addr              string
	MaxConns          int           // connections kept to Addr (2)
	MaxPendingPerConn int           // requests in flight on one connection (1024)
	DialTimeout       time.Duration // (5s)
	RequestTimeout    time.Duration // upper bound per request on top of the context's deadline (none)
	HeartbeatInterval time.Duration // idle time before a heartbeat; no reads for 3 intervals closes the connection (30s); < 0 disables
	MaxBody           int           // largest response body accepted (dubbo.DefaultMaxBody)
	Logger            *slog.Logger  // (discard)
	// Dial replaces net.Dialer.DialContext, e.g. in tests.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		return c, errors.New("dubbo upstream: Config.Addr is empty; set it to the provider's host:port")
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 2
	}
	if c.MaxPendingPerConn <= 0 {
		c.MaxPendingPerConn = 1024
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 30 * time.Second
	}
	if c.MaxBody <= 0 {
		c.MaxBody = dubbo.DefaultMaxBody
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Dial == nil {
		d := &net.Dialer{}
		c.Dial = d.DialContext
	}
	return c, nil
}

// Stats are counters since the client was made.
type Stats struct {
	Requests, Timeouts, ConnFailures, ProtocolErrors, Overloaded, HeartbeatsSent, OpenConns int64
}

// Client sends request frames to one address. It is safe for concurrent use.
type Client struct {
	cfg Config

	mu          sync.Mutex
	conns       []*conn
	closed      bool
	noDialUntil time.Time // after a failed extra dial, use the open connections for a while instead of re-dialling
	dialing     *dialCall // the dial in progress, if any

	requests, timeouts, connFailures, protocolErrors, overloaded, heartbeats atomic.Int64
}

// New validates cfg and returns a client. Connections are dialled on first use.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg}, nil
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	open := int64(len(c.conns))
	c.mu.Unlock()
	return Stats{
		Requests: c.requests.Load(), Timeouts: c.timeouts.Load(), ConnFailures: c.connFailures.Load(),
		ProtocolErrors: c.protocolErrors.Load(), Overloaded: c.overloaded.Load(), HeartbeatsSent: c.heartbeats.Load(),
		OpenConns: open,
	}
}

// Start sends heartbeats on idle connections and closes dead ones until ctx ends, then closes every connection
// and fails pending requests with ErrClosed. It returns nil.
func (c *Client) Start(ctx context.Context) error {
	var tick <-chan time.Time
	if c.cfg.HeartbeatInterval > 0 {
		t := time.NewTicker(c.cfg.HeartbeatInterval / 2)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			c.close()
			return nil
		case <-tick:
			c.heartbeat(time.Now())
		}
	}
}

func (c *Client) close() {
	c.mu.Lock()
	c.closed = true
	conns := c.conns
	c.conns = nil
	c.mu.Unlock()
	for _, cn := range conns {
		cn.fail(ErrClosed)
	}
}

func (c *Client) heartbeat(now time.Time) {
	c.mu.Lock()
	conns := append([]*conn(nil), c.conns...)
	c.mu.Unlock()
	for _, cn := range conns {
		idle := now.Sub(time.Unix(0, cn.lastRead.Load()))
		switch {
		case idle >= 3*c.cfg.HeartbeatInterval:
			c.cfg.Logger.Warn("dubbo upstream: no data for 3 heartbeat intervals, closing", "addr", c.cfg.Addr, "idle", idle)
			cn.fail(&ConnError{Addr: c.cfg.Addr, Err: errors.New("no heartbeat answer")})
		case idle >= c.cfg.HeartbeatInterval:
			id := cn.nextID.Add(1)
			if err := cn.write(dubbo.AppendHeartbeat(nil, id, true), id); err == nil {
				c.heartbeats.Add(1)
			}
		}
	}
}

// replies pools the channels a two-way request waits on.
var replies = sync.Pool{New: func() any { return make(chan []byte, 1) }}

// Do sends a request frame (header and body, as read from downstream) and waits for its response. The frame is
// not modified: the id on the wire is the connection's own, and the response frame returned carries the id of
// frame again. A one-way request returns (nil, nil) once queued: written by then, or by the caller writing the
// connection's queue at the time. The response is a fresh slice the caller owns.
func (c *Client) Do(ctx context.Context, frame []byte) ([]byte, error) {
	h, err := dubbo.ParseHeader(frame, len(frame))
	if err != nil {
		return nil, fmt.Errorf("dubbo upstream: Do needs one whole request frame: %w", err)
	}
	if len(frame) != dubbo.HeaderLen+h.BodyLen || !h.IsRequest() {
		return nil, fmt.Errorf("dubbo upstream: Do needs one whole request frame, got %d bytes for a body of %d (request flag %v)",
			len(frame), h.BodyLen, h.IsRequest())
	}
	c.requests.Add(1)
	if c.cfg.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
	}
	cn, err := c.pick(ctx)
	if err != nil {
		return nil, err
	}
	id := cn.nextID.Add(1)
	var ch chan []byte
	if h.IsTwoWay() {
		ch = replies.Get().(chan []byte)
		if !cn.register(id, ch) {
			replies.Put(ch) // never seen by the read loop
			return nil, c.connErr(cn.errOr(ErrConnection))
		}
	}
	deadline, _ := ctx.Deadline() // zero: none
	if err := cn.writeRequest(frame, id, deadline); err != nil {
		if ch == nil {
			cn.done()
		} else {
			cn.unregister(id)
		}
		return nil, c.connErr(err)
	}
	if ch == nil {
		cn.done()
		return nil, nil
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil, c.connErr(cn.errOr(ErrConnection))
		}
		// The read loop unregistered the id before it sent, and sends once: the channel is empty and unknown to
		// it. Channels of other outcomes (closed by a failed connection, or maybe still to receive after a
		// timeout) are left to the collector.
		replies.Put(ch)
		dubbo.SetID(resp, h.ID)
		return resp, nil
	case <-ctx.Done():
		cn.unregister(id)
		c.timeouts.Add(1)
		return nil, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
}

func (c *Client) connErr(err error) error {
	if errors.Is(err, ErrClosed) {
		return err
	}
	c.connFailures.Add(1)
	var ce *ConnError
	if errors.As(err, &ce) {
		return err
	}
	return &ConnError{Addr: c.cfg.Addr, Err: err}
}

// pick returns the live connection with the fewest requests in flight, dialling a new one while the pool is
// not full and every connection is busy. One dial runs at a time, outside the lock: callers with no connection
// to use wait for it (or for their context) and share its outcome, so a host that is down costs one dial
// timeout, not one per waiting request.
func (c *Client) pick(ctx context.Context) (*conn, error) {
	c.mu.Lock()
	for {
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		best, bestN, open := c.leastLoaded()
		grow := bestN > 0 && open < c.cfg.MaxConns && time.Now().After(c.noDialUntil)
		switch {
		case (best == nil || grow) && c.dialing == nil:
			dc := &dialCall{done: make(chan struct{})}
			c.dialing = dc
			c.mu.Unlock()
			cn, err := c.dial(ctx)
			c.mu.Lock()
			c.dialing = nil
			dc.err = err
			close(dc.done)
			switch {
			case err == nil:
				if c.closed {
					c.mu.Unlock()
					cn.fail(ErrClosed)
					return nil, ErrClosed
				}
				c.conns = append(c.conns, cn)
				go cn.readLoop()
				continue // pick again: the new connection is the least loaded
			case best == nil:
				c.mu.Unlock()
				return nil, c.connErr(err)
			default:
				c.noDialUntil = time.Now().Add(time.Second)
				c.cfg.Logger.Warn("dubbo upstream: extra connection failed, using the open ones for 1s", "addr", c.cfg.Addr, "err", err)
				continue
			}
		case best == nil: // another caller is dialling and there is nothing else to use
			dc := c.dialing
			c.mu.Unlock()
			select {
			case <-dc.done:
				if dc.err != nil {
					return nil, c.connErr(dc.err)
				}
			case <-ctx.Done():
				return nil, c.connErr(&ConnError{Addr: c.cfg.Addr, Err: fmt.Errorf("waiting for a connection: %w", ctx.Err())})
			}
			c.mu.Lock()
			continue
		}
		if bestN >= int64(c.cfg.MaxPendingPerConn) {
			c.mu.Unlock()
			c.overloaded.Add(1)
			return nil, ErrOverloaded
		}
		best.inflight.Add(1)
		c.mu.Unlock()
		return best, nil
	}
}

// dialCall is a dial in progress that other callers may wait for.
type dialCall struct {
	done chan struct{}
	err  error
}

// leastLoaded returns the usable connection with the fewest requests in flight, how many it has, and how many
// connections count toward MaxConns (those draining after a READONLY event do not). c.mu is held.
func (c *Client) leastLoaded() (best *conn, bestN int64, open int) {
	bestN = -1
	for _, cn := range c.conns {
		if cn.readonly.Load() {
			continue
		}
		open++
		if n := cn.inflight.Load(); best == nil || n < bestN {
			best, bestN = cn, n
		}
	}
	return best, bestN, open
}

// dial opens a connection; the caller adds it to the pool and starts its read loop.
func (c *Client) dial(ctx context.Context) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	nc, err := c.cfg.Dial(dctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, &ConnError{Addr: c.cfg.Addr, Err: err}
	}
	cn := &conn{client: c, nc: nc, out: framequeue.New(nc), pending: map[int64]chan []byte{}}
	cn.lastRead.Store(time.Now().UnixNano())
	return cn, nil
}

func (c *Client) remove(cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.conns {
		if x == cn {
			c.conns = append(c.conns[:i], c.conns[i+1:]...)
			return
		}
	}
}

// isReadonlyEvent reports whether an event body is Dubbo's READONLY_EVENT, the string "R" a provider sends to its
// clients when it starts shutting down.
func isReadonlyEvent(body []byte) bool {
	return len(body) >= 2 && body[0] == 0x01 && body[1] == 'R'
}

// conn is one multiplexed connection.
type conn struct {
	client   *Client
	nc       net.Conn
	nextID   atomic.Int64
	inflight atomic.Int64 // picked and not yet finished, for load balancing and the pending limit
	lastRead atomic.Int64 // unix nanoseconds
	readonly atomic.Bool  // the provider announced its shutdown: no new requests

	out *framequeue.Queue // requests from many callers coalesced into few writes

	mu      sync.Mutex
	pending map[int64]chan []byte
	err     error // set once the connection failed
}

func (cn *conn) register(id int64, ch chan []byte) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.err != nil {
		cn.inflight.Add(-1)
		return false
	}
	cn.pending[id] = ch
	return true
}

func (cn *conn) unregister(id int64) {
	cn.mu.Lock()
	if _, ok := cn.pending[id]; ok {
		delete(cn.pending, id)
		cn.inflight.Add(-1)
	}
	cn.mu.Unlock()
}

func (cn *conn) done() { cn.inflight.Add(-1) }

func (cn *conn) errOr(def error) error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.err != nil {
		return cn.err
	}
	return def
}

// writeRequest writes frame with its id replaced by id, without touching frame: it is queued with the frames other
// callers send meanwhile and written with them (internal/framequeue), one write for the frames ready at once. A
// write still blocked at the deadline (a provider that stopped reading) fails the connection: half a frame cannot
// be taken back. An error from a write that carried other callers' frames reaches them as the connection's
// failure (their pending requests are failed).
func (cn *conn) writeRequest(frame []byte, id int64, deadline time.Time) error {
	b, err := cn.out.Begin()
	if err != nil {
		return cn.failWith(err)
	}
	n := len(b)
	b = append(b, frame...)
	dubbo.SetID(b[n:], id)
	if err := cn.out.Commit(b, deadline); err != nil {
		return cn.failWith(err)
	}
	return nil
}

// write sends a small control frame (a heartbeat or its answer), bounded by a fixed deadline.
func (cn *conn) write(frame []byte, id int64) error {
	return cn.writeRequest(frame, id, time.Now().Add(controlWriteTimeout))
}

// controlWriteTimeout bounds writing a heartbeat: a 17-byte frame that cannot be written in this long means the
// provider stopped reading.
const controlWriteTimeout = 5 * time.Second

// failWith fails the connection for a write error and returns the error for the writer's caller.
func (cn *conn) failWith(err error) error {
	ce := &ConnError{Addr: cn.client.cfg.Addr, Err: err}
	cn.fail(ce)
	return ce
}

// fail closes the connection once and fails every pending request.
func (cn *conn) fail(err error) {
	cn.mu.Lock()
	if cn.err != nil {
		cn.mu.Unlock()
		return
	}
	cn.err = err
	pending := cn.pending
	cn.pending = nil
	cn.mu.Unlock()
	cn.client.remove(cn)
	_ = cn.nc.Close()
	for _, ch := range pending {
		close(ch)
		cn.inflight.Add(-1)
	}
}

func (cn *conn) readLoop() {
	c := cn.client
	br := bufio.NewReaderSize(cn.nc, 32<<10)
	for {
		h, frame, err := dubbo.ReadFrame(br, nil, c.cfg.MaxBody)
		if err != nil {
			if dubbo.KindOf(err) != "" {
				c.protocolErrors.Add(1)
				c.cfg.Logger.Error("dubbo upstream: bad frame from provider, closing the connection", "addr", c.cfg.Addr, "kind", dubbo.KindOf(err), "err", err)
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.cfg.Logger.Warn("dubbo upstream: read failed, closing the connection", "addr", c.cfg.Addr, "err", err)
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the provider closed: the requests in flight are lost
			}
			cn.fail(&ConnError{Addr: c.cfg.Addr, Err: err})
			return
		}
		cn.lastRead.Store(time.Now().UnixNano())
		if h.IsRequest() {
			switch {
			case !h.IsEvent(): // requests from a provider are not part of Dubbo 2: ignore
			case isReadonlyEvent(frame[dubbo.HeaderLen:]):
				// The provider is shutting down: finish what is in flight here, send nothing new.
				cn.readonly.Store(true)
				c.cfg.Logger.Info("dubbo upstream: provider is going away, draining the connection", "addr", c.cfg.Addr)
			case h.IsTwoWay():
				_ = cn.write(dubbo.AppendHeartbeat(nil, h.ID, false), h.ID) // its heartbeat
			}
			continue
		}
		cn.mu.Lock()
		ch, ok := cn.pending[h.ID]
		if ok {
			delete(cn.pending, h.ID)
		}
		cn.mu.Unlock()
		if ok {
			cn.inflight.Add(-1)
			ch <- frame // buffered: never blocks
		}
		// Responses to heartbeats and to timed-out requests land here and are dropped.
	}
}
