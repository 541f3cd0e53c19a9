package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
)

// Defaults applied by validate when a field is zero.
const (
	DefaultMaxBufferBytes = 1 << 20
	DefaultRetryBudget    = 0.2
)

type validator struct {
	file string
	errs []error
}

func (v *validator) addf(path, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s: %s", v.file, path, fmt.Sprintf(format, args...)))
}

func validate(name string, f *File, kinds []string) error {
	v := &validator{file: name}
	if len(f.Listeners) == 0 {
		v.addf("listeners", "at least one listener is required")
	}
	clusters := make(map[string]*Cluster, len(f.Clusters))
	var clusterNames []string
	for i := range f.Clusters {
		c := &f.Clusters[i]
		p := fmt.Sprintf("clusters[%d]", i)
		if c.Name == "" {
			v.addf(p+".name", "a cluster needs a name")
		} else if _, dup := clusters[c.Name]; dup {
			v.addf(p+".name", "duplicate cluster %q", c.Name)
		}
		clusters[c.Name] = c
		clusterNames = append(clusterNames, c.Name)
		v.cluster(p, c)
	}
	slices.Sort(clusterNames)
	var listenerProto string // of the listener being validated, for the cluster protocol check
	known := func(path, c string) {
		cl, ok := clusters[c]
		if !ok {
			v.addf(path, "unknown cluster %q (known: %s)", c, strings.Join(clusterNames, ", "))
			return
		}
		switch {
		case listenerProto == "dubbo" && cl.Protocol != "dubbo":
			v.addf(path, "cluster %q speaks %s; a dubbo listener needs a cluster with protocol: dubbo", c, cl.Protocol)
		case listenerProto == "tcp" && cl.Protocol != "tcp":
			v.addf(path, "cluster %q speaks %s; a tcp listener needs a cluster with protocol: tcp", c, cl.Protocol)
		case listenerProto == "http" && (cl.Protocol == "dubbo" || cl.Protocol == "tcp"):
			v.addf(path, "cluster %q speaks %s; an http listener needs an http1, h2c or h2 cluster", c, cl.Protocol)
		}
	}
	if f.Admin.Address != "" {
		v.address("admin.address", f.Admin.Address)
	}
	seenL := map[string]bool{}
	for i := range f.Listeners {
		l := &f.Listeners[i]
		p := fmt.Sprintf("listeners[%d]", i)
		if l.Name == "" {
			v.addf(p+".name", "a listener needs a name")
		} else if seenL[l.Name] {
			v.addf(p+".name", "duplicate listener %q", l.Name)
		}
		seenL[l.Name] = true
		v.address(p+".address", l.Address)
		if l.Protocol == "" {
			l.Protocol = "http"
		}
		listenerProto = l.Protocol
		if !slices.Contains([]string{"http", "dubbo", "tcp"}, l.Protocol) {
			v.addf(p+".protocol", "unknown protocol %q (expected http, dubbo or tcp)", l.Protocol)
		}
		if l.Direction != "" && l.Direction != "inbound" && l.Direction != "outbound" {
			v.addf(p+".direction", "unknown direction %q (expected inbound or outbound)", l.Direction)
		}
		if l.TLS != nil && (l.TLS.CertFile == "" || l.TLS.KeyFile == "") {
			v.addf(p+".tls", "cert_file and key_file are both required")
		}
		switch {
		case l.HTTPServer != "" && l.HTTPServer != "wasmesh" && l.HTTPServer != "net/http":
			v.addf(p+".http_server", "unknown HTTP server %q (expected wasmesh or net/http)", l.HTTPServer)
		case l.HTTPServer != "" && l.Protocol != "http":
			v.addf(p+".http_server", "only http listeners have an HTTP server (this one is %s)", l.Protocol)
		}
		v.headerLimits(p, l)
		if l.MaxBufferBytes == 0 {
			l.MaxBufferBytes = DefaultMaxBufferBytes
		}
		filters := map[string]bool{}
		for j := range l.Filters {
			v.filter(fmt.Sprintf("%s.filters[%d]", p, j), &l.Filters[j], kinds, filters)
		}
		if len(l.Routes) == 0 {
			v.addf(p+".routes", "at least one route is required")
		}
		if l.Protocol == "tcp" && len(l.Routes) > 1 {
			v.addf(p+".routes", "a tcp listener takes one route (its cluster; the match is not used), got %d", len(l.Routes))
		}
		seenR := map[string]bool{}
		for j := range l.Routes {
			r := &l.Routes[j]
			rp := fmt.Sprintf("%s.routes[%d]", p, j)
			if r.Name == "" {
				v.addf(rp+".name", "a route needs a name")
			} else if seenR[r.Name] {
				v.addf(rp+".name", "duplicate route %q", r.Name)
			}
			seenR[r.Name] = true
			v.route(rp, r, l.Protocol, known, filters)
		}
	}
	return errors.Join(v.errs...)
}

