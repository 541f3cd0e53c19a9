package httpproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/cluster"
	"github.com/wasmesh/wasmesh/host/proxy/drain"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/internal/httpfield"
	"github.com/wasmesh/wasmesh/host/proxy/route"
)

// Handler serves one listener's requests on the current configuration.
type Handler struct {
	cur *drain.Current[Config]
}

// NewHandler returns a Handler serving cfg.
func NewHandler(cfg *Config) *Handler {
	return &Handler{cur: drain.NewCurrent(cfg, func(c *Config) *drain.Ref { return c.Ref })}
}

// Swap installs cfg for new requests and returns the previous configuration. The caller retires the old
// configuration's Ref (once per generation) and closes it when the Ref is done.
func (h *Handler) Swap(cfg *Config) *Config { return h.cur.Swap(cfg) }

// Current returns the configuration new requests use.
func (h *Handler) Current() *Config { return h.cur.Load() }

// state is everything a request needs besides the request itself, pooled so steady-state requests allocate
// nothing of their own.
type state struct {
	s     *filter.Stream
	reqH  filter.HTTPRequestHeaders
	out   http.Request // the upstream request, when it keeps the client request's context
	respH filter.HTTPResponseHeaders
	reqT  filter.MapHeaders
	respT filter.MapHeaders
	url   url.URL
	// status is the response status filters see and may change through ":status".
	status int
	// reqBody holds a request body that ended before it went upstream, for the request and its retries.
	reqBody bytes.Buffer
	// Body pipes and their read buffers (from copyBufPool), used only when a filter wants bodies.
	reqPipe, respPipe bodyPipe
	bufs              [2]*[]byte
	// abort asks ServeHTTP to break the client connection: the response failed after its head was sent.
	abort bool
}

func (st *state) reqBuf() []byte  { return st.buf(0) }
func (st *state) respBuf() []byte { return st.buf(1) }

func (st *state) buf(i int) []byte {
	if st.bufs[i] == nil {
		st.bufs[i] = copyBufPool.Get().(*[]byte)
	}
	return *st.bufs[i]
}

