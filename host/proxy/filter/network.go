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
// (one goroutine each). Returning Pause holds that direction (proxy-wasm's PAUSE): the proxy buffers what it
// reads, up to the listener's buffer bound, and calls the filters again, from the first, with everything held
// (the data grows, as Envoy's buffer does) until they all continue, or until the filter that paused calls
// Conn.Resume, which goes on with the filters after it. OnClose runs once, when both directions are done.
type ConnFilter interface {
	OnDownstreamData(data *[]byte, endOfStream bool) Action
	OnUpstreamData(data *[]byte, endOfStream bool) Action
	OnClose()
}

// Conn is what network filters know about a connection.
type Conn struct {
	Info   Info
	ctx    context.Context
	once   sync.Once
	close  chan struct{}
	resume [2]chan struct{} // by Direction
}

// Direction names one way of a connection's bytes.
type Direction int

const (
	Downstream Direction = iota // client to upstream: OnDownstreamData
	Upstream                    // upstream to client: OnUpstreamData
)

// NewConn returns a Conn for a connection whose context ends with it.
func NewConn(ctx context.Context, info Info) *Conn {
	return &Conn{ctx: ctx, Info: info, close: make(chan struct{}),
		resume: [2]chan struct{}{make(chan struct{}, 1), make(chan struct{}, 1)}}
}

// Resume continues a direction a filter paused (proxy_continue_stream); safe from any goroutine, and a no-op
// for a direction that is not paused.
func (c *Conn) Resume(d Direction) {
	select {
	case c.resume[d] <- struct{}{}:
	default:
	}
}

// Resumed delivers Resume calls for d, to the proxy.
func (c *Conn) Resumed(d Direction) <-chan struct{} { return c.resume[d] }

// Context ends with the connection.
func (c *Conn) Context() context.Context { return c.ctx }

// RequestClose asks the proxy to close the connection (proxy_close_stream); safe from any goroutine.
func (c *Conn) RequestClose() { c.once.Do(func() { close(c.close) }) }

// CloseRequested is closed when a filter asks to close the connection.
func (c *Conn) CloseRequested() <-chan struct{} { return c.close }