func (v *validator) address(path, addr string) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		v.addf(path, "expected host:port, got %q", addr)
	}
}

func (v *validator) filter(p string, f *Filter, kinds []string, seen map[string]bool) {
	if f.Name == "" {
		v.addf(p+".name", "a filter needs a name")
	} else if seen[f.Name] {
		v.addf(p+".name", "duplicate filter %q", f.Name)
	}
	seen[f.Name] = true
	if !slices.Contains(kinds, f.Kind) {
		v.addf(p+".kind", "unknown filter kind %q (known: %s)", f.Kind, strings.Join(kinds, ", "))
	}
	switch strings.ToUpper(f.Phase) {
	case "", "UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS":
	default:
		v.addf(p+".phase", "unknown phase %q (expected AUTHN, AUTHZ, STATS or empty)", f.Phase)
	}
	if f.Kind == "wasm" {
		if f.Module == nil || f.Module.URL == "" {
			v.addf(p+".module.url", "a wasm filter needs a module url (file://, https:// with sha256, oci://)")
		} else if strings.HasPrefix(f.Module.URL, "http") && f.Module.SHA256 == "" {
			v.addf(p+".module.sha256", "modules fetched over http(s) must be pinned with sha256")
		}
	} else if f.Module != nil {
		v.addf(p+".module", "only wasm filters take a module (kind is %q)", f.Kind)
	}
	if s := f.Module; s != nil && s.SHA256 != "" && !isHex64(strings.TrimPrefix(s.SHA256, "sha256:")) {
		v.addf(p+".module.sha256", "expected 64 hex digits, got %q", s.SHA256)
	}
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

var retryOn = []string{"connect-failure", "5xx", "reset"}

func (v *validator) route(p string, r *Route, protocol string, known func(string, string), filters map[string]bool) {
	switch {
	case r.Cluster != "" && len(r.WeightedClusters) > 0:
		v.addf(p, "set cluster or weighted_clusters, not both")
	case r.Cluster != "":
		known(p+".cluster", r.Cluster)
	case len(r.WeightedClusters) > 0:
		total := 0
		for i, w := range r.WeightedClusters {
			known(fmt.Sprintf("%s.weighted_clusters[%d].cluster", p, i), w.Cluster)
			if w.Weight < 0 {
				v.addf(fmt.Sprintf("%s.weighted_clusters[%d].weight", p, i), "expected a weight >= 0")
			}
			total += w.Weight
		}
		if total <= 0 {
			v.addf(p+".weighted_clusters", "weights must add up to more than 0")
		}
	default:
		v.addf(p+".cluster", "a route needs cluster or weighted_clusters")
	}
	m := r.Match
	if m.Path != nil {
		n := 0
		for _, s := range []string{m.Path.Exact, m.Path.Prefix, m.Path.Regex} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			v.addf(p+".match.path", "set exactly one of exact, prefix, regex")
		}
		v.regex(p+".match.path.regex", m.Path.Regex)
	}
	for i, h := range m.Headers {
		v.headerMatch(fmt.Sprintf("%s.match.headers[%d]", p, i), h)
	}
	for i, h := range m.Attachments {
		v.headerMatch(fmt.Sprintf("%s.match.attachments[%d]", p, i), h)
	}
	if protocol == "http" && (m.Service != "" || m.DubboMethod != "" || m.Version != "" || m.Group != "" || len(m.Attachments) > 0) {
		v.addf(p+".match", "service, dubbo_method, version, group and attachments match Dubbo listeners only")
	}
	if r.Retries != nil {
		if r.Retries.Attempts < 0 || r.Retries.Attempts > 10 {
			v.addf(p+".retries.attempts", "expected 0 to 10, got %d", r.Retries.Attempts)
		}
		for i, on := range r.Retries.On {
			if !slices.Contains(retryOn, on) {
				v.addf(fmt.Sprintf("%s.retries.retry_on[%d]", p, i), "unknown condition %q (expected %s)", on, strings.Join(retryOn, ", "))
			}
		}
		if r.Retries.Budget < 0 || r.Retries.Budget > 1 {
			v.addf(p+".retries.budget", "expected a share between 0 and 1, got %v", r.Retries.Budget)
		}
		if r.Retries.Budget == 0 {
			r.Retries.Budget = DefaultRetryBudget
		}
	}
	for name := range r.Filters {
		if !filters[name] {
			v.addf(p+".filters."+name, "no filter %q on this listener", name)
		}
	}
}

