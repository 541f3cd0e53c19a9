// Package downstream serves Dubbo connections: it reads frames, answers heartbeats itself, hands each request to
// a Handler on a worker goroutine (so answers go back in any order, matched by id) and writes the answers. A bad
// frame closes the connection with a log line and a count under its dubbo.Kind. The proxy's Dubbo listener and
// the test provider are both built on it.
//
//	srv, err := downstream.New(downstream.Config{}, downstream.HandlerFunc(
//		func(ctx context.Context, h dubbo.Header, frame []byte) []byte {
//			return dubbo.AppendErrorResponse(nil, h.ID, dubbo.StatusServiceNotFound, "nothing here")
//		}))
//	err = srv.Serve(ctx, ln) // until ctx ends
package downstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmesh/wasmesh/host/dubbo"
	"github.com/wasmesh/wasmesh/host/dubbo/internal/framequeue"
)

// Handler answers one request. frame is the whole request frame (header and body), the handler's during the call.
// It returns the whole response frame, with h.ID as its id, or nil to answer nothing (one-way requests are never
// answered, whatever it returns). frame is reused for a later request once Handle returns: copy what must outlive
// the call (package dubbo's decoders copy every string they return).
type Handler interface {
	Handle(ctx context.Context, h dubbo.Header, frame []byte) []byte
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, h dubbo.Header, frame []byte) []byte

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, h dubbo.Header, frame []byte) []byte {
	return f(ctx, h, frame)
}

// Config is the server's immutable configuration. Zero fields take the defaults in parentheses.
type Config struct {
	MaxBody int // largest request body accepted (dubbo.DefaultMaxBody)
	// MaxInFlightPerConn bounds the requests of one connection being handled at once; at the bound the
	// connection is not read until one finishes, which pushes back on the client through TCP (256).
	MaxInFlightPerConn int
	// IdleTimeout closes a connection that sends nothing, not even a heartbeat, for this long. Dubbo clients send
	// a heartbeat every 60 s and Java providers close after 180 s, the default here too; < 0 disables.
	IdleTimeout time.Duration
	Logger      *slog.Logger // (discard)
	// OnProtocolError, when set, is called with the kind of every bad frame, e.g. to count it in a metric.
	OnProtocolError func(dubbo.Kind)
}

// Stats are counters since the server was made.
type Stats struct {
	Conns, Requests, Heartbeats, ProtocolErrors, Panics, IdleClosed int64
}

// Server serves Dubbo connections with one Handler.
type Server struct {
	cfg     Config
	handler Handler

	conns, requests, heartbeats, protocolErrors, panics, idleClosed atomic.Int64
}

// New returns a server for handler.
func New(cfg Config, handler Handler) (*Server, error) {
	if handler == nil {
		return nil, errors.New("dubbo downstream: handler is nil; pass the function that answers requests")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = dubbo.DefaultMaxBody
	}
	if cfg.MaxInFlightPerConn <= 0 {
		cfg.MaxInFlightPerConn = 256
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 180 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, handler: handler}, nil
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{Conns: s.conns.Load(), Requests: s.requests.Load(), Heartbeats: s.heartbeats.Load(),
		ProtocolErrors: s.protocolErrors.Load(), Panics: s.panics.Load(), IdleClosed: s.idleClosed.Load()}
}

// Serve accepts connections on ln until ctx ends, then closes ln and every connection and waits for their
// handlers. It returns nil after a clean stop.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dubbo downstream: accept on %s: %w", ln.Addr(), err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.ServeConn(ctx, nc)
		}()
	}
}