var statePool = sync.Pool{New: func() any {
	return &state{s: filter.NewStream()}
}}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// Hop-by-hop headers (RFC 9110 7.6.1), as canonical keys.
var hopHeaders = [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

var (
	emptyValue    = []string{""}[:1:1]
	textPlain     = []string{"text/plain; charset=utf-8"}[:1:1]
	errNoUpstream = errors.New("no upstream response")
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cfg := h.cur.Acquire()
	defer cfg.Ref.Release()

	st := statePool.Get().(*state)
	defer release(st)
	s := st.s
	st.reqH.R = r
	s.Reset(r.Context(), &st.reqH, filter.Info{
		Protocol:    r.Proto,
		Listener:    cfg.Listener,
		Source:      r.RemoteAddr,
		Destination: cfg.Address,
		TLS:         r.TLS,
	})

	rt := cfg.Table.MatchHTTP(r.Host, r.URL.Path, r.Method, r.Header)
	if rt == nil {
		s.SendLocalResponse(http.StatusNotFound, nil, noRouteBody, "no_route")
		status := writeLocal(w, s.LocalResponse())
		s.Info.ResponseCode = status
		cfg.NoRoute.Observe(status, time.Since(start).Seconds())
		h.log(cfg, r, s, start)
		return
	}
	route := &cfg.Routes[rt.Index]
	s.Info.Route = rt.Name
	chain := route.Chain
	status := h.serve(w, r, cfg, route, chain, st)
	s.Info.ResponseCode = status
	chain.Done(s)
	route.Stats.Observe(status, time.Since(start).Seconds())
	h.log(cfg, r, s, start)
	if st.abort {
		panic(http.ErrAbortHandler) // net/http closes the connection without logging
	}
}

var noRouteBody = []byte("no route\n")

// release drops the request's references before pooling the state, so a pooled state keeps no request alive.
func release(st *state) {
	st.reqH.R, st.respH.H, st.respH.Status, st.reqT.H, st.respT.H = nil, nil, nil, nil, nil
	st.out = http.Request{}
	st.s.Reset(context.Background(), nil, filter.Info{})
	if st.reqBody.Cap() > 1<<20 {
		st.reqBody = bytes.Buffer{}
	}
	st.reqPipe, st.respPipe, st.abort = bodyPipe{}, bodyPipe{}, false
	for i, b := range st.bufs {
		if b != nil {
			copyBufPool.Put(b)
			st.bufs[i] = nil
		}
	}
	statePool.Put(st)
}

// serve runs the chain and the upstream exchange and returns the status sent.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, cfg *Config, rt *route.Bound, chain *filter.Chain, st *state) int {
	s := st.s
	wants := chain.Wants()
	noBody := r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0
	if !chain.RequestHeaders(s, noBody) {
		return h.localOrAbort(w, s)
	}

	// Bodies go through filters only when one wants them (body.go); otherwise the client's body streams upstream.
	var body io.ReadCloser = r.Body
	var held *heldBody // a body that ended before going upstream: replayable
	var pump *requestPump
	if !noBody && wants&(filter.WantRequestBody|filter.WantRequestTrailers) != 0 {
		p := &st.reqPipe
		p.init(chain, s, r.Body, r.ContentLength, false, cfg.MaxBuffer, st.reqBuf(), &st.reqT, &r.Trailer)
		first, end, res := p.prefetch()
		if res != pipeOK {
			return h.bodyFailed(w, s, res, false)
		}
		if end {
			st.reqBody.Reset()
			st.reqBody.Write(first)
			held = &heldBody{data: st.reqBody.Bytes()}
			defer held.detach()
		} else {
			pump = startPump(p, first, w)
			defer pump.stop()
			body = pump.pr
		}
	}

	if held == nil && pump == nil && !noBody && rt.Retry != nil && rt.Retry.Attempts > 0 && !isUpgrade(r.Header) &&
		r.ContentLength <= int64(rt.Retry.MaxBody) {
		// A body small enough for the route's retries.max_body is read whole, so retries can replay it.
		rb, prefixed, replayable, res := readForReplay(st, r.Body, rt.Retry.MaxBody)
		if res != pipeOK {
			return h.bodyFailed(w, s, res, false)
		}
		defer rb.detach()
		if replayable {
			held = rb
		} else {
			body = prefixed
		}
	}

	rt.RequestHeaders.Apply(r.Header)
	name := s.Info.UpstreamCluster
	if name == "" {
		name = rt.PickCluster()
	}
	s.Info.Cluster = name
	up := cfg.Clusters[name]
	if up == nil {
		return h.fail(w, s, http.StatusServiceUnavailable, "unknown upstream cluster", "unknown_cluster")
	}
	if !up.Admit() {
		return h.fail(w, s, http.StatusServiceUnavailable, "upstream overflow", "upstream_overflow")
	}
	defer up.Release()

	ctx := r.Context()
	if rt.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rt.Timeout)
		defer cancel()
	}
	upgrade := isUpgrade(r.Header)
	var out *http.Request
	if ctx == r.Context() && noBody && !upgrade {
		// A shallow copy in the pooled state, as WithContext would make, without allocating. Only for requests
		// without a body: a transport may still be writing a body (and reading the request) after the exchange
		// ended, when the state is already reused.
		st.out = *r
		out = &st.out
	} else {
		out = r.WithContext(ctx)
	}
	prepareOutbound(out, r, &st.url, up.Cluster, upgrade)
	if held != nil {
		body = held.view()
		out.ContentLength = int64(len(held.data))
		out.TransferEncoding = nil // the client may have sent it chunked; the length is known now
		if len(out.Trailer) > 0 {
			out.ContentLength = -1 // HTTP/1.1 sends trailers only after a chunked body
		} else if len(held.data) == 0 {
			body = http.NoBody
		}
	} else if pump != nil {
		out.ContentLength = -1 // filters may change the length: chunked
	}
	out.Body = body

	resp, err := h.roundTrip(ctx, out, up, rt, s, noBody || held != nil, held)
	if err != nil && pump != nil {
		<-pump.done // the transport gave up; the pump has (or will have) seen the pipe close
		if f := pump.failure(); f != pipeOK {
			return h.bodyFailed(w, s, f, false)
		}
	}
	if err != nil {
		if errors.Is(err, cluster.ErrNoHealthyEndpoint) {
			return h.fail(w, s, http.StatusServiceUnavailable, "no healthy upstream", "no_healthy_upstream")
		}
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded {
			return h.fail(w, s, http.StatusGatewayTimeout, "upstream timeout", "upstream_timeout")
		}
		return h.fail(w, s, http.StatusBadGateway, "upstream connect error or reset", "upstream_error")
	}
	defer resp.Body.Close()

	if resp.StatusCode == http.StatusSwitchingProtocols {
		return h.upgrade(w, resp, s)
	}
	return h.respond(w, resp, cfg, rt, chain, st)
}

