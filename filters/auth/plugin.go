package main

import (
	"errors"
	"strconv"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/wasmesh/wasmesh/filters/internal/pluginconfig"
	"github.com/wasmesh/wasmesh/filters/internal/request"
	"github.com/wasmesh/wasmesh/filters/internal/tokenbucket"
)

// maxJWKSBody bounds a fetched JWKS document.
const maxJWKSBody = 1 << 20

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

// pluginContext is the thin proxy-wasm adapter around the authenticator.
type pluginContext struct {
	types.DefaultPluginContext
	auth     *authenticator
	now      func() time.Time
	metrics  metrics
	next     []time.Time // per provider: when to refresh the remote JWKS
	waiters  [][]uint32  // per provider: paused streams waiting for a fetch
	streams  map[uint32]*httpContext
	tickRate time.Duration
}

type metrics struct {
	allowed, unauthenticated, forbidden, throttled, jwksOK, jwksFailed proxywasm.MetricCounter
}

func (p *pluginContext) OnPluginStart(size int) types.OnPluginStartStatus {
	pc, ok := pluginconfig.Load("auth", compile)
	if !ok {
		return types.OnPluginStartStatusFailed
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.auth = newAuthenticator(pc)
	p.auth.st.guard = tokenbucket.SharedData{} // cold-check limits hold for the proxy, not per VM
	p.streams = map[uint32]*httpContext{}
	p.next = make([]time.Time, len(pc.providers))
	p.waiters = make([][]uint32, len(pc.providers))
	p.metrics = metrics{
		allowed:         proxywasm.DefineCounterMetric("wasmesh_auth_requests_total.result=allowed"),
		unauthenticated: proxywasm.DefineCounterMetric("wasmesh_auth_requests_total.result=unauthenticated"),
		forbidden:       proxywasm.DefineCounterMetric("wasmesh_auth_requests_total.result=forbidden"),
		throttled:       proxywasm.DefineCounterMetric("wasmesh_auth_requests_total.result=throttled"),
		jwksOK:          proxywasm.DefineCounterMetric("wasmesh_auth_jwks_fetches_total.result=ok"),
		jwksFailed:      proxywasm.DefineCounterMetric("wasmesh_auth_jwks_fetches_total.result=failed"),
	}
	for _, pr := range pc.providers {
		if pr.remote == nil {
			continue
		}
		if p.tickRate == 0 || pr.remote.retry < p.tickRate {
			p.tickRate = pr.remote.retry
		}
		p.fetch(pr, false)
	}
	if p.tickRate > 0 {
		if err := proxywasm.SetTickPeriodMilliSeconds(uint32(p.tickRate / time.Millisecond)); err != nil {
			proxywasm.LogWarnf("auth: set tick period: %v", err)
		}
	}
	proxywasm.LogInfof("auth: configured: %d credentials, %d JWT providers, %d rules", len(pc.apiKeys)+len(pc.basic), len(pc.providers), len(pc.rules))
	return types.OnPluginStartStatusOK
}

// OnTick refreshes remote key sets that are due.
func (p *pluginContext) OnTick() {
	now := p.now()
	for i, pr := range p.auth.cfg.providers {
		if pr.remote != nil && !p.auth.st.inflight[i] && !now.Before(p.next[i]) {
			p.fetch(pr, false)
		}
	}
}

// fetch dispatches a JWKS request for pr unless one is already in flight. unknownKID marks fetches caused by a
// token, which are throttled separately from the periodic refresh.
func (p *pluginContext) fetch(pr *provider, unknownKID bool) bool {
	st := p.auth.st
	if st.inflight[pr.index] {
		return true
	}
	now := p.now()
	if unknownKID {
		st.lastKIDFetch[pr.index] = now
	}
	r := pr.remote
	headers := [][2]string{{":method", "GET"}, {":path", r.path}, {":authority", r.authority}, {"accept", "application/json"}}
	_, err := proxywasm.DispatchHttpCall(r.cluster, headers, nil, nil, uint32(r.timeout/time.Millisecond),
		func(numHeaders, bodySize, _ int) { p.onJWKS(pr, numHeaders, bodySize) })
	if err != nil {
		proxywasm.LogWarnf("auth: jwt provider %q: fetch JWKS from cluster %q: %v (is the cluster defined?)", pr.name, r.cluster, err)
		p.metrics.jwksFailed.Increment(1)
		p.next[pr.index] = now.Add(r.retry)
		return false
	}
	st.inflight[pr.index] = true
	return true
}

func (p *pluginContext) onJWKS(pr *provider, numHeaders, bodySize int) {
	st := p.auth.st
	st.inflight[pr.index] = false
	now := p.now()
	r := pr.remote
	err := p.loadJWKS(pr, numHeaders, bodySize)
	if err != nil {
		p.metrics.jwksFailed.Increment(1)
		proxywasm.LogWarnf("auth: jwt provider %q: JWKS from cluster %q path %s: %v; keeping the previous keys", pr.name, r.cluster, r.path, err)
		p.next[pr.index] = now.Add(r.retry)
	} else {
		p.metrics.jwksOK.Increment(1)
		p.next[pr.index] = now.Add(r.refresh)
	}
	waiters := p.waiters[pr.index]
	p.waiters[pr.index] = nil
	for _, id := range waiters {
		h, ok := p.streams[id]
		if !ok {
			continue // the stream ended while it waited
		}
		if err := proxywasm.SetEffectiveContext(id); err != nil {
			continue
		}
		h.decide(false)
	}
}

func (p *pluginContext) loadJWKS(pr *provider, numHeaders, bodySize int) error {
	if numHeaders == 0 {
		return errors.New("no response (timeout or cluster unreachable)")
	}
	headers, err := proxywasm.GetHttpCallResponseHeaders()
	if err != nil {
		return err
	}
	status := ""
	for _, h := range headers {
		if h[0] == ":status" {
			status = h[1]
		}
	}
	if status != "200" {
		return errors.New("status " + strconv.Quote(status) + ", want 200")
	}
	if bodySize > maxJWKSBody {
		return errors.New("body larger than 1 MiB")
	}
	body, err := proxywasm.GetHttpCallResponseBody(0, bodySize)
	if err != nil {
		return err
	}
	keys, skipped, err := parseJWKS(body, false)
	for _, s := range skipped {
		proxywasm.LogWarnf("auth: jwt provider %q: skipping JWKS key %s", pr.name, s)
	}
	if err != nil {
		return err
	}
	p.auth.installKeys(pr.index, keys)
	proxywasm.LogInfof("auth: jwt provider %q: loaded %d keys", pr.name, len(keys))
	return nil
}

func (p *pluginContext) NewHttpContext(id uint32) types.HttpContext {
	return &httpContext{id: id, plugin: p}
}

type httpContext struct {
	types.DefaultHttpContext
	id      uint32
	plugin  *pluginContext
	waiting bool
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	return h.decide(true)
}

func (h *httpContext) OnHttpStreamDone() {
	if h.waiting {
		delete(h.plugin.streams, h.id)
	}
}

// decide runs the core on the current request headers. first is false when the stream resumes after a JWKS fetch.
func (h *httpContext) decide(first bool) types.Action {
	p := h.plugin
	headers, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		proxywasm.LogErrorf("auth: read request headers: %v", err)
		return h.finish(first, nil, Decision{Status: 500, Reason: "headers unavailable"})
	}
	req := request.New(headers, "") // the client address plays no part in authentication
	d := p.auth.Decide(&req, p.now)
	if d.FetchProvider >= 0 {
		pr := p.auth.cfg.providers[d.FetchProvider]
		if !first || !p.fetch(pr, true) {
			// A fetch already happened for this stream (or could not start): the kid is really unknown.
			d = Decision{Status: 401, Method: "jwt", Reason: "jwt: token kid not in the JWKS of provider " + quote(pr.name),
				Challenges: p.auth.challenges(true), Remove: p.auth.cfg.alwaysRemove}
		} else {
			h.waiting = true
			p.streams[h.id] = h
			p.waiters[pr.index] = append(p.waiters[pr.index], h.id)
			return types.ActionPause
		}
	}
	if h.waiting {
		h.waiting = false
		delete(p.streams, h.id)
	}
	return h.finish(first, &req, d)
}