// ServeConn serves one connection until the peer closes it, a frame is bad, or ctx ends; it closes nc and waits
// for the connection's handlers before returning. The error is nil for a clean close by the peer, the
// *dubbo.ProtocolError for a bad frame, or the I/O error.
//
// Requests run on the connection's worker goroutines, started as concurrency needs them (up to
// MaxInFlightPerConn) and kept until the connection closes: a goroutine per request grew its stack afresh for
// every request (the handler's call path is deep), which cost more CPU than the handler's own work. Answers are
// queued and coalesced into as few writes as the answers ready at once allow (internal/framequeue).
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) error {
	s.conns.Add(1)
	var (
		handlers sync.WaitGroup
		slots    = make(chan struct{}, s.cfg.MaxInFlightPerConn)
		jobs     = make(chan job) // to an idle worker
		workers  int              // started; only the read loop below counts them
		out      = framequeue.New(nc)
	)
	// Deferred in this order so that, on the way out, the idle workers are told to stop, the connection closes
	// (a peer that sent a bad frame is cut off at once; handlers still running fail their writes) and the
	// handlers are waited for last.
	defer handlers.Wait()
	defer nc.Close()
	defer close(jobs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() }) // unblocks the read when ctx ends
	defer stop()
	c := &connState{s: s, ctx: ctx, nc: nc, out: out, cancel: cancel, slots: slots}
	br := bufio.NewReaderSize(nc, 32<<10)
	var readDeadline time.Time
	for {
		if t := s.cfg.IdleTimeout; t > 0 {
			// Moved only when it falls more than 1/64 of the timeout behind, so a busy connection does not update
			// a runtime timer per frame; an idle connection is closed after IdleTimeout to 65/64 of it.
			if now := time.Now(); readDeadline.Sub(now) < t {
				readDeadline = now.Add(t + t/64)
				_ = nc.SetReadDeadline(readDeadline)
			}
		}
		fb := frames.Get().(*[]byte)
		h, frame, err := dubbo.ReadFrame(br, (*fb)[:0], s.cfg.MaxBody)
		if err != nil {
			frames.Put(fb)
			return s.closed(nc, err, ctx.Err() != nil)
		}
		if h.IsEvent() || !h.IsRequest() {
			putFrame(fb, frame)
		}
		if h.IsEvent() {
			// Heartbeats are answered here, never passed on: they belong to this hop only.
			if h.IsRequest() && h.IsTwoWay() {
				s.heartbeats.Add(1)
				c.write(func(b []byte) []byte { return dubbo.AppendHeartbeat(b, h.ID, false) })
			}
			continue
		}
		if !h.IsRequest() {
			continue // a response from a client is not part of Dubbo 2: ignore it
		}
		s.requests.Add(1)
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		r := job{h: h, fb: fb, frame: frame}
		select {
		case jobs <- r: // an idle worker took it
			continue
		default:
		}
		if workers < s.cfg.MaxInFlightPerConn {
			workers++
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				c.work(r, jobs)
			}()
			continue
		}
		jobs <- r // every worker is started: the first to finish takes it (it holds no slot then)
	}
}

// job is a request frame handed to a worker.
type job struct {
	h     dubbo.Header
	fb    *[]byte
	frame []byte
}

// connState is what a connection's workers share.
type connState struct {
	s      *Server
	ctx    context.Context
	nc     net.Conn
	out    *framequeue.Queue
	cancel context.CancelFunc
	slots  chan struct{}
}

// work runs r, then every request handed to it, until the connection closes jobs.
func (c *connState) work(r job, jobs <-chan job) {
	for ok := true; ok; r, ok = <-jobs {
		resp := c.s.handle(c.ctx, c.nc, r.h, r.frame)
		putFrame(r.fb, r.frame) // Handler's contract: the frame is not used after Handle returns
		if resp != nil && r.h.IsTwoWay() {
			c.write(func(b []byte) []byte { return append(b, resp...) })
		}
		<-c.slots
	}
}

// write queues the frame appendFrame appends; a failed write means the peer is gone: stop reading too.
func (c *connState) write(appendFrame func([]byte) []byte) {
	b, err := c.out.Begin()
	if err == nil {
		err = c.out.Commit(appendFrame(b), time.Time{})
	}
	if err != nil {
		c.cancel()
	}
}

// frames pools request frame buffers: a connection's frames are handled concurrently, so each needs its own,
// but a frame's buffer is free again once its handler returned.
var frames = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// putFrame returns the buffer frame was read into, unless an unusually large frame grew it.
func putFrame(fb *[]byte, frame []byte) {
	if cap(frame) > 64<<10 {
		return
	}
	*fb = frame[:0]
	frames.Put(fb)
}

// handle runs the handler. A panic in it is this request's failure, not the process's: it is logged with its
// stack, counted, and answered with 80 SERVER_ERROR, as net/http answers 500.
func (s *Server) handle(ctx context.Context, nc net.Conn, h dubbo.Header, frame []byte) (resp []byte) {
	defer func() {
		if v := recover(); v != nil {
			s.panics.Add(1)
			s.cfg.Logger.Error("dubbo downstream: handler panicked", "remote", nc.RemoteAddr(), "id", h.ID, "panic", v, "stack", string(debug.Stack()))
			resp = dubbo.AppendErrorResponse(nil, h.ID, dubbo.StatusServerError, "wasmesh: internal error")
		}
	}()
	return s.handler.Handle(ctx, h, frame)
}

// closed logs and counts why a connection ended and returns the error ServeConn reports.
func (s *Server) closed(nc net.Conn, err error, stopping bool) error {
	if errors.Is(err, os.ErrDeadlineExceeded) && !stopping { // idle, or a frame trickling in slower than that
		s.idleClosed.Add(1)
		s.cfg.Logger.Debug("dubbo downstream: idle connection closed", "remote", nc.RemoteAddr(), "idle", s.cfg.IdleTimeout)
		return nil
	}
	if k := dubbo.KindOf(err); k != "" && !stopping {
		s.protocolErrors.Add(1)
		if s.cfg.OnProtocolError != nil {
			s.cfg.OnProtocolError(k)
		}
		s.cfg.Logger.Warn("dubbo downstream: bad frame, closing the connection", "remote", nc.RemoteAddr(), "kind", k, "err", err)
		return err
	}
	if stopping || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return nil
	}

	s.cfg.Logger.Debug("dubbo downstream: read failed, closing the connection", "remote", nc.RemoteAddr(), "err", err)
	return err
}