func (v *validator) headerMatch(p string, h HeaderMatch) {
	if h.Name == "" {
		v.addf(p+".name", "a header match needs a name")
	}
	v.regex(p+".regex", h.Regex)
}

func (v *validator) regex(p, re string) {
	if re == "" {
		return
	}
	if _, err := regexp.Compile(re); err != nil {
		v.addf(p, "invalid regular expression: %v", err)
	}
}

func (v *validator) cluster(p string, c *Cluster) {
	if c.Protocol == "" {
		c.Protocol = "http1"
	}
	if !slices.Contains([]string{"http1", "h2c", "h2", "dubbo", "tcp"}, c.Protocol) {
		v.addf(p+".protocol", "unknown protocol %q (expected http1, h2c, h2, dubbo or tcp)", c.Protocol)
	}
	if c.LB == "" {
		c.LB = "round_robin"
	}
	if !slices.Contains([]string{"round_robin", "weighted", "least_request", "ring_hash"}, c.LB) {
		v.addf(p+".lb", "unknown load balancer %q (expected round_robin, weighted, least_request or ring_hash)", c.LB)
	}
	v.hashHeader(p, c)
	if len(c.Endpoints) == 0 {
		v.addf(p+".endpoints", "at least one endpoint is required")
	}
	for i, e := range c.Endpoints {
		v.address(fmt.Sprintf("%s.endpoints[%d].address", p, i), e.Address)
		if e.Weight < 0 {
			v.addf(fmt.Sprintf("%s.endpoints[%d].weight", p, i), "expected a weight >= 0")
		}
	}
	if hc := c.HealthCheck; hc != nil {
		switch hc.Type {
		case "http":
			if hc.Path == "" {
				hc.Path = "/"
			}
		case "tcp":
		case "dubbo":
			if c.Protocol != "dubbo" {
				v.addf(p+".health_check.type", "a dubbo heartbeat check needs protocol: dubbo (the cluster is %q); use tcp", c.Protocol)
			}
		default:
			v.addf(p+".health_check.type", "unknown type %q (expected http, tcp or dubbo)", hc.Type)
		}
	}
	if o := c.Outlier; o != nil && (o.MaxEjectionPercent < 0 || o.MaxEjectionPercent > 100) {
		v.addf(p+".outlier.max_ejection_percent", "expected 0 to 100")
	}
}

// hashHeader checks clusters[].hash_header: only ring_hash reads it, and it must be a header (or Dubbo attachment)
// name of letters, digits and - _ ., or one of the request pseudo-headers a hash can use.
func (v *validator) hashHeader(p string, c *Cluster) {
	h := c.HashHeader
	if h == "" {
		return
	}
	if c.LB != "ring_hash" {
		v.addf(p+".hash_header", "only lb: ring_hash hashes a header (the cluster's lb is %q); set lb: ring_hash or remove hash_header", c.LB)
	}
	switch h {
	case ":authority", ":path", ":method":
		return
	}
	for i := 0; i < len(h); i++ {
		b := h[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.') {
			v.addf(p+".hash_header", "%q is not a header name (letters, digits, - _ .) nor :authority, :path or :method", h)
			return
		}
	}
}

// Bounds of listeners[].max_request_headers_kb and max_headers_count.
const (
	DefaultMaxRequestHeadersKB = 1024
	MaxRequestHeadersKB        = 8192 // as Envoy's bound
	DefaultMaxHeadersCount     = 100
	MaxHeadersCount            = 10000
)

// headerLimits checks an http listener's request-head limits and fills in their defaults.
func (v *validator) headerLimits(p string, l *Listener) {
	if l.Protocol != "http" {
		if l.MaxRequestHeadersKB != 0 {
			v.addf(p+".max_request_headers_kb", "only http listeners read request headers (this one is %s)", l.Protocol)
		}
		if l.MaxHeadersCount != 0 {
			v.addf(p+".max_headers_count", "only http listeners read request headers (this one is %s)", l.Protocol)
		}
		return
	}
	switch {
	case l.MaxRequestHeadersKB == 0:
		l.MaxRequestHeadersKB = DefaultMaxRequestHeadersKB
	case l.MaxRequestHeadersKB < 1 || l.MaxRequestHeadersKB > MaxRequestHeadersKB:
		v.addf(p+".max_request_headers_kb", "%d is out of range (expected 1 to %d KiB)", l.MaxRequestHeadersKB, MaxRequestHeadersKB)
	}
	switch {
	case l.MaxHeadersCount == 0:
		l.MaxHeadersCount = DefaultMaxHeadersCount
	case l.MaxHeadersCount < 1 || l.MaxHeadersCount > MaxHeadersCount:
		v.addf(p+".max_headers_count", "%d is out of range (expected 1 to %d)", l.MaxHeadersCount, MaxHeadersCount)
	}
}
