// Package tcpproxy is the tcp listener of the data plane: raw TCP proxying to a cluster, with network (L4)
// filters that see and may rewrite the bytes of each direction. A connection keeps the configuration it was
// accepted on until it closes (a reload does not move it), within the drain timeout.
//
//	h := tcpproxy.NewHandler(cfg)
//	l := tcpproxy.NewListener("db", "127.0.0.1:15432", h, logger)
//	go l.Serve(ctx, ln)
package tcpproxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/accept"
	"github.com/wasmesh/wasmesh/host/proxy/cluster"
	"github.com/wasmesh/wasmesh/host/proxy/drain"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/metrics"
)

// Config is one tcp listener's part of a configuration generation.
type Config struct {
	Listener, Address string
	Filters           []filter.NetworkFilter // in chain order
	Cluster           *cluster.Cluster
	Metrics           *metrics.ClusterStats
	ConnectTimeout    time.Duration
	// MaxBuffer bounds the bytes held per direction while a filter pauses it (the listener's max_buffer_bytes);
	// 0 is DefaultMaxBuffer.
	MaxBuffer int
	Log       *slog.Logger
	Ref       *drain.Ref
}

// Handler serves connections on the current configuration.
type Handler struct{ cur *drain.Current[Config] }

// NewHandler returns a Handler serving cfg.
func NewHandler(cfg *Config) *Handler {
	return &Handler{cur: drain.NewCurrent(cfg, func(c *Config) *drain.Ref { return c.Ref })}
}

// Swap installs cfg for new connections and returns the previous one.
func (h *Handler) Swap(cfg *Config) *Config { return h.cur.Swap(cfg) }

// Listener accepts TCP connections.
type Listener struct {
	Name, Address string
	handler       *Handler
	log           *slog.Logger
	DrainTimeout  drain.Timeout
	ready         chan net.Addr
}

// NewListener returns a tcp listener.
func NewListener(name, address string, h *Handler, log *slog.Logger) *Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Listener{Name: name, Address: address, handler: h, log: log.With("listener", name),
		ready: make(chan net.Addr, 1)}
	l.DrainTimeout.Set(30 * time.Second)
	return l
}

// Handler returns the listener's handler.
func (l *Listener) Handler() *Handler { return l.handler }

// Ready delivers the bound address.
func (l *Listener) Ready() <-chan net.Addr { return l.ready }

// Serve accepts on ln until ctx ends; open connections then get DrainTimeout to finish before they are closed.
func (l *Listener) Serve(ctx context.Context, ln net.Listener) error {
	l.ready <- ln.Addr()
	l.log.Info("listening", "address", ln.Addr().String(), "protocol", "tcp")
	accept.Serve(ctx, ln, l.handler.serve, func(done <-chan struct{}) {
		select {
		case <-done:
		case <-time.After(l.DrainTimeout.Get()):
			l.log.Warn("drain deadline reached; closing remaining tcp connections")
		}
	})
	return nil
}

const bufSize = 32 << 10

// serve proxies one connection on the configuration current when it was accepted.
func (h *Handler) serve(ctx context.Context, down net.Conn) {
	defer down.Close()
	cfg := h.cur.Acquire()
	defer cfg.Ref.Release()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { down.Close() })
	defer stop()

	c := filter.NewConn(ctx, filter.Info{Protocol: "tcp", Listener: cfg.Listener, Source: down.RemoteAddr().String(),
		Destination: down.LocalAddr().String(), Cluster: cfg.Cluster.Name})
	var handlers []filter.ConnFilter
	defer func() {
		for _, f := range handlers {
			f.OnClose()
		}
	}()
	for _, nf := range cfg.Filters {
		cf, a := nf.NewConnection(c)
		if cf != nil {
			handlers = append(handlers, cf)
		}
		if a != filter.Continue && !waitResume(c) {
			return
		}
	}
	go func() {
		select {
		case <-c.CloseRequested():
			cancel()
		case <-ctx.Done():
		}
	}()
	if !cfg.Cluster.Admit() {
		cfg.Log.Warn("tcp connection refused: circuit breaker open", "cluster", cfg.Cluster.Name)
		return
	}
	defer cfg.Cluster.Release()
	ep, err := cfg.Cluster.Pick(c.Info.Source)
	if err != nil {
		cfg.Log.Warn("tcp connection refused", "err", err)
		return
	}
	d := net.Dialer{Timeout: cfg.ConnectTimeout}
	ep.Begin()
	up, err := d.DialContext(ctx, "tcp", ep.Address)
	ep.Report(0, err)
	if err != nil {
		cfg.Metrics.Observe(0, true, 0)
		cfg.Log.Warn("tcp upstream connect failed", "endpoint", ep.Address, "err", err)
		return
	}
	cfg.Metrics.Observe(200, false, 0)
	defer up.Close()
	stopUp := context.AfterFunc(ctx, func() { up.Close() })
	defer stopUp()

	limit := cfg.MaxBuffer
	if limit <= 0 {
		limit = DefaultMaxBuffer
	}
	var wg sync.WaitGroup
	// Client to upstream runs the downstream-data callbacks.
	wg.Go(func() {
		(&pump{c: c, dst: up, src: down, handlers: handlers, dir: filter.Downstream, limit: limit}).run()
	})
	(&pump{c: c, dst: down, src: up, handlers: handlers, dir: filter.Upstream, limit: limit}).run()
	wg.Wait()
}

// DefaultMaxBuffer bounds the bytes held for one direction while a filter pauses it, when the listener sets no
// max_buffer_bytes.
const DefaultMaxBuffer = 1 << 20

