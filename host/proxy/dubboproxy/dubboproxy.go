// Package dubboproxy is the Dubbo 2 listener of the data plane: every request is a stream through the filter
// chain, with the header pairs host/dubbo defines (":path" /service/method, x-dubbo-service, attachments, ...).
// A filter may answer locally (mapped to a Dubbo response by dubbo.AppendLocalReply) or set upstream_cluster;
// otherwise the route (service, method, version, group, attachments) picks the cluster, whose endpoint clients
// multiplex requests over pooled connections (host/dubbo/upstream). Response filters see ":status" and the
// response attachments.
//
//	h := dubboproxy.NewHandler(cfg)
//	l := dubboproxy.NewListener("dubbo", "127.0.0.1:20880", h, logger)
//	go l.Start(ctx)
package dubboproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmesh/wasmesh/host/dubbo"
	"github.com/wasmesh/wasmesh/host/dubbo/downstream"
	"github.com/wasmesh/wasmesh/host/dubbo/upstream"
	"github.com/wasmesh/wasmesh/host/proxy/accept"
	"github.com/wasmesh/wasmesh/host/proxy/cluster"
	"github.com/wasmesh/wasmesh/host/proxy/drain"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/metrics"
	"github.com/wasmesh/wasmesh/host/proxy/route"
)

// Config is one Dubbo listener's part of a configuration generation; immutable once handed to a Handler.
type Config struct {
	Listener string
	Address  string
	Table    *route.Table
	Routes   []route.Bound // by route.Route.Index
	NoRoute  *metrics.RouteStats
	Clusters map[string]*Cluster
	Log      *slog.Logger
	Ref      *drain.Ref
}

// Cluster is a dubbo cluster: load balancing, health and circuit breaking from cluster.Cluster, and one
// multiplexing client per endpoint.
type Cluster struct {
	*cluster.Cluster
	Metrics *metrics.ClusterStats
	clients map[string]*upstream.Client
}

// NewCluster makes the endpoint clients of c; Start runs them.
func NewCluster(c *cluster.Cluster, m *metrics.ClusterStats, log *slog.Logger) (*Cluster, error) {
	dc := &Cluster{Cluster: c, Metrics: m, clients: map[string]*upstream.Client{}}
	for _, ep := range c.Endpoints() {
		cl, err := upstream.New(upstream.Config{Addr: ep.Address, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("cluster %s endpoint %s: %w", c.Name, ep.Address, err)
		}
		dc.clients[ep.Address] = cl
	}
	return dc, nil
}

// Start runs the endpoint clients (and the cluster's health checks) until ctx ends.
func (c *Cluster) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, cl := range c.clients {
		wg.Go(func() { _ = cl.Start(ctx) })
	}
	wg.Go(func() { _ = c.Cluster.Start(ctx) })
	wg.Wait()
	return nil
}

// Handler answers Dubbo requests on the current configuration.
type Handler struct {
	cur      *drain.Current[Config]
	inFlight atomic.Int64
}

// NewHandler returns a Handler serving cfg.
func NewHandler(cfg *Config) *Handler {
	return &Handler{cur: drain.NewCurrent(cfg, func(c *Config) *drain.Ref { return c.Ref })}
}

// Swap installs cfg for new requests and returns the previous one.
func (h *Handler) Swap(cfg *Config) *Config { return h.cur.Swap(cfg) }

// state is one request's scratch space, pooled: after the first requests, the frame path allocates only the
// decoded strings and the upstream's response frame.
type state struct {
	s     *filter.Stream
	req   dubbo.Request
	reqH  filter.Pairs
	resp  dubbo.Response
	respH filter.Pairs
	orig  [][2]string // the headers before the filters ran, to see whether they changed anything
	out   []byte      // a re-encoded request frame
}

var states = sync.Pool{New: func() any { return &state{s: filter.NewStream()} }}

// putState pools st, without a re-encode buffer grown by an unusually large request.
func putState(st *state) {
	if cap(st.out) > 64<<10 {
		st.out = nil
	}
	states.Put(st)
}

