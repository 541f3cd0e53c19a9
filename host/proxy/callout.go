package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/wasmesh/wasmesh/host/abi"
	"github.com/wasmesh/wasmesh/host/engine"
	"github.com/wasmesh/wasmesh/host/engine/grpcclient"
	"github.com/wasmesh/wasmesh/host/proxy/cluster"
	"github.com/wasmesh/wasmesh/host/proxy/httpproxy"
)

// Callouts sends the calls Wasm modules make to the clusters of a Server, by cluster name: proxy_http_call
// through the cluster's circuit breaker, load balancer and connection pool (counted in its upstream metrics),
// proxy_grpc_call and proxy_grpc_stream over one grpc-go connection per cluster. The engine is created before
// any configuration, so Callouts is made first, given to engine.New as its Caller, and then to New
// (Options.Callouts), which binds it to the server:
//
//	co := proxy.NewCallouts(log)
//	defer co.Close()
//	eng, _ := engine.New(engine.Config{Caller: co})
//	srv, _ := proxy.New(ctx, proxy.Options{ConfigPath: path, Registry: reg, Callouts: co})
//
// A name is looked up in the configuration being built (so a module's calls while it starts reach the clusters
// of its own configuration), then in the running one. An unknown cluster, an open circuit breaker or no
// endpoint is an error; the engine then gives the module an empty response (HTTP) or UNAVAILABLE (gRPC).
type Callouts struct {
	*grpcclient.Client // proxy_grpc_call, proxy_grpc_stream over conns

	log    *slog.Logger
	server atomic.Pointer[Server]

	mu      sync.Mutex
	conns   map[string]*grpcConn // by cluster name
	seenGen *generation          // the running generation conns were last checked against
	closed  bool
}

var (
	_ engine.Caller       = (*Callouts)(nil)
	_ engine.GRPCCaller   = (*Callouts)(nil)
	_ engine.GRPCStreamer = (*Callouts)(nil)
)

// maxCallResponse bounds the body of an HTTP call's response: the module receives it whole, in its memory.
const maxCallResponse = 16 << 20

// NewCallouts returns a Callouts bound to no server yet: calls fail until New binds it. log may be nil.
func NewCallouts(log *slog.Logger) *Callouts {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Callouts{log: log, conns: map[string]*grpcConn{}}
	c.Client = grpcclient.New(grpcclient.ConnsFunc(c.grpcConn))
	return c
}

// bind makes s the server whose clusters the calls go to; the last server bound wins.
func (c *Callouts) bind(s *Server) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("proxy: Options.Callouts is closed")
	}
	c.server.Store(s)
	return nil
}

// Close closes the gRPC connections; calls after it fail.
func (c *Callouts) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for name, gc := range c.conns {
		errs = append(errs, gc.cc.Close())
		delete(c.conns, name)
	}
	return errors.Join(errs...)
}

// upstream finds a cluster by name: in the generation being built, then in the running one.
func (c *Callouts) upstream(name string) (*httpproxy.Upstream, error) {
	s := c.server.Load()
	if s == nil {
		return nil, fmt.Errorf("cluster %q: the proxy has no configuration yet", name)
	}
	for _, g := range [...]*generation{s.building.Load(), s.gen.Load()} {
		if g == nil {
			continue
		}
		if u := g.clusters[name]; u != nil {
			return u, nil
		}
	}
	return nil, fmt.Errorf("cluster %q: %w", name, errUnknownCluster)
}

var errUnknownCluster = errors.New("no such cluster in the proxy configuration")

// HTTPCall implements engine.Caller: one request to an endpoint of the cluster, the whole response back.
// Headers from the module carry :method and :path (required), :authority (default: the cluster name) and
// maybe :scheme, which is ignored: the cluster's protocol and tls decide.
func (c *Callouts) HTTPCall(ctx context.Context, name string, headers abi.Headers, body []byte, trailers abi.Headers, timeout time.Duration) (*engine.CallResponse, error) {
	up, err := c.upstream(name)
	if err != nil {
		return nil, fmt.Errorf("proxy: http call: %w", err)
	}
	if p := up.Protocol; p == "dubbo" || p == "tcp" {
		return nil, fmt.Errorf("proxy: http call: cluster %q has protocol %s, not HTTP", name, p)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := callRequest(ctx, up.Cluster, headers, body, trailers)
	if err != nil {
		return nil, fmt.Errorf("proxy: http call to cluster %q: %w", name, err)
	}
	if !up.Admit() {
		return nil, fmt.Errorf("proxy: http call: cluster %q: %w", name, cluster.ErrCircuitOpen)
	}
	defer up.Release()
	ep, err := up.Pick(up.HashKey(callHeaders(headers), ""))
	if err != nil {
		return nil, fmt.Errorf("proxy: http call: %w", err)
	}
	req.URL.Host = ep.Address
	t0 := time.Now()
	ep.Begin()
	resp, err := up.Transport().RoundTrip(req)
	var out *engine.CallResponse
	if err == nil {
		out, err = callResponse(resp)
	}
	if err != nil {
		ep.Report(0, err)
		up.Metrics.Observe(0, true, 0)
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) { // the transport's error may only say "i/o timeout"
			err = fmt.Errorf("%w: %v", ctx.Err(), err)
		}
		return nil, fmt.Errorf("proxy: http call to cluster %q endpoint %s: %w", name, ep.Address, err)
	}
	ep.Report(resp.StatusCode, nil)
	up.Metrics.Observe(resp.StatusCode, false, time.Since(t0).Seconds())
	return out, nil
}

