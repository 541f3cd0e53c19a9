// Package cluster is a named group of upstream endpoints: load balancing (round robin, weighted, least request,
// ring hash), a connection pool per cluster (net/http's Transport, HTTP/1.1, h2c or h2 over TLS), active health
// checks (HTTP, TCP, Dubbo heartbeat), passive outlier ejection and circuit breaking (max connections, pending, requests).
//
//	c, _ := cluster.New(cfg, logger)
//	go c.Start(ctx) // health checks
//	if !c.Admit() { /* 503: circuit open */ }
//	defer c.Release()
//	ep, err := c.Pick(c.HashKey(stream.RequestHeaders, clientAddr))
//	resp, err := c.Transport().RoundTrip(req) // req.URL.Host = ep.Address
//	ep.Report(resp.StatusCode, err)
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/config"
)

// Errors the proxy maps to responses (503) and metrics.
var (
	ErrNoHealthyEndpoint = errors.New("no healthy endpoint")
	ErrCircuitOpen       = errors.New("circuit breaker open")
)

// Cluster is built from configuration; its endpoint health changes at run time, everything else is fixed.
type Cluster struct {
	Name     string
	Protocol string
	Scheme   string // http or https, for upstream URLs

	log       *slog.Logger
	cfg       config.Cluster
	endpoints []*Endpoint
	lb        balancer
	// hashHeader is the header ring_hash hashes (clusters[].hash_header, canonical); empty for other balancers.
	hashHeader string
	transport  *http.Transport
	h1         *h1Transport      // bodiless HTTP/1.1 requests, with transport as fallback
	rt         http.RoundTripper // h1, transport, or the one given to NewWithTransport

	maxConns, maxPending, maxRequests int64
	conns, active                     atomic.Int64
	overflow                          atomic.Uint64 // requests refused by the circuit breaker
}

// New builds a cluster from validated configuration. It opens no connection.
func New(cfg config.Cluster, log *slog.Logger) (*Cluster, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{Name: cfg.Name, Protocol: cfg.Protocol, Scheme: "http", cfg: cfg, log: log.With("cluster", cfg.Name)}
	for _, e := range cfg.Endpoints {
		w := e.Weight
		if w == 0 {
			w = 1
		}
		ep := &Endpoint{Address: e.Address, Weight: w, cluster: c}
		ep.healthy.Store(true)
		c.endpoints = append(c.endpoints, ep)
	}
	if cb := cfg.CircuitBreaker; cb != nil {
		c.maxConns, c.maxPending, c.maxRequests = int64(cb.MaxConnections), int64(cb.MaxPending), int64(cb.MaxRequests)
	}
	var err error
	if c.lb, err = newBalancer(cfg.LB, c.endpoints); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", cfg.Name, err)
	}
	if cfg.LB == "ring_hash" {
		// Canonical form ("X-User"): HTTP header maps look it up without canonicalising it on every request;
		// Dubbo's pairs compare case-insensitively; pseudo-headers are left as they are.
		c.hashHeader = http.CanonicalHeaderKey(cfg.HashHeader)
	}
	if c.transport, err = c.newTransport(); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", cfg.Name, err)
	}
	c.rt = c.transport
	if c.Scheme == "http" && c.Protocol == "http1" {
		addrs := make([]string, len(c.endpoints))
		for i, e := range c.endpoints {
			addrs[i] = e.Address
		}
		c.h1 = newH1Transport(addrs, c.transport.MaxIdleConnsPerHost, c.transport.DialContext, c.transport)
		c.rt = c.h1
	}
	return c, nil
}

// NewWithTransport is New with requests sent through rt instead of the cluster's own pool (in-process
// upstreams, handler benchmarks). Health checks still use the cluster's pool.
func NewWithTransport(cfg config.Cluster, log *slog.Logger, rt http.RoundTripper) (*Cluster, error) {
	c, err := New(cfg, log)
	if err != nil {
		return nil, err
	}
	c.rt = rt
	return c, nil
}