// Handle implements downstream.Handler: one request frame in, one response frame out.
func (h *Handler) Handle(ctx context.Context, hdr dubbo.Header, frame []byte) []byte {
	start := time.Now()
	h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	cfg := h.cur.Acquire()
	defer cfg.Ref.Release()
	st := states.Get().(*state)
	defer putState(st)
	req := &st.req
	if err := hdr.RequireHessian2(); err != nil {
		return dubbo.AppendErrorResponse(nil, hdr.ID, dubbo.StatusBadRequest, err.Error())
	}
	if err := dubbo.DecodeRequest(frame[dubbo.HeaderLen:], req); err != nil {
		cfg.Log.Debug("bad dubbo request", "err", err)
		return dubbo.AppendErrorResponse(nil, hdr.ID, dubbo.StatusBadRequest, "wasmesh: malformed request")
	}
	st.reqH.P = req.AppendHeaders(st.reqH.P[:0])
	s := st.s
	s.Reset(ctx, &st.reqH, filter.Info{Protocol: "dubbo", Listener: cfg.Listener, Destination: cfg.Address, Source: sourceOf(ctx)})
	group, _ := req.Attachment("group")
	rt := cfg.Table.MatchDubbo(route.Dubbo{Service: req.Service, Method: req.Method, Version: req.Version, Group: group, Attachment: req.Attachment})
	if rt == nil {
		cfg.NoRoute.Observe(404, time.Since(start).Seconds())
		return dubbo.AppendLocalReply(nil, hdr.ID, req.DubboVersion, 404, "wasmesh: no route for "+req.Path(), nil)
	}
	r := &cfg.Routes[rt.Index]
	s.Info.Route = rt.Name
	out, status := h.serve(ctx, cfg, r, st, hdr, frame)
	s.Info.ResponseCode = status
	r.Chain.Done(s)
	r.Stats.Observe(status, time.Since(start).Seconds())
	if s.Info.LocalReplyBy != "" {
		cfg.Log.Debug("dubbo local reply", "route", rt.Name, "filter", s.Info.LocalReplyBy, "status", status)
	}
	s.Reset(context.Background(), nil, filter.Info{})
	return out
}

