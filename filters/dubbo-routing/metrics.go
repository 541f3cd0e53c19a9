package main

import "strings"

// counter is the one method of proxywasm.MetricCounter the filter uses; tests and benchmarks count in memory.
type counter interface{ Increment(uint64) }

// metricSet defines counters lazily per service and method, bounded by max_metrics because the names come from
// clients. Names (see README.md):
//
//	wasmesh.dubbo_routing.<service>.<method>.requests
//	wasmesh.dubbo_routing.<service>.<method>.route.<route>.<cluster>   (route taken)
//	wasmesh.dubbo_routing.<service>.<method>.route.none                (no route matched)
type metricSet struct {
	rt      *router
	define  func(string) counter
	methods map[string]map[string]*methodCounters
	n       int
}

type routeKey struct {
	route   int
	cluster string
}

type methodCounters struct {
	prefix   string
	requests counter
	none     counter
	routes   map[routeKey]counter
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
	route := m.rt.routes[d.Route].name
	key := routeKey{d.Route, d.Cluster}
	c, ok := mc.routes[key]
	if !ok {
		c = m.define(mc.prefix + ".route." + route + "." + sanitize(d.Cluster))
		mc.routes[key] = c
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
	prefix := "wasmesh.dubbo_routing." + sanitize(service) + "." + sanitize(method)
	mc := &methodCounters{prefix: prefix, requests: m.define(prefix + ".requests"), none: m.define(prefix + ".route.none"),
		routes: map[routeKey]counter{}}
	if m.methods[service] == nil {
		m.methods[service] = map[string]*methodCounters{}
	}
	m.methods[service][method] = mc
	m.n++
	return mc
}

// sanitize keeps metric name segments to [A-Za-z0-9_-]: dots would split a Java interface name into stat-tree
// levels, and anything else may break Prometheus names.
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