// pump copies one direction through the filters. While no filter pauses, it reads and writes on its own
// goroutine with one buffer. From the first pause on, a reader goroutine feeds it chunks, so it can wait for
// bytes, a resume and a close at once; held bytes stay bounded by limit: beyond it the reader is not drained, so
// TCP flow control slows the sender (Envoy's read-disable at the buffer limit).
type pump struct {
	c        *filter.Conn
	dst, src net.Conn
	handlers []filter.ConnFilter
	dir      filter.Direction
	limit    int

	held    []byte // bytes read and not yet written while paused
	stopped int    // index of the filter that paused; -1 when flowing
	ended   bool   // src ended (EOF or error)
	reads   chan chunk
	ack     chan struct{}
	quit    chan struct{}
}

type chunk struct {
	b   []byte
	err error
}

func (p *pump) run() {
	p.stopped = -1
	defer func() {
		if p.quit != nil {
			close(p.quit)
		}
	}()
	buf := make([]byte, bufSize)
	for {
		n, err := p.src.Read(buf)
		end := err != nil
		if n == 0 && !end {
			continue
		}
		data := buf[:n]
		i, ok := p.filter(0, &data, end)
		if !ok {
			return
		}
		if i >= 0 {
			p.held = append(p.held[:0], data...)
			p.stopped, p.ended = i, end
			if !end {
				p.reads, p.ack, p.quit = make(chan chunk), make(chan struct{}), make(chan struct{})
				go p.read(buf)
			}
			p.paused(err)
			return
		}
		if !p.write(data, end, err) {
			return
		}
	}
}

// filter runs the filters from the one at index from; it returns the index of a filter that paused (or -1), and
// false when the connection is to close.
func (p *pump) filter(from int, data *[]byte, end bool) (int, bool) {
	for i := from; i < len(p.handlers); i++ {
		var a filter.Action
		if p.dir == filter.Downstream {
			a = p.handlers[i].OnDownstreamData(data, end)
		} else {
			a = p.handlers[i].OnUpstreamData(data, end)
		}
		if a != filter.Continue {
			select {
			case <-p.c.CloseRequested():
				return 0, false
			case <-p.c.Context().Done():
				return 0, false
			default:
			}
			return i, true
		}
	}
	return -1, true
}

// write forwards data, and at the end of src half-closes dst (or closes it after an error). It reports whether
// to go on.
func (p *pump) write(data []byte, end bool, err error) bool {
	if len(data) > 0 {
		if _, werr := p.dst.Write(data); werr != nil {
			return false
		}
	}
	if end {
		if tc, ok := p.dst.(interface{ CloseWrite() error }); ok && errors.Is(err, io.EOF) {
			tc.CloseWrite()
		} else {
			p.dst.Close()
		}
		return false
	}
	return true
}

// read feeds src to the pump in chunks once a filter has paused; each chunk's buffer is reused after p.ack.
func (p *pump) read(buf []byte) {
	for {
		n, err := p.src.Read(buf)
		select {
		case p.reads <- chunk{buf[:n], err}:
		case <-p.quit:
			return
		}
		if err != nil {
			return
		}
		select {
		case <-p.ack:
		case <-p.quit:
			return
		}
	}
}

// paused serves the direction after the first pause: chunks, resumes and the close of the connection.
func (p *pump) paused(srcErr error) {
	for {
		var reads chan chunk
		if !p.ended && (p.stopped < 0 || len(p.held) < p.limit) {
			reads = p.reads
		}
		select {
		case ch := <-reads:
			end := ch.err != nil
			if end {
				p.ended, srcErr = true, ch.err
			}
			var i int
			var ok bool
			if p.stopped >= 0 {
				// Held bytes grow, and every filter sees all of them again (proxy-wasm's data_size "increments
				// while paused"; Envoy re-runs its read filters from the first over its buffer).
				p.held = append(p.held, ch.b...)
				i, ok = p.filter(0, &p.held, end)
			} else {
				data := ch.b
				if i, ok = p.filter(0, &data, end); ok && i >= 0 {
					p.held = append(p.held[:0], data...)
				} else if ok && !p.write(data, end, ch.err) {
					return
				}
			}
			if !end {
				p.ack <- struct{}{}
			}
			if !ok {
				return
			}
			if !p.settle(i, srcErr) {
				return
			}
		case <-p.c.Resumed(p.dir):
			if p.stopped < 0 {
				continue
			}
			i, ok := p.filter(p.stopped+1, &p.held, p.ended)
			if !ok || !p.settle(i, srcErr) {
				return
			}
		case <-p.c.CloseRequested():
			return
		case <-p.c.Context().Done():
			return
		}
	}
}

// settle records the outcome of a filter run over held bytes: still paused at filter i, or flowing again, the
// held bytes written. It reports whether to go on.
func (p *pump) settle(i int, srcErr error) bool {
	if i >= 0 {
		p.stopped = i
		return true
	}
	if p.stopped < 0 {
		return !p.ended
	}
	p.stopped = -1
	// A resume sent for the pause just ended must not end the next one at once.
	select {
	case <-p.c.Resumed(p.dir):
	default:
	}
	held := p.held
	p.held = p.held[:0]
	return p.write(held, p.ended, srcErr)
}

// waitResume holds a new connection a filter paused in proxy_on_new_connection, before the upstream is dialed,
// until it resumes; false when the connection is to close instead.
func waitResume(c *filter.Conn) bool {
	select {
	case <-c.Resumed(filter.Downstream):
		return true
	case <-c.CloseRequested():
		return false
	case <-c.Context().Done():
		return false
	}
}