func (c *Cluster) newTransport() (*http.Transport, error) {
	idle := c.cfg.MaxIdlePerHost
	if idle == 0 {
		idle = 256
	}
	d := &net.Dialer{Timeout: c.cfg.ConnectTimeout.D(5 * time.Second), KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:           c.dialer(d),
		MaxIdleConns:          idle * len(c.endpoints),
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		// The proxy forwards what the client sent; a transparent gzip would change bodies and lengths.
		DisableCompression: true,
		// Headers go upstream as the client wrote them, without Go adding a User-Agent.
		WriteBufferSize: 16 << 10,
		ReadBufferSize:  16 << 10,
	}
	var p http.Protocols
	switch c.Protocol {
	case "h2c":
		p.SetUnencryptedHTTP2(true)
	case "h2":
		p.SetHTTP2(true)
		p.SetHTTP1(true)
		c.Scheme = "https"
	default:
		p.SetHTTP1(true)
	}
	t.Protocols = &p
	if c.Protocol == "h2" || c.cfg.TLS != nil {
		c.Scheme = "https"
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if u := c.cfg.TLS; u != nil {
			tc.ServerName = u.ServerName
			tc.InsecureSkipVerify = u.InsecureSkipVerify //nolint:gosec // opt-in for test upstreams, documented
			if u.CAFile != "" {
				pem, err := os.ReadFile(u.CAFile)
				if err != nil {
					return nil, fmt.Errorf("tls.ca_file: %w", err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("tls.ca_file %s: no PEM certificate found", u.CAFile)
				}
				tc.RootCAs = pool
			}
		}
		t.TLSClientConfig = tc
	}
	return t, nil
}

// dialer counts connections for circuit breaking and refuses new ones beyond max_connections.
func (c *Cluster) dialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		// Reserve the slot before dialing, so concurrent dials cannot all pass the check.
		if n := c.conns.Add(1); c.maxConns > 0 && n > c.maxConns {
			c.conns.Add(-1)
			c.overflow.Add(1)
			return nil, fmt.Errorf("cluster %s: %w (max_connections %d)", c.Name, ErrCircuitOpen, c.maxConns)
		}
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			c.conns.Add(-1)
			return nil, err
		}
		return &countedConn{Conn: conn, c: c}, nil
	}
}

type countedConn struct {
	net.Conn
	c      *Cluster
	closed atomic.Bool
}

func (cc *countedConn) Close() error {
	if cc.closed.CompareAndSwap(false, true) {
		cc.c.conns.Add(-1)
	}
	return cc.Conn.Close()
}

// Transport is the cluster's connection pool.
func (c *Cluster) Transport() http.RoundTripper { return c.rt }

// TLSConfig is a copy of the TLS settings the cluster's connections use (protocol h2 or tls set), or nil when
// they are cleartext; for clients other than the cluster's pool, such as gRPC calls from modules.
func (c *Cluster) TLSConfig() *tls.Config {
	if c.transport.TLSClientConfig == nil {
		return nil
	}
	return c.transport.TLSClientConfig.Clone()
}

// Endpoints returns the endpoints, for the admin API.
func (c *Cluster) Endpoints() []*Endpoint { return c.endpoints }

// Config is the cluster's configuration, for /config_dump.
func (c *Cluster) Config() config.Cluster { return c.cfg }

// Admit takes a request slot, or reports false when the circuit breaker refuses: max_requests active requests,
// or more than max_pending requests waiting for a connection (active requests beyond open connections). A true
// Admit must be paired with Release.
func (c *Cluster) Admit() bool {
	n := c.active.Add(1)
	if (c.maxRequests > 0 && n > c.maxRequests) || (c.maxPending > 0 && n-c.conns.Load() > c.maxPending) {
		c.active.Add(-1)
		c.overflow.Add(1)
		return false
	}
	return true
}

// Active is the number of requests admitted and not released.
func (c *Cluster) Active() int64 { return c.active.Load() }

// Release returns a request slot.
func (c *Cluster) Release() { c.active.Add(-1) }

// Stats is a snapshot for metrics.
type Stats struct {
	Active, Connections int64
	Overflow            uint64
	Healthy, Ejected    int
}

// Stats reads the counters.
func (c *Cluster) Stats() Stats {
	s := Stats{Active: c.active.Load(), Connections: c.conns.Load(), Overflow: c.overflow.Load()}
	now := time.Now().UnixNano()
	for _, e := range c.endpoints {
		if e.healthy.Load() {
			s.Healthy++
		}
		if e.ejectedUntil.Load() > now {
			s.Ejected++
		}
	}
	return s
}