func (h *Handler) serve(ctx context.Context, cfg *Config, r *route.Bound, st *state, hdr dubbo.Header, frame []byte) ([]byte, int) {
	s, req := st.s, &st.req
	local := func() ([]byte, int) {
		lr := s.LocalResponse()
		if lr == nil { // the stream ended while a filter held it
			return nil, 499
		}
		return dubbo.AppendLocalReply(nil, hdr.ID, req.DubboVersion, lr.Status, string(lr.Body), lr.Headers), lr.Status
	}
	st.orig = append(st.orig[:0], st.reqH.P...)
	if !r.Chain.RequestHeaders(s, true) {
		return local()
	}
	// The downstream frame goes upstream as it came unless a filter changed a header; only then is the request
	// encoded again.
	out := frame
	if !slices.Equal(st.orig, st.reqH.P) {
		if err := req.ApplyHeaders(st.reqH.P); err != nil {
			return dubbo.AppendErrorResponse(nil, hdr.ID, dubbo.StatusBadRequest, "wasmesh: "+err.Error()), 400
		}
		st.out = req.AppendFrame(st.out[:0], hdr.ID, hdr.Flags)
		out = st.out
	}
	name := s.Info.UpstreamCluster
	if name == "" {
		name = r.PickCluster()
	}
	s.Info.Cluster = name
	c := cfg.Clusters[name]
	if c == nil {
		return dubbo.AppendErrorResponse(nil, hdr.ID, dubbo.StatusServiceNotFound, "wasmesh: unknown cluster "+name), 404
	}
	if !c.Admit() {
		return dubbo.AppendErrorResponse(nil, hdr.ID, dubbo.StatusServerThreadpoolExhausted, "wasmesh: upstream overflow"), 429
	}
	defer c.Release()
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	ep, err := c.Pick(c.HashKey(s.RequestHeaders, s.Info.Source)) // hash_header: an attachment
	if err != nil {
		return dubbo.AppendErrorResponse(nil, hdr.ID, dubbo.StatusServerError, "wasmesh: no healthy upstream"), 503
	}
	t0 := time.Now()
	ep.Begin()
	resp, err := c.clients[ep.Address].Do(ctx, out) // Do writes out before it returns and keeps no reference
	if err != nil {
		ep.Report(0, err)
		c.Metrics.Observe(0, true, 0)
		if errors.Is(err, upstream.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			return dubbo.AppendErrorResponse(nil, hdr.ID, dubbo.StatusServerTimeout, "wasmesh: upstream timeout"), 504
		}
		return dubbo.AppendErrorResponse(nil, hdr.ID, dubbo.StatusServerError, "wasmesh: upstream unavailable"), 503
	}
	rh, _ := dubbo.ParseHeader(resp, len(resp))
	status := dubbo.HTTPStatus(dubbo.Status(rh.Status))
	ep.Report(status, nil)
	c.Metrics.Observe(status, false, time.Since(t0).Seconds())
	if r.Chain.Wants()&filter.WantResponseHeaders == 0 {
		return resp, status
	}
	// Response filters: decode, show :status and attachments, re-encode only when something changed.
	if err := dubbo.DecodeResponse(rh, resp[dubbo.HeaderLen:], &st.resp); err != nil {
		return resp, status
	}
	st.respH.P = st.resp.AppendHeaders(st.respH.P[:0])
	st.orig = append(st.orig[:0], st.respH.P...)
	s.ResponseHeaders = &st.respH
	if !r.Chain.ResponseHeaders(s, true) {
		return local()
	}
	if slices.Equal(st.orig, st.respH.P) {
		return resp, status
	}
	st.resp.ApplyHeaders(st.respH.P)
	return st.resp.AppendFrame(nil, hdr.ID), status
}

type sourceKey struct{}

// sourceOf returns the client address the listener put in ctx.
func sourceOf(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}

// Listener accepts Dubbo connections.
type Listener struct {
	Name, Address string
	handler       *Handler
	log           *slog.Logger
	DrainTimeout  drain.Timeout
	ready         chan net.Addr
	errors        atomic.Int64
}

// NewListener returns a listener for h.
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

// ProtocolErrors counts bad frames from clients.
func (l *Listener) ProtocolErrors() int64 { return l.errors.Load() }

// Serve serves ln until ctx ends; connections then get DrainTimeout to finish the requests they have in flight.
func (l *Listener) Serve(ctx context.Context, ln net.Listener) error {
	srv, err := downstream.New(downstream.Config{Logger: l.log, OnProtocolError: func(dubbo.Kind) { l.errors.Add(1) }},
		downstream.HandlerFunc(l.handler.Handle))
	if err != nil {
		return err
	}
	l.ready <- ln.Addr()
	l.log.Info("listening", "address", ln.Addr().String(), "protocol", "dubbo")
	// Each connection's context carries its client address. Connections live until shutdown: a reload swaps the
	// handler's configuration and each request runs on the one current when it arrived, so long-lived Dubbo
	// connections never pin an old configuration.
	accept.Serve(ctx, ln, func(ctx context.Context, nc net.Conn) {
		_ = srv.ServeConn(context.WithValue(ctx, sourceKey{}, nc.RemoteAddr().String()), nc)
	}, func(done <-chan struct{}) {
		// Shutdown: no new connections; wait for the requests in flight (up to DrainTimeout), then close the
		// connections. Dubbo 2 has no way to tell a client to stop sending on a connection, so requests arriving
		// meanwhile are served too.
		deadline := time.Now().Add(l.DrainTimeout.Get())
		for l.handler.inFlight.Load() > 0 && time.Now().Before(deadline) {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	return nil
}
