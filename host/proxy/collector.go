package proxy

import "github.com/prometheus/client_golang/prometheus"

// filterCollector reports, at scrape time, what the active generation's filters say about themselves (the Wasm
// filters' VM count and memory), so the gauges follow reloads without registering anything per generation.
type filterCollector struct {
	s            *Server
	vms, mem, up *prometheus.Desc
}

func newFilterCollector(s *Server) *filterCollector {
	labels := []string{"listener", "route", "filter"}
	return &filterCollector{s: s,
		vms: prometheus.NewDesc("wasmesh_wasm_vms", "Live Wasm VMs serving a filter.", labels, nil),
		mem: prometheus.NewDesc("wasmesh_wasm_memory_bytes", "Linear memory held by a filter's VMs.", labels, nil),
		up:  prometheus.NewDesc("wasmesh_filter_up", "1 when the filter reports itself healthy.", labels, nil),
	}
}

func (c *filterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.vms
	ch <- c.mem
	ch <- c.up
}

func (c *filterCollector) Collect(ch chan<- prometheus.Metric) {
	for _, fi := range c.s.FilterStatus().([]FilterInfo) {
		lv := []string{fi.Listener, fi.Route, fi.Name}
		up := 0.0
		if fi.State == "ok" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, lv...)
		if fi.ModuleDigest != "" {
			ch <- prometheus.MustNewConstMetric(c.vms, prometheus.GaugeValue, float64(fi.VMs), lv...)
			ch <- prometheus.MustNewConstMetric(c.mem, prometheus.GaugeValue, float64(fi.MemoryBytes), lv...)
		}
	}
}