// prepareOutbound turns the shallow copy of the client's request into the upstream request. The client's header
// map is reused (the request is ours), minus hop-by-hop headers.
func prepareOutbound(out, in *http.Request, u *url.URL, c *cluster.Cluster, upgrade bool) {
	*u = url.URL{Scheme: c.Scheme, Path: in.URL.Path, RawPath: in.URL.RawPath, RawQuery: in.URL.RawQuery}
	out.URL = u
	out.RequestURI = ""
	out.Close = false
	h := out.Header
	var upg []string
	if upgrade {
		upg = h["Upgrade"]
	}
	if c := h["Connection"]; len(c) > 0 {
		removeConnectionHeaders(h, c)
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
	// Trailers the client declared are still sent: net/http writes out.Trailer after the body.
	if upgrade {
		h["Connection"] = upgradeValue
		h["Upgrade"] = upg
	}
	if _, ok := h["User-Agent"]; !ok {
		// Without this, net/http would add its own User-Agent.
		h["User-Agent"] = emptyValue
	}
}

var upgradeValue = []string{"Upgrade"}[:1:1]

func removeConnectionHeaders(h http.Header, conn []string) {
	for _, v := range conn {
		httpfield.EachToken(v, func(f string) { h.Del(f) })
	}
}

func isUpgrade(h http.Header) bool {
	if _, ok := h["Upgrade"]; !ok {
		return false
	}
	for _, v := range h["Connection"] {
		if httpfield.HasToken(v, "upgrade") {
			return true
		}
	}
	return false
}

// roundTrip sends the request to an endpoint, retrying per the route's policy when the body can be replayed.
func (h *Handler) roundTrip(ctx context.Context, out *http.Request, up *Upstream, rt *route.Bound, s *filter.Stream, replayable bool, held *heldBody) (*http.Response, error) {
	key := up.HashKey(s.RequestHeaders, s.Info.Source) // hash_header (ring_hash), else the client address
	attempts := 1
	rp := rt.Retry
	if rp != nil && replayable {
		attempts += rp.Attempts
	}
	var lastErr error
	var lastEP *cluster.Endpoint
	for i := range attempts {
		if i > 0 {
			if !h.retryAllowed(up, rp) {
				break
			}
			up.retries.Add(1)
			err := backoff(ctx, rp.Backoff, i)
			if err == nil && held != nil && out.Body != http.NoBody {
				out.Body = held.view()
			}
			up.retries.Add(-1)
			if err != nil {
				break
			}
		}
		ep, err := up.Pick(key)
		if err != nil {
			return nil, err
		}
		if ep == lastEP && len(up.Endpoints()) > 1 {
			// A retry should try another host when there is one (Envoy's previous_hosts predicate); one more
			// pick is enough with random and rotating balancers, and ring_hash keeps its choice.
			if again, err := up.Pick(key + "#retry"); err == nil {
				ep = again
			}
		}
		lastEP = ep
		out.URL.Host = ep.Address
		if out.Host == "" {
			out.Host = ep.Address
		}
		send, cancelTry := out, context.CancelFunc(nil)
		if rp != nil && rp.PerTry > 0 {
			// The per-try timeout covers the whole attempt, body included: the body's Close cancels it.
			var tctx context.Context
			tctx, cancelTry = context.WithTimeout(ctx, rp.PerTry)
			send = out.WithContext(tctx)
		}
		t0 := time.Now()
		ep.Begin()
		resp, err := up.Transport().RoundTrip(send)
		if err != nil {
			ep.Report(0, err)
			up.Metrics.Observe(0, true, 0)
			lastErr = err
			perTryTimeout := cancelTry != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded)
			if cancelTry != nil {
				cancelTry()
			}
			if rp == nil || !(retryableError(err, rp.ConnectFailure, rp.Reset) || perTryTimeout && (rp.Status5xx || rp.Reset)) {
				return nil, err
			}
			continue
		}
		if cancelTry != nil {
			resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancelTry}
		}
		ep.Report(resp.StatusCode, nil)
		up.Metrics.Observe(resp.StatusCode, false, time.Since(t0).Seconds())
		if rp != nil && rp.Status5xx && resp.StatusCode >= 500 && i < attempts-1 && h.retryAllowed(up, rp) {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			lastErr = errNoUpstream
			continue
		}
		return resp, nil
	}
	if lastErr == nil {
		lastErr = errNoUpstream
	}
	return nil, lastErr
}

