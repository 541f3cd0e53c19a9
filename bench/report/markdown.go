package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Markdown renders the report; chart is the SVG's file name beside it.
func (r *Report) Markdown(chart string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# wasmesh benchmarks, %s (%s run)\n\n", r.Date, r.Mode)
	w("Written by `make bench` (`bench/report`); the same figures are in [%s.json](%s.json). ", r.FileBase(), r.FileBase())
	w("Every ratio compares two figures measured in this run, one after the other on the same machine: on a shared ")
	w("machine only such ratios, not absolute figures from different runs, are comparable.\n\n")
	m := r.Machine
	w("## Machine\n\n| | |\n|---|---|\n")
	w("| CPU | %s, %d cores |\n| memory | %.1f GiB |\n| kernel | %s (%s) |\n| Go | %s |\n", m.CPUModel, m.Cores, m.MemoryGiB,
		m.Kernel, m.OS, m.GoVersion)
	w("| load average before | %s |\n| load average after | %s |\n", loadString(m.LoadBefore), loadString(m.LoadAfter))
	w("| commit | %s |\n| started / finished (UTC) | %s / %s |\n\n", r.Commit, r.Started.Format("15:04:05"), r.Finished.Format("15:04:05"))
	if m.LoadBefore[0] > float64(m.Cores)/2 || m.LoadAfter[0] > float64(m.Cores)/2 {
		w("**The machine was busy** (load average above half the cores): absolute figures are inflated; read the ratios.\n\n")
	}

	w("## Key ratios\n\n")
	w("| comparison | subject | baseline | metric | subject | baseline | ratio |\n|---|---|---|---|---:|---:|---:|\n")
	for _, s := range r.Sections {
		for _, c := range s.Comparisons {
			w("| %s | %s | %s | %s | %s | %s | **%s×** |\n", c.What, c.Subject, c.Baseline, c.Unit, num(c.SubjVal), num(c.BaseVal), ratio(c.Ratio))
		}
	}
	w("\nRatio = subject / baseline; for req/s higher is better, for times and CPU lower is better.\n\n")
	if rows := r.proxyRows(); len(rows) > 0 {
		w("![throughput and p99 per proxy configuration](%s)\n\n", chart)
	}
	for _, s := range r.Sections {
		w("## %s\n\n", s.Title)
		if s.Error != "" {
			w("**This suite failed**; what it measured before failing is below.\n\n```\n%s\n```\n\n", strings.TrimSpace(s.Error))
		}
		if len(s.Commands) > 0 {
			w("Commands (from the repository root), %.0f s:\n\n```sh\n%s\n```\n\n", s.Seconds, strings.Join(s.Commands, "\n"))
		}
		if len(s.Proxy) > 0 {
			// Columns only some scripts print are shown when a row has them.
			var extra []memColumn
			for _, c := range memColumns {
				if slices.ContainsFunc(s.Proxy, func(p ProxyRow) bool { return c.get(p) > 0 }) {
					extra = append(extra, c)
				}
			}
			w("| variant | req/s | p50 µs | p99 µs | p99.9 µs | CPU µs/req |")
			for _, c := range extra {
				w(" %s |", c.title)
			}
			w(" errors |\n|---|---:|---:|---:|---:|---:|%s---:|\n", strings.Repeat("---:|", len(extra)))
			for _, p := range s.Proxy {
				cpu := num(p.CPUusReq)
				if p.Upstream {
					cpu += " (upstream)"
				}
				w("| %s | %s | %s | %s | %s | %s |", p.Variant, num(p.RPS), num(p.P50us), num(p.P99us), num(p.P999us), cpu)
				for _, c := range extra {
					w(" %s |", num(c.get(p)))
				}
				w(" %s |\n", num(p.Errors))
			}
			w("\n")
		}
		if len(s.Benchmarks) > 0 {
			w("| package | benchmark | iterations | figures |\n|---|---|---:|---|\n")
			for _, bm := range s.Benchmarks {
				units := make([]string, 0, len(bm.Values))
				for u := range bm.Values {
					units = append(units, u)
				}
				slices.SortFunc(units, unitOrder)
				var vals []string
				for _, u := range units {
					vals = append(vals, num(bm.Values[u])+" "+u)
				}
				w("| %s | %s | %d | %s |\n", bm.Package, bm.Name, bm.Iters, strings.Join(vals, ", "))
			}
			w("\n")
		}
		for _, n := range s.Notes {
			w("- %s\n", n)
		}
		if len(s.Notes) > 0 {
			w("\n")
		}
	}
	return b.String()
}

// memColumn is an optional column of the proxy tables.
type memColumn struct {
	title string
	get   func(ProxyRow) float64
}

var memColumns = []memColumn{
	{"RSS MiB", func(p ProxyRow) float64 { return p.RSSMiB }},
	{"Wasm VMs", func(p ProxyRow) float64 { return p.VMs }},
	{"Wasm MiB", func(p ProxyRow) float64 { return p.WasmMiB }},
}

// unitOrder puts time first, then memory, then the rest alphabetically.
func unitOrder(a, b string) int {
	rank := func(u string) int {
		switch u {
		case "ns/op":
			return 0
		case "cpu-ns/op":
			return 1
		case "B/op":
			return 2
		case "allocs/op":
			return 3
		}
		return 4
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra - rb
	}
	return strings.Compare(a, b)
}

func loadString(l [3]float64) string {
	return fmt.Sprintf("%.2f %.2f %.2f (1, 5, 15 min)", l[0], l[1], l[2])
}

// num prints a figure with at most three significant digits after the point for small values, none for large ones.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func ratio(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
