package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Report is one `make bench` run: what bench/results/<date>.json holds.
type Report struct {
	Date     string    `json:"date"`
	Mode     string    `json:"mode"` // quick or full
	Commit   string    `json:"commit,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Machine  Machine   `json:"machine"`
	Sections []Section `json:"sections"`
}

// Section is one suite's result.
type Section struct {
	Name     string   `json:"name"`
	Title    string   `json:"title"`
	Commands []string `json:"commands"`
	Seconds  float64  `json:"seconds"`
	// Error is set when the suite failed; what it measured before failing is kept.
	Error       string       `json:"error,omitempty"`
	Comparisons []Comparison `json:"comparisons,omitempty"`
	Benchmarks  []Benchmark  `json:"benchmarks,omitempty"`
	Proxy       []ProxyRow   `json:"proxy,omitempty"`
	Notes       []string     `json:"notes,omitempty"`
}

// Benchmark is one measured case: a `go test -bench` line (values by unit, e.g. "sec/op", "B/op", "cpu-ns/op") or a
// figure this command measured itself.
type Benchmark struct {
	Package string             `json:"package,omitempty"`
	Name    string             `json:"name"`
	Iters   int                `json:"iters,omitempty"`
	Values  map[string]float64 `json:"values"`
}

// Comparison is the ratio of two figures measured in the same run: Ratio = Subject / Baseline in Unit.
type Comparison struct {
	What     string  `json:"what"`
	Subject  string  `json:"subject"`
	Baseline string  `json:"baseline"`
	Unit     string  `json:"unit"`
	SubjVal  float64 `json:"subject_value"`
	BaseVal  float64 `json:"baseline_value"`
	Ratio    float64 `json:"ratio"`
	// Better says which way is good for the subject: "higher" (throughput) or "lower" (time, CPU).
	Better string `json:"better"`
}

// ProxyRow is one variant of bench/run-proxy.sh or bench/run-dubbo.sh: medians over its rounds.
type ProxyRow struct {
	Variant  string  `json:"variant"`
	RPS      float64 `json:"rps"`
	P50us    float64 `json:"p50_us"`
	P99us    float64 `json:"p99_us"`
	P999us   float64 `json:"p999_us"`
	CPUusReq float64 `json:"cpu_us_per_request"`
	Errors   float64 `json:"errors"`
	Upstream bool    `json:"cpu_is_upstream,omitempty"` // for "direct", the CPU column is the upstream's
	// bench/run-dubbo.sh only: the proxy's resident memory after the run, and its Wasm VMs and their linear memory.
	RSSMiB  float64 `json:"rss_mib,omitempty"`
	VMs     float64 `json:"wasm_vms,omitempty"`
	WasmMiB float64 `json:"wasm_mib,omitempty"`
}

// compare returns the comparison of subject to baseline; its Ratio is 0 when either figure is missing or zero.
func compare(what, subject, baseline, unit, better string, subj, base float64) Comparison {
	c := Comparison{What: what, Subject: subject, Baseline: baseline, Unit: unit, SubjVal: subj, BaseVal: base, Better: better}
	if subj != 0 && base != 0 {
		c.Ratio = subj / base
	}
	return c
}

// FileBase is the results' file name without extension: the date, and "-quick" for a quick run, so that a quick
// run never replaces the day's full report.
func (r *Report) FileBase() string {
	if r.Mode == "quick" {
		return r.Date + "-quick"
	}
	return r.Date
}

// WriteFiles writes <date>.json, <date>.md and <date>.svg into dir and returns their paths.
func (r *Report) WriteFiles(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("results directory: %w", err)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	base := filepath.Join(dir, r.FileBase())
	svgName := r.FileBase() + ".svg"
	files := []struct {
		path string
		data []byte
	}{
		{base + ".json", append(js, '\n')},
		{base + ".svg", ProxyChart(r.proxyRows(), r.Date)},
		{base + ".md", []byte(r.Markdown(svgName))},
	}
	var out []string
	for _, f := range files {
		if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
			return out, fmt.Errorf("write %s: %w", f.path, err)
		}
		out = append(out, f.path)
	}
	return out, nil
}

// proxyRows are the HTTP data plane variants (the proxy suite's), for the chart.
func (r *Report) proxyRows() []ProxyRow {
	for _, s := range r.Sections {
		if s.Name == "proxy" {
			return s.Proxy
		}
	}
	return nil
}
