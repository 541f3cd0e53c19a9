package h1server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// errTooManyFiles is the accept error worth waiting out (the process is out of file descriptors).
var errTooManyFiles error = syscall.EMFILE

// Server serves HTTP/1.1 (and 1.0) on cleartext connections with an http.Handler. Configure it before Serve.
type Server struct {
	Handler http.Handler
	// H2C, when set, serves the connections that open with the HTTP/2 preface (h2c with prior knowledge). Its
	// Protocols must include UnencryptedHTTP2.
	H2C *http.Server
	// Limits bound request heads; zero fields take the defaults. SetLimits replaces them while serving.
	Limits Limits
	// ReadHeaderTimeout bounds the wait for a request head once its first byte came (and for the first request of
	// a connection); IdleTimeout bounds the wait between requests. Zero means no limit.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// BaseContext is the parent of every connection's context (the requests' context); nil means Background.
	BaseContext context.Context
	// Log receives refused requests and handler panics; nil discards.
	Log *slog.Logger

	mu         sync.Mutex
	conns      map[*conn]struct{}
	listeners  map[net.Listener]struct{}
	inShutdown atomic.Bool
	h2l        *connListener
	stopWatch  context.CancelFunc
	dates      dateCache
	limits     atomic.Pointer[Limits] // set by SetLimits; nil: Limits
}

// SetLimits replaces the request-head limits while the server runs (a configuration reload): every request read
// from now on, on open connections too, is held to them. Zero fields take the defaults.
func (s *Server) SetLimits(l Limits) {
	l = l.WithDefaults()
	s.limits.Store(&l)
}

// limitsNow returns the limits the next request head is read under.
func (s *Server) limitsNow() Limits {
	if l := s.limits.Load(); l != nil {
		return *l
	}
	return s.Limits.WithDefaults()
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return discard
	}
	return s.Log
}

var discard = slog.New(slog.DiscardHandler)

func (s *Server) baseContext() context.Context {
	if s.BaseContext == nil {
		return context.Background()
	}
	return s.BaseContext
}

func (s *Server) shuttingDown() bool { return s.inShutdown.Load() }

func (s *Server) date() []byte { return s.dates.get() }

// Serve accepts connections on ln until Shutdown or Close (then it returns http.ErrServerClosed) or an accept
// error that is not temporary.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shuttingDown() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners, s.conns = map[net.Listener]struct{}{}, map[*conn]struct{}{}
	}
	s.listeners[ln] = struct{}{}
	if s.stopWatch == nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.stopWatch = cancel
		go s.watchConns(ctx)
	}
	if s.H2C != nil && s.h2l == nil {
		s.h2l = newConnListener(ln.Addr())
		go s.H2C.Serve(s.h2l)
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.shuttingDown() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log().Warn("accept failed; retrying", "err", err, "after", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := s.newConn(rwc)
		if !s.track(c) {
			c.close()
			continue
		}
		go c.serve()
	}
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shuttingDown() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown stops accepting, closes idle connections and lets active ones finish their current request (their
// response says "Connection: close"), until none is left or ctx ends (then it returns ctx's error; Close ends
// the rest). HTTP/2 connections handed to H2C are shut down by it the same way.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop()
	h2err := make(chan error, 1)
	if s.H2C != nil {
		go func() { h2err <- s.H2C.Shutdown(ctx) }()
	} else {
		h2err <- nil
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() == 0 {
			return <-h2err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.stop()
	s.mu.Lock()
	for c := range s.conns {
		c.state.Store(stateClosed)
		c.rwc.Close()
	}
	s.mu.Unlock()
	if s.H2C != nil {
		return s.H2C.Close()
	}
	return nil
}

func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inShutdown.Store(true)
	if s.stopWatch != nil {
		s.stopWatch()
	}
	for ln := range s.listeners {
		ln.Close()
	}
	if s.h2l != nil {
		s.h2l.Close()
	}
}

// closeIdle closes the connections waiting for a request and returns how many connections remain.
func (s *Server) closeIdle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			c.rwc.Close()
		}
	}
	return len(s.conns)
}
