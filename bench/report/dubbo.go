package main

import (
	"context"
	"os"
	"path/filepath"
)

// dubboSuite runs bench/run-dubbo.sh (real processes: bin/dubbo-provider, `wasmesh proxy` with a dubbo listener,
// bench/loadgen's Dubbo load generator) and the codec's decode benchmark against dubbo-go-hessian2.
func dubboSuite(ctx context.Context, e Env) (*Section, error) {
	sec := &Section{}
	env := []string{"ROUNDS=" + e.pick("1", "3"), "DURATION=" + e.pick("2s", "5s"), "WARMUP=" + e.pick("1s", "2s")}
	if p := filepath.Join(filepath.Dir(e.Wasmesh), "dubbo-provider"); fileExists(p) {
		env = append(env, "DUBBO_PROVIDER_BIN="+p) // make bench's `make build` made it
	}
	rows, err := e.runTableScript(ctx, sec, "bench/run-dubbo.sh", env...)
	if err != nil {
		return sec, err
	}
	dubboComparisons(sec, rows)
	sec.Notes = append(sec.Notes, "Providers: bin/dubbo-provider (v1, v2); load: `loadgen dubbo`, 2 connections with 16 calls in "+
		"flight on each, greet(\"Alice\") with 3 attachments, every answer checked; one variant at a time. CPU µs/req is the "+
		"proxy process's user+system time per call (for direct: the provider's); RSS is the proxy's after the run.",
		"Wasm filters: request_headers only; the -pool16 variants set options.pool_size: 16 (default 4).")

	bs, err := e.goBench(ctx, sec, "", nil, "./host/dubbo", "-bench", "DecodeRequest", "-benchtime", e.pick("300ms", "2s"))
	if err != nil {
		return sec, err
	}
	add(sec, compare("decode of a typical request: wasmesh's decoder vs dubbo-go-hessian2", "DecodeRequest",
		"DecodeRequestLibrary", "ns/op", "lower", find(bs, "host/dubbo", "DecodeRequest", "ns/op"),
		find(bs, "host/dubbo", "DecodeRequestLibrary", "ns/op")))
	return sec, nil
}

// dubboComparisons draws the ratios of bench/run-dubbo.sh's table: the proxy against direct, each Wasm filter
// against no filter, and each filter's VM pool of 16 against the default 4.
func dubboComparisons(sec *Section, rows []ProxyRow) {
	get := func(name string) ProxyRow { return variant(rows, name) }
	nf, direct := get("wasmesh-nofilter"), get("direct")
	add(sec, compare("Dubbo through wasmesh (no filter) vs direct to the provider (throughput)", "wasmesh-nofilter", "direct",
		"req/s", "higher", nf.RPS, direct.RPS))
	add(sec, compare("Dubbo through wasmesh (no filter) vs direct to the provider (p99 latency)", "wasmesh-nofilter", "direct",
		"p99 µs", "lower", nf.P99us, direct.P99us))
	for _, f := range []string{"dubbo-routing", "ratelimit", "auth"} {
		w, w16 := get("wasmesh-wasm-"+f), get("wasmesh-wasm-"+f+"-pool16")
		what := "Dubbo: Wasm " + f + " filter vs no filter"
		add(sec, compare(what+" (throughput)", "wasmesh-wasm-"+f, "wasmesh-nofilter", "req/s", "higher", w.RPS, nf.RPS))
		add(sec, compare(what+" (proxy CPU per call)", "wasmesh-wasm-"+f, "wasmesh-nofilter", "CPU µs/req", "lower", w.CPUusReq, nf.CPUusReq))
		what = "Dubbo: Wasm " + f + " filter, pool_size 16 vs the default 4"
		add(sec, compare(what+" (throughput)", "wasmesh-wasm-"+f+"-pool16", "wasmesh-wasm-"+f, "req/s", "higher", w16.RPS, w.RPS))
		add(sec, compare(what+" (proxy CPU per call)", "wasmesh-wasm-"+f+"-pool16", "wasmesh-wasm-"+f, "CPU µs/req", "lower", w16.CPUusReq, w.CPUusReq))
		add(sec, compare(what+" (proxy RSS)", "wasmesh-wasm-"+f+"-pool16", "wasmesh-wasm-"+f, "RSS MiB", "lower", w16.RSSMiB, w.RSSMiB))
		add(sec, compare(what+" (the VMs' linear memory)", "wasmesh-wasm-"+f+"-pool16", "wasmesh-wasm-"+f, "Wasm MiB", "lower", w16.WasmMiB, w.WasmMiB))
	}
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
