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
	Log               *slog.Logger
	Ref               *drain.Ref
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

	var wg sync.WaitGroup
	wg.Go(func() { pump(c, up, down, handlers, true) }) // client to upstream: the downstream data callbacks
	pump(c, down, up, handlers, false)
	wg.Wait()
}

// pump copies src to dst through the filters (the downstream-data callbacks when src is the client), and
// half-closes dst at the end of src.
func pump(c *filter.Conn, dst, src net.Conn, handlers []filter.ConnFilter, downstream bool) {
	buf := make([]byte, bufSize)
	for {
		n, err := src.Read(buf)
		end := err != nil
		if n > 0 || end {
			data := buf[:n]
			for _, f := range handlers {
				var a filter.Action
				if downstream {
					a = f.OnDownstreamData(&data, end)
				} else {
					a = f.OnUpstreamData(&data, end)
				}
				if a != filter.Continue && !waitResume(c) {
					return
				}
			}
			if len(data) > 0 {
				if _, werr := dst.Write(data); werr != nil {
					return
				}
			}
		}
		if end {
			if tc, ok := dst.(interface{ CloseWrite() error }); ok && errors.Is(err, io.EOF) {
				tc.CloseWrite()
			} else {
				dst.Close()
			}
			return
		}
	}
}

// waitResume decides what a paused L4 filter means. Holding bytes until a later resume is not implemented: the
// bytes go on, unless a filter asked to close the connection or it ended.
func waitResume(c *filter.Conn) bool {
	select {
	case <-c.CloseRequested():
		return false
	case <-c.Context().Done():
		return false
	default:
		return true
	}
}
