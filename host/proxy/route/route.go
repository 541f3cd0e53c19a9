// Package route matches requests to routes: host, path (exact, prefix, regex), method and headers for HTTP;
// service, method, version, group and attachments for Dubbo. A Table is built once from configuration and read
// concurrently without locks or allocation.
//
//	t, _ := route.NewTable(listenerCfg.Routes)
//	r := t.MatchHTTP(req.Host, req.URL.Path, req.Method, req.Header)
//	cluster := r.PickCluster()
package route

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"regexp"
	"strings"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/config"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/headerops"
	"github.com/wasmesh/wasmesh/host/proxy/metrics"
)

// Retry is a route's retry policy.
type Retry struct {
	Attempts       int
	ConnectFailure bool
	Status5xx      bool
	Reset          bool
	Budget         float64
	PerTry         time.Duration
	Backoff        time.Duration
	MaxBody        int
}

// Route is one built route. Callers must not change it.
type Route struct {
	Name    string
	Index   int
	Timeout time.Duration
	Retry   *Retry // nil: no retries
	// RequestHeaders and ResponseHeaders are the route's header mutations.
	RequestHeaders, ResponseHeaders headerops.Ops
	// Filters holds the route's filter overrides, for the proxy to build per-route chains.
	Filters map[string]config.FilterOverride

	cluster  string
	weighted []weighted
	total    int

	host, hostSuffix string // exact host, or suffix for "*.x"
	pathKind         uint8
	path             string
	pathRe           *regexp.Regexp
	method           string
	headers          []headerMatch

	service, dubboMethod, version, group string
	attachments                          []headerMatch
}

type weighted struct {
	name string
	upTo int // cumulative weight
}

const (
	pathAny uint8 = iota
	pathExact
	pathPrefix
	pathRegex
)

type headerMatch struct {
	name                 string // canonical for HTTP
	exact, prefix        string
	re                   *regexp.Regexp
	invert, presenceOnly bool
}

// Table is a listener's routes in order; the first match wins.
type Table struct{ routes []*Route }

// NewTable builds a Table from validated configuration.
func NewTable(routes []config.Route) (*Table, error) {
	t := &Table{}
	for i, rc := range routes {
		r, err := build(i, rc)
		if err != nil {
			return nil, fmt.Errorf("routes[%d] (%s): %w", i, rc.Name, err)
		}
		t.routes = append(t.routes, r)
	}
	return t, nil
}

// Routes returns the routes in match order.
func (t *Table) Routes() []*Route { return t.routes }

func build(i int, rc config.Route) (*Route, error) {
	r := &Route{Name: rc.Name, Index: i, Timeout: rc.Timeout.D(0), cluster: rc.Cluster, Filters: rc.Filters,
		method: rc.Match.Method, service: rc.Match.Service, dubboMethod: rc.Match.DubboMethod,
		version: rc.Match.Version, group: rc.Match.Group}
	for _, w := range rc.WeightedClusters {
		r.total += w.Weight
		r.weighted = append(r.weighted, weighted{name: w.Cluster, upTo: r.total})
	}
	if h := rc.Match.Host; strings.HasPrefix(h, "*.") {
		r.hostSuffix = strings.ToLower(h[1:])
	} else {
		r.host = strings.ToLower(h)
	}
	if p := rc.Match.Path; p != nil {
		switch {
		case p.Exact != "":
			r.pathKind, r.path = pathExact, p.Exact
		case p.Prefix != "":
			r.pathKind, r.path = pathPrefix, p.Prefix
		case p.Regex != "":
			re, err := regexp.Compile("^(?:" + p.Regex + ")$")
			if err != nil {
				return nil, fmt.Errorf("match.path.regex: %w", err)
			}
			r.pathKind, r.pathRe = pathRegex, re
		}
	}
	var err error
	if r.headers, err = headerMatches(rc.Match.Headers, true); err != nil {
		return nil, err
	}
	if r.attachments, err = headerMatches(rc.Match.Attachments, false); err != nil {
		return nil, err
	}
	if rt := rc.Retries; rt != nil && rt.Attempts > 0 {
		r.Retry = &Retry{Attempts: rt.Attempts, Budget: rt.Budget, PerTry: rt.PerTry.D(0),
			Backoff: rt.Backoff.D(25 * time.Millisecond), MaxBody: rt.MaxBytes}
		if r.Retry.MaxBody == 0 {
			r.Retry.MaxBody = 64 << 10
		}
		for _, on := range rt.On {
			switch on {
			case "connect-failure":
				r.Retry.ConnectFailure = true
			case "5xx":
				r.Retry.Status5xx = true
			case "reset":
				r.Retry.Reset = true
			}
		}
	}
	if m := rc.RequestHeaders; m != nil {
		r.RequestHeaders = headerops.New(m.Set, m.Add, m.Remove)
	}
	if m := rc.ResponseHeaders; m != nil {
		r.ResponseHeaders = headerops.New(m.Set, m.Add, m.Remove)
	}
	return r, nil
}

