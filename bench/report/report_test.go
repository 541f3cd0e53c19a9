package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseGoBench(t *testing.T) {
	f, err := os.Open("testdata/gobench.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bs, err := parseGoBench(f, "gobench.txt")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pkg, name, unit string
		want            float64
	}{
		{"host/engine", "EmptyCallback/gosdk/deadline", "ns/op", 1100},
		{"host/engine", "EmptyCallback/gosdk/nodeadline", "cpu-ns/op", 129},
		{"host/engine", "EmptyCallback/raw/deadline", "allocs/op", 3},
		{"host/engine", "HostCall/nodeadline", "cpu-ns/hostcall", 83.5},
		{"filters/auth", "APIKey", "B/op", 2207},
		{"filters/auth", "Host/auth/jwt-cached", "ns/op", 7162},
		{"filters/auth", "Host/auth/jwt-cached", "no-such-unit", 0},
		{"host/engine", "APIKey", "ns/op", 0}, // other package
	}
	for _, tt := range tests {
		if got := find(bs, tt.pkg, tt.name, tt.unit); got != tt.want {
			t.Errorf("%s %s %s = %v, want %v", tt.pkg, tt.name, tt.unit, got, tt.want)
		}
	}
	if len(bs) != 9 {
		t.Errorf("%d results, want 9", len(bs))
	}
	for _, b := range bs {
		if b.Iters == 0 {
			t.Errorf("%s: no iteration count", b.Name)
		}
	}
}