// callHeaders reads a module's header list for the ring_hash key (cluster.HeaderGetter).
type callHeaders abi.Headers

func (h callHeaders) Get(name string) string {
	for _, kv := range h {
		if strings.EqualFold(kv.Key, name) {
			return kv.Value
		}
	}
	return ""
}

// callRequest maps a module's header list, body and trailers to a request for cl; the endpoint is set later.
func callRequest(ctx context.Context, cl *cluster.Cluster, headers abi.Headers, body []byte, trailers abi.Headers) (*http.Request, error) {
	req := &http.Request{Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{},
		URL: &url.URL{Scheme: cl.Scheme}, Body: http.NoBody}
	// No User-Agent unless the module sends one (net/http would add its own).
	req.Header["User-Agent"] = nil
	var path string
	for _, kv := range headers {
		switch k := strings.ToLower(kv.Key); k {
		case ":method":
			req.Method = kv.Value
		case ":path":
			path = kv.Value
		case ":authority", "host":
			req.Host = kv.Value
		case "content-length", "transfer-encoding", "connection":
			// framing is the transport's
		default:
			if strings.HasPrefix(k, ":") {
				continue // :scheme and unknown pseudo-headers
			}
			ck := http.CanonicalHeaderKey(k)
			req.Header[ck] = append(req.Header[ck], kv.Value)
		}
	}
	if req.Method == "" {
		return nil, errors.New("the headers have no :method")
	}
	if path == "" || path[0] != '/' {
		return nil, fmt.Errorf(":path %q must start with /", path)
	}
	u, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, fmt.Errorf(":path %q: %w", path, err)
	}
	req.URL.Path, req.URL.RawPath, req.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
	if req.Host == "" {
		req.Host = cl.Name
	}
	if len(body) > 0 {
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	if len(trailers) > 0 {
		// Trailers need a chunked (HTTP/1.1) or framed (HTTP/2) body of unknown length.
		req.Trailer = http.Header{}
		for _, kv := range trailers {
			ck := http.CanonicalHeaderKey(kv.Key)
			req.Trailer[ck] = append(req.Trailer[ck], kv.Value)
		}
		req.Body, req.ContentLength, req.GetBody = io.NopCloser(bytes.NewReader(body)), -1, nil
	}
	return req.WithContext(ctx), nil
}

// callResponse reads a whole response: ":status" first, then the headers and trailers with lower-case names.
func callResponse(resp *http.Response) (*engine.CallResponse, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCallResponse+1))
	if err != nil {
		return nil, fmt.Errorf("read response body: %w", err)
	}
	if len(body) > maxCallResponse {
		return nil, fmt.Errorf("response body over %d MiB", maxCallResponse>>20)
	}
	out := &engine.CallResponse{Body: body, Headers: make(abi.Headers, 0, len(resp.Header)+1)}
	out.Headers = append(out.Headers, abi.Header{Key: ":status", Value: strconv.Itoa(resp.StatusCode)})
	out.Headers = appendLower(out.Headers, resp.Header)
	out.Trailers = appendLower(nil, resp.Trailer)
	return out, nil
}

// appendLower appends h's pairs with lower-case names, in name order (a map has none of its own).
func appendLower(dst abi.Headers, h http.Header) abi.Headers {
	for _, k := range slices.Sorted(maps.Keys(h)) {
		lk := strings.ToLower(k)
		for _, v := range h[k] {
			dst = append(dst, abi.Header{Key: lk, Value: v})
		}
	}
	return dst
}

// grpcConn is the gRPC connection of one cluster. key covers what the connection was made from (protocol,
// TLS, endpoints): a configuration that changes it gets a new connection and the old one is closed.
type grpcConn struct {
	key string
	cc  *grpc.ClientConn
}

