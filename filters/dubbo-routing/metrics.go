package main

import "strings"

// counter is the one method of proxywasm.MetricCounter the filter uses; tests and benchmarks count in memory.
type counter interface{ Increment(uint64) }

// metricSet defines counters lazily per service and method, bounded by max_metrics because the names come from
// clients. Names use Envoy-style tag segments (key=value) that become Prometheus labels (see README.md):
//
//	wasmesh_dubbo_routing_requests_total.service=<service>.method=<method>
//	wasmesh_dubbo_routing_routed_total.service=<service>.method=<method>.route=<route>.cluster=<cluster>
//
// with route=none and cluster=default when no route matched.
type metricSet struct {
	rt      *router
	define  func(string) counter
	methods map[string]map[string]*methodCounters
	n       int
}

type methodCounters struct {
	tags     string
	requests counter
	none     counter
	// routed holds the counters per route and cluster choice (Decision.Route, Decision.Choice), defined on first
	// use: indexing instead of a map keyed by the cluster name saves hashing a string per request.
	routed [][]counter
}

func newMetricSet(rt *router, define func(string) counter) *metricSet {
	return &metricSet{rt: rt, define: define, methods: map[string]map[string]*methodCounters{}}
}

func (m *metricSet) count(service, method string, d Decision) {
	mc := m.lookup(service, method)
	mc.requests.Increment(1)
	if d.Route < 0 {
		mc.none.Increment(1)
		return
	}
	ro := &m.rt.routes[d.Route]
	if mc.routed[d.Route] == nil {
		mc.routed[d.Route] = make([]counter, len(ro.clusters))
	}
	c := mc.routed[d.Route][d.Choice]
	if c == nil {
		c = m.define("wasmesh_dubbo_routing_routed_total" + mc.tags + ".route=" + ro.name + ".cluster=" + sanitize(d.Cluster))
		mc.routed[d.Route][d.Choice] = c
	}
	c.Increment(1)
}

func (m *metricSet) lookup(service, method string) *methodCounters {
	if byMethod, ok := m.methods[service]; ok {
		if mc, ok := byMethod[method]; ok {
			return mc
		}
	}
	if m.n >= m.rt.maxMetrics {
		service, method = "other", "other"
		if mc, ok := m.methods[service][method]; ok {
			return mc
		}
	}
	tags := ".service=" + sanitize(service) + ".method=" + sanitize(method)
	mc := &methodCounters{tags: tags, requests: m.define("wasmesh_dubbo_routing_requests_total" + tags),
		none:   m.define("wasmesh_dubbo_routing_routed_total" + tags + ".route=none.cluster=default"),
		routed: make([][]counter, len(m.rt.routes))}
	// Copies as keys: the names point into the bytes the host returned, which the bridge may share with other
	// results, and these entries live as long as the VM.
	service, method = strings.Clone(service), strings.Clone(method)
	if m.methods[service] == nil {
		m.methods[service] = map[string]*methodCounters{}
	}
	m.methods[service][method] = mc
	m.n++
	return mc
}

// sanitize keeps tag values to [A-Za-z0-9_-]: a dot would split a Java interface name into two segments, '='
// would start a new tag, and anything else may break Prometheus label values.
func sanitize(s string) string {
	if s == "" {
		return "unknown"
	}
	if len(s) > 128 {
		s = s[:128]
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}
