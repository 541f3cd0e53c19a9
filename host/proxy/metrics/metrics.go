// Package metrics holds the data plane's Prometheus collectors. Handles for a listener, route or cluster are
// resolved once when a configuration is built, so the request path only adds and observes (no label lookups,
// no allocation).
//
//	m := metrics.New()
//	rs := m.Route("http", "api")
//	rs.Observe(200, 0.0012)
//	http.Handle("/stats/prometheus", m.Handler())
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one registry with every collector of the proxy. Build one per process and share it across
// configurations, so counters survive reloads.
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	latency         *prometheus.HistogramVec
	upstream        *prometheus.CounterVec
	upstreamLatency *prometheus.HistogramVec
	filterCalls     *prometheus.HistogramVec
	Reloads         *prometheus.CounterVec
	ConfigGen       prometheus.Gauge
	Draining        prometheus.Gauge
}

var classes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// New registers the collectors (and Go runtime and process collectors) on a fresh registry.
func New() *Metrics {
	buckets := []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmesh_requests_total",
			Help: "Downstream requests by listener, route and status class."}, []string{"listener", "route", "code_class"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wasmesh_request_duration_seconds",
			Help: "Downstream request duration by listener and route.", Buckets: buckets}, []string{"listener", "route"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmesh_upstream_requests_total",
			Help: "Upstream attempts by cluster and result (status class, or error)."}, []string{"cluster", "result"}),
		upstreamLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wasmesh_upstream_duration_seconds",
			Help: "Upstream attempt duration (to response headers) by cluster.", Buckets: buckets}, []string{"cluster"}),
		filterCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wasmesh_filter_call_duration_seconds",
			Help:    "Filter callback durations (the count is the number of calls) by listener and filter.",
			Buckets: []float64{.000001, .0000025, .000005, .00001, .000025, .00005, .0001, .00025, .0005, .001, .01, .1}},
			[]string{"listener", "filter"}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmesh_config_reloads_total",
			Help: "Configuration reloads by trigger and result."}, []string{"trigger", "result"}),
		ConfigGen: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wasmesh_config_generation",
			Help: "Generation number of the configuration in service."}),
		Draining: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wasmesh_config_draining",
			Help: "Replaced configurations still serving in-flight streams."}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.upstream, m.upstreamLatency, m.filterCalls, m.Reloads, m.ConfigGen,
		m.Draining, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds more collectors (the engine's VM gauges, cluster gauges).
func (m *Metrics) Register(c prometheus.Collector) error { return m.reg.Register(c) }

// Unregister removes a collector added by Register.
func (m *Metrics) Unregister(c prometheus.Collector) { m.reg.Unregister(c) }

// Handler serves the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// RouteStats are a route's resolved handles.
type RouteStats struct {
	byClass [5]prometheus.Counter
	latency prometheus.Observer
}

// Route resolves the handles of a listener's route ("" for requests that matched no route).
func (m *Metrics) Route(listener, route string) *RouteStats {
	if route == "" {
		route = "none"
	}
	rs := &RouteStats{latency: m.latency.WithLabelValues(listener, route)}
	for i, c := range classes {
		rs.byClass[i] = m.requests.WithLabelValues(listener, route, c)
	}
	return rs
}

// Observe counts a finished request.
func (rs *RouteStats) Observe(status int, seconds float64) {
	rs.byClass[classIndex(status)].Inc()
	rs.latency.Observe(seconds)
}

func classIndex(status int) int {
	i := status/100 - 1
	if i < 0 || i > 4 {
		return 4
	}
	return i
}

// ClusterStats are a cluster's resolved handles.
type ClusterStats struct {
	byClass [5]prometheus.Counter
	errors  prometheus.Counter
	latency prometheus.Observer
}

// Cluster resolves a cluster's handles.
func (m *Metrics) Cluster(name string) *ClusterStats {
	cs := &ClusterStats{latency: m.upstreamLatency.WithLabelValues(name), errors: m.upstream.WithLabelValues(name, "error")}
	for i, c := range classes {
		cs.byClass[i] = m.upstream.WithLabelValues(name, c)
	}
	return cs
}

// Observe counts an upstream attempt: its status, or failed when it got no response.
func (cs *ClusterStats) Observe(status int, failed bool, seconds float64) {
	if failed {
		cs.errors.Inc()
		return
	}
	cs.byClass[classIndex(status)].Inc()
	cs.latency.Observe(seconds)
}

// FilterObserver returns the callback that records a filter's call durations.
func (m *Metrics) FilterObserver(listener, filter string) func(float64) {
	return m.filterCalls.WithLabelValues(listener, filter).Observe
}