func TestParseGoBenchNothing(t *testing.T) {
	for _, in := range []string{"", "PASS\nok  \tx\t0.1s\n", "--- FAIL: BenchmarkX\n    x_test.go:1: boom\nFAIL\n"} {
		if _, err := parseGoBench(strings.NewReader(in), "in"); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestParseProxyTable(t *testing.T) {
	out, err := os.ReadFile("testdata/run-proxy.txt")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parseProxyTable(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 10 {
		t.Fatalf("%d rows, want 10", len(rows))
	}
	direct, wasm := rows[0], rows[7]
	if direct.Variant != "direct" || direct.RPS != 135358 || direct.CPUusReq != 2.6 || !direct.Upstream {
		t.Errorf("direct = %+v", direct)
	}
	if wasm.Variant != "wasmesh-wasm-header" || wasm.P50us != 3615 || wasm.P99us != 46383 || wasm.P999us != 73956 ||
		wasm.CPUusReq != 65.6 || wasm.Upstream {
		t.Errorf("wasm header = %+v", wasm)
	}

	sec := &Section{}
	proxyComparisons(sec, rows)
	var got *Comparison
	for i, c := range sec.Comparisons {
		if c.Subject == "wasmesh-nofilter" && c.Baseline == "nginx" && c.Unit == "req/s" {
			got = &sec.Comparisons[i]
		}
	}
	if got == nil || got.Ratio < 0.501 || got.Ratio > 0.502 { // 22240 / 44341
		t.Errorf("wasmesh vs nginx = %+v", got)
	}
	if len(sec.Notes) != 0 {
		t.Errorf("every comparison should have its figures: %v", sec.Notes)
	}

	// The C header filter is measured only where clang could be installed: compared when it was.
	for _, c := range sec.Comparisons {
		if c.Subject == "wasmesh-wasm-header-c" {
			t.Fatalf("compared a variant the run did not measure: %+v", c)
		}
	}
	sec = &Section{}
	proxyComparisons(sec, append(rows, ProxyRow{Variant: "wasmesh-wasm-header-c", RPS: 17347, CPUusReq: 38.3}))
	n := 0
	for _, c := range sec.Comparisons {
		if c.Subject == "wasmesh-wasm-header-c" && c.Baseline == "wasmesh-nofilter" {
			n++
		}
	}
	if n != 2 || len(sec.Notes) != 0 {
		t.Errorf("C header filter: %d comparisons (want throughput and CPU), notes %v", n, sec.Notes)
	}
}

func TestParseProxyTableErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no table", "building\nround 1 ...\n", "no result table"},
		{"no p99 column", "| variant | req/s |\n|---|---|\n| x | 1 |\n", `no "p99 µs" column`},
		{"bad number", "| variant | req/s | p99 µs |\n|---|---|---|\n| x | fast | 1 |\n", `column "req/s"`},
		{"header only", "| variant | req/s | p99 µs |\n|---|---|---|\n", "no result table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseProxyTable([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// A column the parser does not know is ignored; a missing optional one reads as 0.
	rows, err := parseProxyTable([]byte("| variant | new | req/s | p99 µs |\n|---|---|---|---|\n| a | z | 10 | 20 |\n"))
	if err != nil || len(rows) != 1 || rows[0].RPS != 10 || rows[0].P99us != 20 || rows[0].CPUusReq != 0 {
		t.Errorf("rows = %+v, err = %v", rows, err)
	}
}

// FuzzParseProxyTable: the script's output is read back whatever it printed; parsing must not panic and rows must
// carry a variant name.
func FuzzParseProxyTable(f *testing.F) {
	seed, err := os.ReadFile("testdata/run-proxy.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("| variant | req/s | p99 µs |\n|---|\n|\n| | | |\n"))
	f.Add([]byte("|"))
	f.Fuzz(func(t *testing.T, in []byte) {
		rows, err := parseProxyTable(in)
		if err == nil && len(rows) == 0 {
			t.Fatal("no error and no rows")
		}
	})
}

func TestParseCoreBench(t *testing.T) {
	out, err := os.ReadFile("testdata/corebench.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := []coreRow{
		{"auth", "APIKey", 223, 3041},
		{"auth", "JWTVerify/RS256", 44000, 642000},
		{"ratelimit", "Decide", 556, 15269},
	}
	got := parseCoreBench(out)
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestCompareAndAdd(t *testing.T) {
	sec := &Section{}
	add(sec, compare("a", "s", "b", "ns/op", "lower", 30, 10))
	add(sec, compare("missing", "s", "b", "ns/op", "lower", 30, 0))
	if len(sec.Comparisons) != 1 || sec.Comparisons[0].Ratio != 3 {
		t.Errorf("comparisons = %+v", sec.Comparisons)
	}
	if len(sec.Notes) != 1 || !strings.Contains(sec.Notes[0], "missing") {
		t.Errorf("notes = %v", sec.Notes)
	}
}

func TestShellQuote(t *testing.T) {
	e := Env{Root: "/repo"}
	got := e.display([]string{"ROUNDS=1", "BIN=/repo/bin/w"}, "go", []string{"test", "-run", "^$", "-bench", "A|B", "/repo/bin/x", "it's"})
	want := `ROUNDS=1 BIN=bin/w go test -run '^$' -bench 'A|B' bin/x 'it'\''s'`
	if got != want {
		t.Errorf("display = %s\nwant      %s", got, want)
	}
}

func sampleReport() *Report {
	rows := []ProxyRow{{Variant: "nginx", RPS: 40000, P99us: 17000}, {Variant: "wasmesh-<nofilter>", RPS: 20000, P99us: 46000}}
	return &Report{
		Date: "2026-11-22", Mode: "full", Started: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC),
		Machine: Machine{CPUModel: "cpu", Cores: 2, MemoryGiB: 24, LoadBefore: [3]float64{3, 2, 1}},
		Sections: []Section{
			{Name: "proxy", Title: "Data plane", Proxy: rows, Commands: []string{"bash bench/run-proxy.sh"},
				Comparisons: []Comparison{compare("wasmesh vs nginx", "wasmesh-nofilter", "nginx", "req/s", "higher", 20000, 40000)}},
			{Name: "host", Title: "Host", Error: "go test: exit status 1",
				Benchmarks: []Benchmark{{Package: "host/engine", Name: "X", Iters: 3, Values: map[string]float64{"B/op": 5, "ns/op": 1234.5}}}},
		},
	}
}

func TestProxyChart(t *testing.T) {
	for _, rows := range [][]ProxyRow{sampleReport().proxyRows(), nil} {
		svg := ProxyChart(rows, "2026-11-22")
		dec := xml.NewDecoder(bytes.NewReader(svg))
		rects, texts := 0, ""
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("not well-formed XML: %v\n%s", err, svg)
			}
			switch tok := tok.(type) {
			case xml.StartElement:
				if tok.Name.Local == "rect" {
					rects++
				}
			case xml.CharData:
				texts += string(tok) + "|"
			}
		}
		if want := 1 + 2*len(rows); rects != want { // background + one bar per row and panel
			t.Errorf("%d rows: %d rects, want %d", len(rows), rects, want)
		}
		for _, r := range rows {
			if !strings.Contains(texts, "|"+r.Variant+"|") {
				t.Errorf("variant %q not labelled", r.Variant)
			}
		}
		if len(rows) > 0 && (!strings.Contains(texts, "|40000|") || !strings.Contains(texts, "|46.0|")) {
			t.Errorf("values not labelled: %s", texts)
		}
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	rep := sampleReport()
	files, err := rep.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("files = %v", files)
	}
	js, err := os.ReadFile(filepath.Join(dir, "2026-11-22.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.Sections[0].Comparisons[0].Ratio != 0.5 || back.Machine.Cores != 2 || back.Sections[0].Proxy[1].RPS != 20000 {
		t.Errorf("JSON round trip lost data: %+v", back)
	}
	md, err := os.ReadFile(filepath.Join(dir, "2026-11-22.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| wasmesh vs nginx | wasmesh-nofilter | nginx | req/s | 20000 | 40000 | **0.50×** |",
		"![throughput and p99 per proxy configuration](2026-11-22.svg)",
		"**The machine was busy**",
		"**This suite failed**",
		"| host/engine | X | 3 | 1234 ns/op, 5 B/op |",
		"bash bench/run-proxy.sh",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "2026-11-22.svg")); err != nil {
		t.Error(err)
	}
	// A quick run has files of its own.
	rep.Mode = "quick"
	files, err = rep.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.Contains(filepath.Base(f), "2026-11-22-quick.") {
			t.Errorf("quick run wrote %s", f)
		}
	}
}

func TestParseDubboTable(t *testing.T) {
	out, err := os.ReadFile("testdata/run-dubbo.txt")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parseProxyTable(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 8 {
		t.Fatalf("%d rows, want 8", len(rows))
	}
	direct, auth16 := rows[0], rows[7]
	if direct.Variant != "direct" || direct.RPS != 12914 || direct.CPUusReq != 54.6 || !direct.Upstream || direct.RSSMiB != 11 || direct.VMs != 0 {
		t.Errorf("direct = %+v", direct)
	}
	if auth16.Variant != "wasmesh-wasm-auth-pool16" || auth16.P99us != 72286 || auth16.CPUusReq != 138.3 || auth16.RSSMiB != 484 ||
		auth16.VMs != 16 || auth16.WasmMiB != 118 {
		t.Errorf("auth pool16 = %+v", auth16)
	}
	sec := &Section{}
	dubboComparisons(sec, rows)
	if len(sec.Notes) != 0 {
		t.Errorf("every comparison should have its figures: %v", sec.Notes)
	}
	want := map[string]float64{ // subject|baseline|unit -> ratio
		"wasmesh-nofilter|direct|req/s":                                         9909.0 / 12914,
		"wasmesh-wasm-auth|wasmesh-nofilter|CPU µs/req":                         114.7 / 53.5,
		"wasmesh-wasm-ratelimit-pool16|wasmesh-wasm-ratelimit|req/s":            4818.0 / 4590,
		"wasmesh-wasm-dubbo-routing-pool16|wasmesh-wasm-dubbo-routing|RSS MiB":  357.0 / 318,
		"wasmesh-wasm-dubbo-routing-pool16|wasmesh-wasm-dubbo-routing|Wasm MiB": 96.0 / 32,
	}
	for _, c := range sec.Comparisons {
		key := c.Subject + "|" + c.Baseline + "|" + c.Unit
		if r, ok := want[key]; ok {
			if c.Ratio < r-1e-9 || c.Ratio > r+1e-9 {
				t.Errorf("%s: ratio %v, want %v", key, c.Ratio, r)
			}
			delete(want, key)
		}
	}
	if len(want) != 0 {
		t.Errorf("comparisons missing: %v", want)
	}
	// A figure the run did not produce is named in a note, not compared as 0.
	sec = &Section{}
	dubboComparisons(sec, rows[:2])
	if len(sec.Notes) == 0 || !strings.Contains(strings.Join(sec.Notes, "\n"), "wasmesh-wasm-auth") {
		t.Errorf("notes = %v", sec.Notes)
	}
}

// The Dubbo section's table shows the memory columns; the HTTP one (no such figures) does not, and the chart stays the
// HTTP proxy suite's.
func TestMarkdownDubboSection(t *testing.T) {
	rep := sampleReport()
	rep.Sections = append(rep.Sections, Section{Name: "dubbo", Title: "Dubbo", Proxy: []ProxyRow{
		{Variant: "direct", RPS: 11817, CPUusReq: 35.5, Upstream: true, RSSMiB: 11},
		{Variant: "wasmesh-wasm-auth-pool16", RPS: 2953, P99us: 59487, CPUusReq: 165.9, RSSMiB: 513, VMs: 16, WasmMiB: 118}}})
	md := rep.Markdown("c.svg")
	for _, want := range []string{
		"| variant | req/s | p50 µs | p99 µs | p99.9 µs | CPU µs/req | errors |\n|---|---:|---:|---:|---:|---:|---:|\n| nginx |",
		"| variant | req/s | p50 µs | p99 µs | p99.9 µs | CPU µs/req | RSS MiB | Wasm VMs | Wasm MiB | errors |\n" +
			"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
		"| direct | 11817 | 0 | 0 | 0 | 35.5 (upstream) | 11.0 | 0 | 0 | 0 |",
		"| wasmesh-wasm-auth-pool16 | 2953 | 0 | 59487 | 0 | 165.9 | 513.0 | 16.0 | 118.0 | 0 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if rows := rep.proxyRows(); len(rows) != 2 || rows[0].Variant != "nginx" {
		t.Errorf("chart rows = %+v, want the proxy suite's", rows)
	}
	rep.Sections = rep.Sections[2:] // only the Dubbo section: no chart rows
	if rows := rep.proxyRows(); rows != nil {
		t.Errorf("chart rows without the proxy suite = %+v", rows)
	}
}
