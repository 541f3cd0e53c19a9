package filter

import (
	"context"
	"sync"
)

// NetworkFilter is the L4 counterpart of Filter, for tcp listeners. A kind whose filters implement it can run
// on tcp listeners (the Wasm kind does, with proxy-wasm's network callbacks). NewConnection runs when a client
// connects (proxy_on_new_connection) and returns the filter's handler for that connection.
type NetworkFilter interface {
	NewConnection(c *Conn) (ConnFilter, Action)
}

// ConnFilter sees one connection's bytes, which it may rewrite in place. The two directions run concurrently
// (one goroutine each). Pause is not supported on L4 yet: the bytes go on unless the filter asked to close the
// connection. OnClose runs once, when both directions are done.
type ConnFilter interface {
	OnDownstreamData(data *[]byte, endOfStream bool) Action
	OnUpstreamData(data *[]byte, endOfStream bool) Action
	OnClose()
}

// Conn is what network filters know about a connection.
type Conn struct {
	Info  Info
	ctx   context.Context
	once  sync.Once
	close chan struct{}
}

// NewConn returns a Conn for a connection whose context ends with it.
func NewConn(ctx context.Context, info Info) *Conn {
	return &Conn{ctx: ctx, Info: info, close: make(chan struct{})}
}

// Context ends with the connection.
func (c *Conn) Context() context.Context { return c.ctx }

// RequestClose asks the proxy to close the connection (proxy_close_stream); safe from any goroutine.
func (c *Conn) RequestClose() { c.once.Do(func() { close(c.close) }) }

// CloseRequested is closed when a filter asks to close the connection.
func (c *Conn) CloseRequested() <-chan struct{} { return c.close }