// grpcConn implements grpcclient.Conns: the cluster's connection, made on first use (grpc.NewClient connects
// lazily, so this never dials with the module's VM locked). When it sees a new generation it closes the
// connections of clusters it no longer has or has changed; calls still open on them end with CANCELLED.
func (c *Callouts) grpcConn(name string) (grpc.ClientConnInterface, error) {
	up, err := c.upstream(name)
	if err != nil {
		return nil, err
	}
	switch up.Protocol {
	case "h2c", "h2":
	default:
		return nil, fmt.Errorf("cluster %q has protocol %s; gRPC calls need h2c (cleartext HTTP/2) or h2 (TLS): set clusters[].protocol", name, up.Protocol)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("proxy: callouts closed")
	}
	if run := c.server.Load().gen.Load(); run != nil && run != c.seenGen {
		c.seenGen = run
		c.sweep(run)
	}
	key := connKey(up.Cluster)
	gc := c.conns[name]
	if gc != nil && gc.key != key {
		c.closeConn(name, gc)
		gc = nil
	}
	if gc == nil {
		cc, err := dialCluster(up.Cluster)
		if err != nil {
			return nil, fmt.Errorf("cluster %q: %w", name, err)
		}
		gc = &grpcConn{key: key, cc: cc}
		c.conns[name] = gc
	}
	return &clusterConn{cc: gc.cc, up: up}, nil
}

// sweep closes the connections whose cluster the running generation g no longer has, or has with other
// endpoints. Call with c.mu held.
func (c *Callouts) sweep(g *generation) {
	for name, gc := range c.conns {
		if up := g.clusters[name]; up == nil || connKey(up.Cluster) != gc.key {
			c.closeConn(name, gc)
		}
	}
}

func (c *Callouts) closeConn(name string, gc *grpcConn) {
	delete(c.conns, name)
	if err := gc.cc.Close(); err != nil {
		c.log.Debug("closing a gRPC connection", "cluster", name, "err", err)
	}
}

func connKey(cl *cluster.Cluster) string {
	cfg := cl.Config()
	var b strings.Builder
	b.WriteString(cfg.Protocol)
	if t := cfg.TLS; t != nil {
		fmt.Fprintf(&b, "|tls %s %s %t", t.ServerName, t.CAFile, t.InsecureSkipVerify)
	}
	for _, e := range cl.Endpoints() {
		b.WriteString("|")
		b.WriteString(e.Address)
	}
	return b.String()
}

// dialCluster makes a lazily connecting client over the cluster's endpoints, balanced round robin by grpc-go.
func dialCluster(cl *cluster.Cluster) (*grpc.ClientConn, error) {
	var addrs []resolver.Address
	for _, e := range cl.Endpoints() {
		addrs = append(addrs, resolver.Address{Addr: e.Address})
	}
	r := manual.NewBuilderWithScheme("wasmesh")
	r.InitialState(resolver.State{Addresses: addrs})
	creds := insecure.NewCredentials()
	if tc := cl.TLSConfig(); tc != nil {
		creds = credentials.NewTLS(tc)
	}
	return grpc.NewClient("wasmesh:///"+cl.Name, grpc.WithResolvers(r), grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`))
}

// clusterConn puts calls and streams through the cluster's circuit breaker (an open stream counts as one request
// until it ends) and counts them in its upstream metrics: 200 for an answer whatever its gRPC status, a failure
// when no server answered (UNAVAILABLE, DEADLINE_EXCEEDED).
type clusterConn struct {
	cc *grpc.ClientConn
	up *httpproxy.Upstream
}

func (cc *clusterConn) admit() error {
	if !cc.up.Admit() {
		return status.Errorf(codes.Unavailable, "cluster %q: %v", cc.up.Name, cluster.ErrCircuitOpen)
	}
	return nil
}

// done releases the admission of a call or stream that started at t0 and ended with err, and counts it.
func (cc *clusterConn) done(t0 time.Time, err error) {
	cc.up.Release()
	if code := status.Code(err); code == codes.Unavailable || code == codes.DeadlineExceeded {
		cc.up.Metrics.Observe(0, true, 0)
	} else {
		cc.up.Metrics.Observe(200, false, time.Since(t0).Seconds())
	}
}

func (cc *clusterConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if err := cc.admit(); err != nil {
		return err
	}
	t0 := time.Now()
	err := cc.cc.Invoke(ctx, method, args, reply, opts...)
	cc.done(t0, err)
	return err
}

// NewStream admits the stream and releases it when it ends: when RecvMsg returns an error (io.EOF for a clean
// end) or the stream's context is done, whichever comes first (grpc-go requires one of them to free a stream).
func (cc *clusterConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if err := cc.admit(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	cs, err := cc.cc.NewStream(ctx, desc, method, opts...)
	if err != nil {
		cc.done(t0, err)
		return nil, err
	}
	s := &admittedStream{ClientStream: cs, release: func(err error) { cc.done(t0, err) }}
	s.stop = context.AfterFunc(ctx, func() { s.end(ctx.Err()) })
	return s, nil
}

// admittedStream is a client stream holding a circuit-breaker admission until it ends.
type admittedStream struct {
	grpc.ClientStream
	once    sync.Once
	release func(error)
	stop    func() bool // set before the stream is returned, so before any RecvMsg
}

func (s *admittedStream) end(err error) { s.once.Do(func() { s.release(err) }) }

func (s *admittedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.stop()
		if errors.Is(err, io.EOF) {
			s.end(nil) // a clean end
		} else {
			s.end(err)
		}
	}
	return err
}