// Pick chooses an endpoint among the healthy, non-ejected ones. key is used by ring_hash (a header value or the
// client address); other balancers ignore it. When every endpoint is unavailable it still picks one, as Envoy's
// panic threshold does, rather than fail all traffic on a health-check glitch; with one endpoint marked down by
// an active check it reports ErrNoHealthyEndpoint.
func (c *Cluster) Pick(key string) (*Endpoint, error) {
	now := time.Now().UnixNano()
	if ep := c.lb.pick(key, now); ep != nil {
		return ep, nil
	}
	anyHealthy := false
	for _, e := range c.endpoints {
		anyHealthy = anyHealthy || e.healthy.Load()
	}
	if !anyHealthy {
		return nil, fmt.Errorf("cluster %s: %w", c.Name, ErrNoHealthyEndpoint)
	}
	return c.lb.pickAny(key), nil
}

// Close drops idle connections. In-flight requests finish on their connections.
func (c *Cluster) Close() {
	c.transport.CloseIdleConnections()
	if c.h1 != nil {
		for _, p := range c.h1.pools {
			p.mu.Lock()
			p.closed = true
			p.mu.Unlock()
			p.closeIdle()
		}
	}
}

// Endpoint is one upstream address and its run-time state.
type Endpoint struct {
	Address string
	Weight  int

	cluster      *Cluster
	healthy      atomic.Bool
	ejectedUntil atomic.Int64 // unix nanos
	ejections    atomic.Int32
	active       atomic.Int64
	consec5xx    atomic.Int32
	consecFail   atomic.Int32
	hcSuccess    int // owned by the health-check goroutine
	hcFail       int
}

// Healthy reports the active health check's verdict.
func (e *Endpoint) Healthy() bool { return e.healthy.Load() }

// Ejected reports whether passive outlier detection has ejected the endpoint.
func (e *Endpoint) Ejected() bool { return e.ejectedUntil.Load() > time.Now().UnixNano() }

func (e *Endpoint) available(now int64) bool {
	return e.healthy.Load() && e.ejectedUntil.Load() <= now
}

// Begin counts a request on the endpoint (least_request). Pair with Report.
func (e *Endpoint) Begin() { e.active.Add(1) }

// Report ends a request started with Begin: status is the upstream status (0 when err is set). It feeds
// outlier detection.
func (e *Endpoint) Report(status int, err error) {
	e.active.Add(-1)
	o := e.cluster.cfg.Outlier
	if o == nil {
		return
	}
	switch {
	case err != nil:
		if n := e.consecFail.Add(1); o.ConsecutiveFailure > 0 && int(n) >= o.ConsecutiveFailure {
			e.eject(o)
		}
	case status >= 500:
		e.consecFail.Store(0)
		if n := e.consec5xx.Add(1); o.Consecutive5xx > 0 && int(n) >= o.Consecutive5xx {
			e.eject(o)
		}
	default:
		if e.consec5xx.Load() != 0 {
			e.consec5xx.Store(0)
		}
		if e.consecFail.Load() != 0 {
			e.consecFail.Store(0)
		}
	}
}

func (e *Endpoint) eject(o *config.Outlier) {
	c := e.cluster
	now := time.Now().UnixNano()
	if e.ejectedUntil.Load() > now {
		return
	}
	maxPct := o.MaxEjectionPercent
	if maxPct == 0 {
		maxPct = 10
	}
	ejected := 0
	for _, x := range c.endpoints {
		if x.ejectedUntil.Load() > now {
			ejected++
		}
	}
	// At least one endpoint may always be ejected, so a single bad endpoint among few is still taken out.
	if ejected > 0 && (ejected+1)*100 > maxPct*len(c.endpoints) {
		return
	}
	n := e.ejections.Add(1)
	base := o.BaseEjection.D(30 * time.Second)
	e.ejectedUntil.Store(now + int64(base)*int64(n))
	e.consec5xx.Store(0)
	e.consecFail.Store(0)
	c.log.Warn("endpoint ejected", "endpoint", e.Address, "for", base*time.Duration(n))
}