// cancelOnClose ends a per-try context when the response body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// retryAllowed applies the retry budget: retries in flight may be at most Budget of the cluster's active
// requests, with a floor of 3 so a quiet cluster can still retry.
func (h *Handler) retryAllowed(up *Upstream, rp *route.Retry) bool {
	return float64(up.retries.Load()) < max(3, rp.Budget*float64(up.Active()))
}

func backoff(ctx context.Context, base time.Duration, attempt int) error {
	d := base << (attempt - 1)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1)) // jitter in [d/2, d]
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryableError tells connect failures (nothing was sent) from resets (the connection broke mid-exchange).
func retryableError(err error, connect, reset bool) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return connect
	}
	if errors.Is(err, cluster.ErrCircuitOpen) {
		return false
	}
	return reset
}

// respond runs the response through the chain and writes it.
func (h *Handler) respond(w http.ResponseWriter, resp *http.Response, cfg *Config, rt *route.Bound, chain *filter.Chain, st *state) int {
	s := st.s
	wants := chain.Wants()
	st.status = resp.StatusCode
	st.respH.H, st.respH.Status = resp.Header, &st.status
	s.ResponseHeaders = &st.respH
	// A response to HEAD, a 204 or a 304 has no body whatever its Content-Length says (RFC 9110 6.4.1).
	noBody := resp.ContentLength == 0 || st.reqH.R.Method == http.MethodHead ||
		resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified
	if wants&filter.WantResponseHeaders != 0 && !chain.ResponseHeaders(s, noBody) {
		return h.localOrAbort(w, s)
	}
	if !noBody && wants&(filter.WantResponseBody|filter.WantResponseTrailers) != 0 {
		return h.respondFiltered(w, resp, rt, chain, st, cfg.MaxBuffer)
	}
	dst := writeHead(w, resp, rt, st, keepLength)
	if !noBody {
		copyBody(w, resp.Body, resp.ContentLength < 0)
	}
	copyTrailers(dst, resp.Trailer)
	return st.status
}

// respondFiltered streams the response body through the body filters (body.go). The head is written with the
// first bytes that go on: until then a filter may still answer locally, and an overflow is a clean 500.
func (h *Handler) respondFiltered(w http.ResponseWriter, resp *http.Response, rt *route.Bound, chain *filter.Chain, st *state, limit int) int {
	s := st.s
	p := &st.respPipe
	p.init(chain, s, resp.Body, resp.ContentLength, true, limit, st.respBuf(), &st.respT, &resp.Trailer)
	first, end, res := p.prefetch()
	if res != pipeOK {
		return h.bodyFailed(w, s, res, true)
	}
	if end {
		dst := writeHead(w, resp, rt, st, int64(len(first)))
		w.Write(first)
		copyTrailers(dst, resp.Trailer)
		return st.status
	}
	dst := writeHead(w, resp, rt, st, unknownLength)
	flush := resp.ContentLength < 0
	f, _ := w.(http.Flusher)
	out := first
	for {
		if len(out) > 0 {
			if _, err := w.Write(out); err != nil {
				return st.status
			}
			if flush && f != nil {
				f.Flush()
			}
		}
		if end {
			break
		}
		out, end, res = p.next()
		if res != pipeOK {
			// The head is out: the client can only be told by a broken stream.
			st.abort = true
			return st.status
		}
	}
	copyTrailers(dst, resp.Trailer)
	return st.status
}

const (
	keepLength    = -2 // the upstream's framing headers go on as they are
	unknownLength = -1 // filters may change the body: no Content-Length (chunked on HTTP/1.1)
)

// writeHead applies the route's response header mutations, copies the upstream's headers minus hop-by-hop ones
// and writes the status. length sets Content-Length (>= 0), removes it (unknownLength) or keeps it (keepLength).
func writeHead(w http.ResponseWriter, resp *http.Response, rt *route.Bound, st *state, length int64) http.Header {
	rt.ResponseHeaders.Apply(resp.Header)
	dst := w.Header()
	if c := resp.Header["Connection"]; len(c) > 0 {
		removeConnectionHeaders(resp.Header, c)
	}
	for k, vv := range resp.Header {
		dst[k] = vv
	}
	for _, k := range hopHeaders {
		delete(dst, k)
	}
	switch {
	case length >= 0:
		dst["Content-Length"] = []string{strconv.FormatInt(length, 10)}
	case length == unknownLength:
		delete(dst, "Content-Length")
	}
	w.WriteHeader(st.status)
	return dst
}

