package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the reconciler's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	reconciles *prometheus.CounterVec
	duration   prometheus.Histogram
	pulls      *prometheus.CounterVec
}

// NewMetrics registers the reconciler's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmesh_operator_reconciles_total", Help: "WasmDeployment reconciles by result (ok, error)."}, []string{"result"}),
		duration:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wasmesh_operator_reconcile_seconds", Help: "Time of one reconcile, pulls included.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		pulls:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmesh_operator_pulls_total", Help: "Module pulls by result: fetched (from the registry), cached (no network), failed."}, []string{"result"}),
	}
	reg.MustRegister(m.reconciles, m.duration, m.pulls)
	return m
}

func (m *Metrics) reconciled(err error, d time.Duration) {
	if m == nil {
		return
	}
	res := "ok"
	if err != nil {
		res = "error"
	}
	m.reconciles.WithLabelValues(res).Inc()
	m.duration.Observe(d.Seconds())
}

func (m *Metrics) pulled(result string) {
	if m != nil {
		m.pulls.WithLabelValues(result).Inc()
	}
}
