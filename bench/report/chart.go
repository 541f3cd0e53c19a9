package main

import (
	"bytes"
	"fmt"
	"html"
	"math"
)

// ProxyChart renders throughput and p99 latency per proxy configuration as an SVG of two horizontal bar panels
// sharing the variant labels. It is written by hand (a few rectangles and labels) so the report needs no plotting
// library or external tool.
func ProxyChart(rows []ProxyRow, date string) []byte {
	const (
		labelW = 190
		panelW = 330
		gap    = 40
		rowH   = 24
		top    = 56
		width  = labelW + 2*panelW + gap + 30
	)
	height := top + rowH*max(len(rows), 1) + 40
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="15" font-weight="bold">wasmesh data plane, %s: throughput and p99 per configuration</text>`+"\n",
		html.EscapeString(date))
	if len(rows) == 0 {
		fmt.Fprintf(&b, `<text x="10" y="%d">no data plane results in this run</text>`+"\n", top+16)
		b.WriteString("</svg>\n")
		return b.Bytes()
	}
	var maxRPS, maxP99 float64
	for _, r := range rows {
		maxRPS = math.Max(maxRPS, r.RPS)
		maxP99 = math.Max(maxP99, r.P99us/1000)
	}
	panels := []struct {
		title string
		x     int
		max   float64
		val   func(ProxyRow) float64
		color string
		fmtv  func(float64) string
	}{
		{"throughput, requests/s (higher is better)", labelW, maxRPS, func(r ProxyRow) float64 { return r.RPS }, "#3b7dd8",
			func(v float64) string { return fmt.Sprintf("%.0f", v) }},
		{"p99 latency, ms (lower is better)", labelW + panelW + gap, maxP99, func(r ProxyRow) float64 { return r.P99us / 1000 },
			"#d8733b", func(v float64) string { return fmt.Sprintf("%.1f", v) }},
	}
	for _, p := range panels {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", p.x, top-10, p.title)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`+"\n", p.x, top-4, p.x, top+rowH*len(rows))
	}
	for i, r := range rows {
		y := top + i*rowH
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelW-8, y+16, html.EscapeString(r.Variant))
		for _, p := range panels {
			v := p.val(r)
			w := 0.0
			if p.max > 0 {
				w = v / p.max * float64(panelW-60)
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", p.x, y+4, w, rowH-8, p.color)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", float64(p.x)+w+4, y+16, p.fmtv(v))
		}
	}
	fmt.Fprintf(&b, `<text x="10" y="%d" fill="#555">loopback, wrk 1 thread 50 connections, upstream nginx; medians of the run's rounds (bench/run-proxy.sh)</text>`+"\n",
		height-14)
	b.WriteString("</svg>\n")
	return b.Bytes()
}