func headerMatches(in []config.HeaderMatch, canonical bool) ([]headerMatch, error) {
	var out []headerMatch
	for _, h := range in {
		m := headerMatch{name: h.Name, exact: h.Exact, prefix: h.Prefix, invert: h.Invert}
		if canonical {
			m.name = textproto.CanonicalMIMEHeaderKey(h.Name)
		}
		if h.Regex != "" {
			re, err := regexp.Compile("^(?:" + h.Regex + ")$")
			if err != nil {
				return nil, fmt.Errorf("header %s regex: %w", h.Name, err)
			}
			m.re = re
		}
		m.presenceOnly = h.Exact == "" && h.Prefix == "" && h.Regex == ""
		out = append(out, m)
	}
	return out, nil
}

// MatchHTTP returns the first route matching the request, or nil.
func (t *Table) MatchHTTP(host, path, method string, h http.Header) *Route {
	host = stripPort(host)
	for _, r := range t.routes {
		if r.matchHTTP(host, path, method, h) {
			return r
		}
	}
	return nil
}

func (r *Route) matchHTTP(host, path, method string, h http.Header) bool {
	if r.host != "" && !strings.EqualFold(host, r.host) {
		return false
	}
	if r.hostSuffix != "" && !hasSuffixFold(host, r.hostSuffix) {
		return false
	}
	if r.method != "" && r.method != method {
		return false
	}
	if !r.matchPath(path) {
		return false
	}
	for i := range r.headers {
		m := &r.headers[i]
		vs, ok := h[m.name]
		v := ""
		if ok && len(vs) > 0 {
			v = vs[0]
		}
		if m.match(v, ok) == m.invert {
			return false
		}
	}
	return true
}

func (r *Route) matchPath(path string) bool {
	switch r.pathKind {
	case pathExact:
		return path == r.path
	case pathPrefix:
		return strings.HasPrefix(path, r.path)
	case pathRegex:
		return r.pathRe.MatchString(path)
	}
	return true
}

func (m *headerMatch) match(v string, present bool) bool {
	switch {
	case !present:
		return false
	case m.presenceOnly:
		return true
	case m.exact != "":
		return v == m.exact
	case m.prefix != "":
		return strings.HasPrefix(v, m.prefix)
	default:
		return m.re.MatchString(v)
	}
}

// Dubbo is what a Dubbo route matches on.
type Dubbo struct {
	Service, Method, Version, Group string
	// Attachment returns a string attachment's value.
	Attachment func(key string) (string, bool)
}

// MatchDubbo returns the first route matching a Dubbo call, or nil.
func (t *Table) MatchDubbo(d Dubbo) *Route {
	for _, r := range t.routes {
		if r.matchDubbo(d) {
			return r
		}
	}
	return nil
}

func (r *Route) matchDubbo(d Dubbo) bool {
	if (r.service != "" && r.service != d.Service) || (r.dubboMethod != "" && r.dubboMethod != d.Method) ||
		(r.version != "" && r.version != d.Version) || (r.group != "" && r.group != d.Group) {
		return false
	}
	if r.pathKind != pathAny && !r.matchPath("/"+d.Service+"/"+d.Method) {
		return false
	}
	for i := range r.attachments {
		m := &r.attachments[i]
		v, ok := "", false
		if d.Attachment != nil {
			v, ok = d.Attachment(m.name)
		}
		if m.match(v, ok) == m.invert {
			return false
		}
	}
	return true
}

// PickCluster returns the route's cluster, choosing by weight for a split.
func (r *Route) PickCluster() string {
	if r.total == 0 {
		return r.cluster
	}
	n := rand.IntN(r.total)
	for _, w := range r.weighted {
		if n < w.upTo {
			return w.name
		}
	}
	return r.weighted[len(r.weighted)-1].name
}

// Clusters lists every cluster the route may send to.
func (r *Route) Clusters() []string {
	if r.total == 0 {
		return []string{r.cluster}
	}
	out := make([]string, len(r.weighted))
	for i, w := range r.weighted {
		out[i] = w.name
	}
	return out
}

func stripPort(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		return host[:i]
	}
	return host
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) > len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// Bound is a route with what a listener runs for it: the effective filter chain (the listener's, with the
// route's overrides) and its metrics handles.
type Bound struct {
	*Route
	Chain *filter.Chain
	Stats *metrics.RouteStats
}
