package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
)

func proxySuite(ctx context.Context, e Env) (*Section, error) {
	sec := &Section{}
	rows, err := e.runTableScript(ctx, sec, "bench/run-proxy.sh", "ROUNDS="+e.pick("1", "3"), "DURATION="+e.pick("3s", "10s"))
	if err != nil {
		return sec, err
	}
	proxyComparisons(sec, rows)
	sec.Notes = append(sec.Notes, "Upstream: nginx (1 worker, `return 200`); load: wrk, 1 thread, 50 connections, one variant "+
		"at a time; CPU µs/req is the proxy process's user+system time per request (nginx: its one worker).",
		"p99 on a shared machine is dominated by other processes holding the cores; read it across variants of one run only.")
	return sec, nil
}

// runTableScript runs a side-by-side script (bench/run-proxy.sh, bench/run-dubbo.sh) with env, on e.Wasmesh when it
// exists rather than the script's own build, and reads its result table into sec.Proxy.
func (e Env) runTableScript(ctx context.Context, sec *Section, script string, env ...string) ([]ProxyRow, error) {
	if _, err := os.Stat(e.Wasmesh); err == nil {
		env = append(env, "WASMESH_BIN="+e.Wasmesh)
	}
	out, line, err := e.command(ctx, "", env, "bash", script)
	sec.Commands = append(sec.Commands, line)
	if err != nil {
		return nil, err
	}
	rows, err := parseProxyTable(out)
	if err != nil {
		return nil, fmt.Errorf("%s output: %w", script, err)
	}
	sec.Proxy = rows
	return rows, nil
}

// variant returns the row of the named variant, or a zero row (which compare and add report as missing).
func variant(rows []ProxyRow, name string) ProxyRow {
	for _, r := range rows {
		if r.Variant == name {
			return r
		}
	}
	return ProxyRow{}
}

func proxyComparisons(sec *Section, rows []ProxyRow) {
	get := func(name string) ProxyRow { return variant(rows, name) }
	pair := func(what, subj, base string) {
		s, b := get(subj), get(base)
		add(sec, compare(what+" (throughput)", subj, base, "req/s", "higher", s.RPS, b.RPS))
		add(sec, compare(what+" (proxy CPU per request)", subj, base, "CPU µs/req", "lower", s.CPUusReq, b.CPUusReq))
	}
	pair("wasmesh vs nginx", "wasmesh-nofilter", "nginx")
	pair("wasmesh vs httputil.ReverseProxy", "wasmesh-nofilter", "reverseproxy")
	pair("wasmesh on one core vs nginx's one worker", "wasmesh-nofilter-1cpu", "nginx")
	pair("native Go header filter vs no filter", "wasmesh-native-header", "wasmesh-nofilter")
	pair("Wasm header filter vs no filter", "wasmesh-wasm-header", "wasmesh-nofilter")
	pair("Wasm header filter on SDK v0.24.0 (bridged by wasmesh build) vs no filter", "wasmesh-wasm-header-sdk024", "wasmesh-nofilter")
	if get("wasmesh-wasm-header-c").Variant != "" { // measured only where clang-14 and wasi-libc could be installed
		pair("Wasm header filter in C without an SDK (the host's own path) vs no filter", "wasmesh-wasm-header-c", "wasmesh-nofilter")
	}
	pair("Wasm header filter vs the native header filter", "wasmesh-wasm-header", "wasmesh-native-header")
	pair("Wasm auth filter (API key) vs no filter", "wasmesh-wasm-auth", "wasmesh-nofilter")
	pair("Wasm auth filter (API key) vs the native API-key filter", "wasmesh-wasm-auth", "wasmesh-native-apikey")
	s, b := get("wasmesh-wasm-header"), get("wasmesh-nofilter")
	add(sec, compare("Wasm header filter vs no filter (p99 latency)", s.Variant, b.Variant, "p99 µs", "lower", s.P99us, b.P99us))
}

// parseProxyTable reads the Markdown table bench/run-proxy.sh (and bench/run-dubbo.sh) prints on standard output:
//
//	| variant | req/s | × nginx | × ReverseProxy | × wasmesh no filter | p50 µs | p99 µs | p99.9 µs | CPU µs/req (proxy) | errors |
//
// Columns are found by their header, so added columns do not break it.
func parseProxyTable(out []byte) ([]ProxyRow, error) {
	var cols map[string]int
	var rows []ProxyRow
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if cols == nil {
			if cells[0] != "variant" {
				continue
			}
			cols = map[string]int{}
			for i, c := range cells {
				cols[c] = i
			}
			for _, need := range []string{"req/s", "p99 µs"} {
				if _, ok := cols[need]; !ok {
					return nil, fmt.Errorf("table header has no %q column: %s", need, line)
				}
			}
			continue
		}
		if strings.HasPrefix(cells[0], "-") || strings.HasPrefix(cells[0], ":") {
			continue // the |---| line
		}
		num := func(col string) (float64, error) {
			i, ok := cols[col]
			if !ok || i >= len(cells) {
				return 0, nil // optional column
			}
			f := strings.Fields(cells[i]) // "2.6 (upstream)"
			if len(f) == 0 || f[0] == "-" {
				return 0, nil
			}
			v, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return 0, fmt.Errorf("variant %s, column %q: %w", cells[0], col, err)
			}
			return v, nil
		}
		r := ProxyRow{Variant: cells[0]}
		var err error
		for _, f := range []struct {
			col string
			dst *float64
		}{{"req/s", &r.RPS}, {"p50 µs", &r.P50us}, {"p99 µs", &r.P99us}, {"p99.9 µs", &r.P999us},
			{"CPU µs/req (proxy)", &r.CPUusReq}, {"errors", &r.Errors}, {"RSS MiB (proxy)", &r.RSSMiB},
			{"Wasm VMs", &r.VMs}, {"Wasm MiB", &r.WasmMiB}} {
			if *f.dst, err = num(f.col); err != nil {
				return nil, err
			}
		}
		if i, ok := cols["CPU µs/req (proxy)"]; ok && i < len(cells) {
			r.Upstream = strings.Contains(cells[i], "upstream")
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no result table (| variant | req/s | ...) in the output")
	}
	return rows, nil
}