// copyTrailers announces the upstream's trailers. They arrive after the body; net/http sends headers named with
// TrailerPrefix as trailers, for HTTP/1.1 chunked responses and HTTP/2 alike.
func copyTrailers(dst, trailer http.Header) {
	for k, vv := range trailer {
		dst[http.TrailerPrefix+k] = vv
	}
}

// bodyFailed answers a body the filters stopped, before anything of the response was sent.
func (h *Handler) bodyFailed(w http.ResponseWriter, s *filter.Stream, res pipeResult, response bool) int {
	switch {
	case res == pipeStopped:
		return h.localOrAbort(w, s)
	case res == pipeOverflow && response:
		return h.fail(w, s, http.StatusInternalServerError, "response body too large for the filter chain", "response_too_large")
	case res == pipeOverflow:
		return h.fail(w, s, http.StatusRequestEntityTooLarge, "request body too large for the filter chain", "request_too_large")
	case response:
		return h.fail(w, s, http.StatusBadGateway, "upstream body read failed", "upstream_read_error")
	}
	return h.fail(w, s, http.StatusBadRequest, "request body read failed", "downstream_read_error")
}

// copyBody streams the upstream body, flushing after each read when the length is unknown (server-sent events,
// long polls) so the client sees data as it comes.
func copyBody(w http.ResponseWriter, body io.Reader, flush bool) {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	f, _ := w.(http.Flusher)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if flush && f != nil {
				f.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

// upgrade splices a 101 Switching Protocols exchange (WebSocket) between client and upstream.
func (h *Handler) upgrade(w http.ResponseWriter, resp *http.Response, s *filter.Stream) int {
	up, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		return h.fail(w, s, http.StatusBadGateway, "upstream upgrade without a bidirectional body", "upgrade_failed")
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return h.fail(w, s, http.StatusBadGateway, "upgrade not supported on this connection", "upgrade_failed")
	}
	defer conn.Close()
	resp.Body = nil
	if err := resp.Write(brw); err != nil {
		return http.StatusSwitchingProtocols
	}
	if err := brw.Flush(); err != nil {
		return http.StatusSwitchingProtocols
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, brw); done <- struct{}{} }()
	go func() { io.Copy(conn, up); done <- struct{}{} }()
	<-done
	up.Close()
	conn.Close()
	<-done
	return http.StatusSwitchingProtocols
}

// fail answers with a proxy-generated error, after giving the filters a look at it as a local response.
func (h *Handler) fail(w http.ResponseWriter, s *filter.Stream, status int, msg, details string) int {
	s.SendLocalResponse(status, nil, []byte(msg+"\n"), details)
	return writeLocal(w, s.LocalResponse())
}

// localOrAbort writes a filter's local response, or nothing when the stream ended while paused.
func (h *Handler) localOrAbort(w http.ResponseWriter, s *filter.Stream) int {
	if lr := s.LocalResponse(); lr != nil {
		return writeLocal(w, lr)
	}
	return 499 // client closed the request while a filter held it, as nginx counts it
}

func writeLocal(w http.ResponseWriter, lr *filter.LocalResponse) int {
	dst := w.Header()
	for _, kv := range lr.Headers {
		dst.Set(kv[0], kv[1])
	}
	if _, ok := dst["Content-Type"]; !ok && len(lr.Body) > 0 {
		dst["Content-Type"] = textPlain
	}
	status := lr.Status
	if status < 100 || status > 999 {
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	w.Write(lr.Body)
	return status
}

func (h *Handler) log(cfg *Config, r *http.Request, s *filter.Stream, start time.Time) {
	if !cfg.AccessLog {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("authority", r.Host),
		slog.String("proto", r.Proto), slog.Int("status", s.Info.ResponseCode),
		slog.String("route", s.Info.Route), slog.String("cluster", s.Info.Cluster),
		slog.Duration("duration", time.Since(start)), slog.String("source", s.Info.Source),
	}
	if s.Info.UpstreamCluster != "" {
		attrs = append(attrs, slog.String("upstream_cluster_override", s.Info.UpstreamCluster))
	}
	if lr := s.LocalResponse(); lr != nil {
		attrs = append(attrs, slog.String("local_reply_by", s.Info.LocalReplyBy), slog.String("details", lr.Details))
	}
	cfg.Log.LogAttrs(r.Context(), slog.LevelInfo, "access", attrs...)
}
