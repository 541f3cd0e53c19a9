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

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(uint32) types.PluginContext { return &pluginContext{} }

type pluginContext struct {
	types.DefaultPluginContext
	lim                        *limiter
	allowed, limited, overflow []proxywasm.MetricCounter
	overflows                  []uint64 // per rule, in this VM: logged at powers of two
	storeErrors                proxywasm.MetricCounter
	headerBuf                  [][2]string // reused: a VM runs one callback at a time
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	lim, ok := pluginconfig.Load("ratelimit", compile)
	if !ok {
		return types.OnPluginStartStatusFailed
	}
	lim.store = tokenbucket.SharedData{}
	created, err := lim.initSlots()
	if err != nil {
		// Not fatal: a missing slot is created on first use, only without the protection against racing creators.
		proxywasm.LogWarnf("ratelimit: create bucket slots in shared data: %v; slots are created on first use", err)
	}
	p.lim = lim
	for _, r := range lim.rules {
		p.allowed = append(p.allowed, proxywasm.DefineCounterMetric(metricName(r.name, "allowed")))
		p.limited = append(p.limited, proxywasm.DefineCounterMetric(metricName(r.name, "limited")))
		p.overflow = append(p.overflow, proxywasm.DefineCounterMetric("wasmesh_ratelimit_bucket_overflow_total.rule="+r.name))
	}
	p.overflows = make([]uint64, len(lim.rules))
	p.storeErrors = proxywasm.DefineCounterMetric("wasmesh_ratelimit_store_errors_total")
	proxywasm.LogInfof("ratelimit: configured: %d rules in domain %q (%d bucket slots created)", len(lim.rules), lim.domain, created)
	return types.OnPluginStartStatusOK
}

// metricName is wasmesh_ratelimit_requests_total.rule=<rule>.result=<allowed|limited>: Envoy-style tag segments
// that the host (and Envoy with a tag-extraction rule) export as Prometheus labels; see README.md.
func metricName(rule, result string) string {
	return "wasmesh_ratelimit_requests_total.rule=" + rule + ".result=" + result
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext {
	return &httpContext{plugin: p, quota: Result{Rule: -1}}
}

type httpContext struct {
	types.DefaultHttpContext
	plugin *pluginContext
	quota  Result // the allowed request's quota, for the response headers
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	p := h.plugin
	headers, ok := p.requestHeaders()
	if !ok {
		return types.ActionContinue
	}
	var src []byte
	if p.lim.needsClientIP {
		src, _ = proxywasm.GetProperty([]string{"source", "address"})
	}
	req := request.New(headers, string(src))
	res, err := p.lim.Decide(&req, time.Now())
	if err != nil {
		// Shared data trouble must not take the service down: the request passes and the operator is told.
		p.storeErrors.Increment(uint64(res.StoreErrors))
		proxywasm.LogWarnf("ratelimit: %v; request allowed", err)
	}
	for i := range p.lim.rules {
		bit := uint64(1) << i
		switch {
		case res.Denied&bit != 0:
			p.limited[i].Increment(1)
		case res.Applied&bit != 0:
			p.allowed[i].Increment(1)
		}
		if res.Overflowed&bit != 0 {
			p.overflow[i].Increment(1)
			if p.overflows[i]++; p.overflows[i]&(p.overflows[i]-1) == 0 {
				proxywasm.LogWarnf("ratelimit: rule %q: no free bucket slot for a key (%d times in this VM); such keys share the "+
					"overflow bucket, which limits them together: raise max_buckets", p.lim.rules[i].name, p.overflows[i])
			}
		}
	}
	if res.Limited {
		retry := strconv.FormatInt(seconds(res.Reset), 10)
		hdrs := [][2]string{
			{"x-ratelimit-limit", strconv.FormatUint(res.Limit, 10)},
			{"x-ratelimit-remaining", "0"},
			{"x-ratelimit-reset", retry},
			{"retry-after", retry},
			{"content-type", "text/plain"},
		}
		proxywasm.LogDebugf("ratelimit: rule %q limited the request", p.lim.rules[res.Rule].name)
		if err := proxywasm.SendHttpResponse(429, hdrs, []byte("too many requests\n"), -1); err != nil {
			proxywasm.LogErrorf("ratelimit: send 429: %v", err)
		}
		return types.ActionPause
	}
	h.quota = res
	return types.ActionContinue
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	if !h.plugin.lim.responseHeaders || h.quota.Rule < 0 {
		return types.ActionContinue
	}
	q := h.quota
	for _, kv := range [...][2]string{
		{"x-ratelimit-limit", strconv.FormatUint(q.Limit, 10)},
		{"x-ratelimit-remaining", strconv.FormatUint(q.Remaining, 10)},
		{"x-ratelimit-reset", strconv.FormatInt(seconds(q.Reset), 10)},
	} {
		if err := proxywasm.ReplaceHttpResponseHeader(kv[0], kv[1]); err != nil {
			proxywasm.LogErrorf("ratelimit: set %s: %v", kv[0], err)
		}
	}
	return types.ActionContinue
}

// requestHeaders reads the headers the rules need: one host call per header when they are few (lim.fetch), else
// the whole map in one call.
func (p *pluginContext) requestHeaders() ([][2]string, bool) {
	if p.lim.fetch == nil {
		headers, err := proxywasm.GetHttpRequestHeaders()
		if err != nil {
			proxywasm.LogErrorf("ratelimit: read request headers: %v", err)
			return nil, false
		}
		return headers, true
	}
	headers := p.headerBuf[:0]
	for _, name := range p.lim.fetch {
		v, err := proxywasm.GetHttpRequestHeader(name)
		switch {
		case err == nil:
			headers = append(headers, [2]string{name, v})
		case !errors.Is(err, types.ErrorStatusNotFound):
			proxywasm.LogErrorf("ratelimit: read request header %s: %v", name, err)
		}
	}
	p.headerBuf = headers
	return headers, true
}

// seconds rounds up, so a client that waits that long finds a token.
func seconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}