// finish applies the decision. After a pause the stream is resumed or answered instead of returning an action.
func (h *httpContext) finish(first bool, req *request.Request, d Decision) types.Action {
	p := h.plugin
	if d.Status != 0 {
		switch d.Status {
		case 403:
			p.metrics.forbidden.Increment(1)
		case 429:
			p.metrics.throttled.Increment(1)
		default:
			p.metrics.unauthenticated.Increment(1)
		}
		proxywasm.LogInfof("auth: %d: %s", d.Status, d.Reason)
		headers := make([][2]string, 0, len(d.Challenges)+1)
		headers = append(headers, [2]string{"content-type", "text/plain"})
		body := "unauthorized\n"
		switch d.Status {
		case 401:
			for _, c := range d.Challenges {
				headers = append(headers, [2]string{"www-authenticate", c})
			}
		case 403:
			body = "forbidden\n"
		case 429:
			body = "too many requests\n"
			headers = append(headers, [2]string{"retry-after", strconv.FormatInt(int64((d.RetryAfter+time.Second-1)/time.Second), 10)})
		case 500:
			body = "internal error\n"
		}
		if err := proxywasm.SendHttpResponse(uint32(d.Status), headers, []byte(body), -1); err != nil {
			proxywasm.LogErrorf("auth: send %d: %v", d.Status, err)
		}
		return types.ActionPause
	}
	for _, name := range d.Remove {
		// Every header call crosses into the host, so only headers the request has are removed.
		if _, ok := req.Header(name); ok {
			_ = proxywasm.RemoveHttpRequestHeader(name)
		}
	}
	for _, kv := range d.Set {
		if err := proxywasm.ReplaceHttpRequestHeader(kv[0], kv[1]); err != nil {
			proxywasm.LogErrorf("auth: set header %s: %v", kv[0], err)
		}
	}
	p.metrics.allowed.Increment(1)
	if !first {
		if err := proxywasm.ResumeHttpRequest(); err != nil {
			proxywasm.LogErrorf("auth: resume request: %v", err)
		}
	}
	return types.ActionContinue
}
