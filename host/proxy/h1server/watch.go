package h1server

import (
	"context"
	"net"
	"sync"
	"time"
)

// A client that goes away while its request is being served should cancel the request (an upstream long poll,
// a filter waiting on a call). net/http watches every connection with a read goroutine per request; here only
// requests that have run for a while are watched: once a second the server looks at its connections, and one
// still running the same bodyless request as a second ago gets a goroutine that peeks at the connection. EOF or
// a reset cancels the connection's context (the request's); bytes (a pipelined request) just end the watch. The
// connection stops the watch before it reads again.
const watchAfter = time.Second

// watchState is a connection's part; its fields are guarded by mu.
type watchState struct {
	mu       sync.Mutex
	seq      uint64 // the request running (0: none, or one that may not be watched)
	seen     uint64 // seq at the previous scan
	count    uint64
	watching bool
	stopping bool
	done     chan struct{}
}

// begin marks a request running; watchable requests have no body left to read and are no upgrade.
func (c *conn) beginWatch(watchable bool) {
	w := &c.watch
	w.mu.Lock()
	w.seq = 0
	w.count++
	if watchable {
		w.seq = w.count
	}
	w.mu.Unlock()
}

// endWatch marks the request over and stops a running watch, leaving the connection's read deadline cleared.
func (c *conn) endWatch() {
	w := &c.watch
	w.mu.Lock()
	w.seq = 0
	watching := w.watching
	if watching {
		w.stopping = true
	}
	w.mu.Unlock()
	if !watching {
		return
	}
	c.setReadDeadline(aLongTimeAgo)
	<-w.done
	c.setReadDeadline(time.Time{})
	w.mu.Lock()
	w.watching, w.stopping = false, false
	w.mu.Unlock()
}

// scan starts a watch on c if the request it runs was running at the previous scan too.
func (c *conn) scan() {
	w := &c.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seq != 0 && w.seq == w.seen && !w.watching {
		w.watching, w.done = true, make(chan struct{})
		go c.watchRead()
	}
	w.seen = w.seq
}

func (c *conn) watchRead() {
	w := &c.watch
	defer close(w.done)
	w.mu.Lock()
	if w.stopping {
		w.mu.Unlock()
		return
	}
	c.rwc.SetReadDeadline(time.Time{}) // the head's deadline must not end the watch
	w.mu.Unlock()
	_, err := c.br.Peek(1)
	if err == nil {
		return
	}
	w.mu.Lock()
	stopping := w.stopping
	w.mu.Unlock()
	if ne, ok := err.(net.Error); stopping && ok && ne.Timeout() {
		return
	}
	c.cancel()
}

// watchConns scans the connections once a second until ctx ends.
func (s *Server) watchConns(ctx context.Context) {
	t := time.NewTicker(watchAfter)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		for c := range s.conns {
			c.scan()
		}
		s.mu.Unlock()
	}
}
