// Package accept is the accept loop the connection-oriented listeners (tcp, dubbo) share: every connection on
// its own goroutine with a context that outlives the listener's, so open connections can drain after shutdown,
// and a hook that decides how long to wait for them before they are cancelled.
//
//	accept.Serve(ctx, ln, func(ctx context.Context, c net.Conn) { defer c.Close(); serve(ctx, c) },
//		func(done <-chan struct{}) {
//			select { case <-done: case <-time.After(30 * time.Second): } // then the connections' contexts end
//		})
package accept

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// Serve accepts on ln until ctx ends (ln is then closed) or ln fails for good. Each connection runs serve with a
// context that ends only when drain returns; drain receives a channel closed once every connection has returned,
// and blocks as long as the listener wants to let them finish. Serve returns after every serve call returned.
func Serve(ctx context.Context, ln net.Listener, serve func(context.Context, net.Conn), drain func(done <-chan struct{})) {
	connCtx, closeAll := context.WithCancel(context.WithoutCancel(ctx))
	defer closeAll()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				break
			}
			// Out of file descriptors and the like: wait and retry rather than stop listening for good, as
			// net/http's server does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
				continue
			case <-ctx.Done():
			}
			break
		}
		backoff = 0
		wg.Go(func() { serve(connCtx, nc) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	drain(done)
	closeAll()
	<-done
}
