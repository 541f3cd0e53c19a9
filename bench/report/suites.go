package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
)

// Suite is one group of benchmarks with the comparisons drawn from them.
type Suite struct {
	Name  string
	Title string
	Run   func(ctx context.Context, e Env) (*Section, error)
}

// suites lists what `make bench` measures, in the order the report shows it.
func suites() []Suite {
	return []Suite{
		{"host", "Host: proxy-wasm engine (host/engine)", hostSuite},
		{"proxy", "Data plane: wasmesh vs nginx vs httputil.ReverseProxy; no filter vs native vs Wasm (bench/run-proxy.sh)", proxySuite},
		{"filters", "Filters: the same filter as Wasm in the host vs its native Go core", filtersSuite},
		{"dubbo", "Dubbo: wasmesh proxy vs direct; no filter vs Wasm filters; VM pool 4 vs 16 (bench/run-dubbo.sh)", dubboSuite},
		{"reload", "Hot reload of a running wasmesh proxy under load", reloadSuite},
		{"operator", "Operator: spec change fan-out to a fleet over xDS (operator/controller)", operatorSuite},
	}
}

func hostSuite(ctx context.Context, e Env) (*Section, error) {
	sec := &Section{}
	bs, err := e.goBench(ctx, sec, "", nil, "./host/engine", "-bench", "EmptyCallback|RequestHeaders|FullStream|HostCall",
		"-benchtime", e.pick("3000x", "20000x"))
	if err != nil {
		return sec, err
	}
	more, err := e.goBench(ctx, sec, "", nil, "./host/engine", "-bench", "LoadCacheWarm|InstantiateStart",
		"-benchtime", e.pick("3x", "10x"))
	if err != nil {
		return sec, err
	}
	bs = append(bs, more...)
	const pkg = "host/engine"
	for _, b := range []string{"EmptyCallback", "RequestHeaders", "FullStream"} {
		add(sec, compare(b+": Go SDK guest vs a hand-written module (the host's own cost)",
			"gosdk/nodeadline", "raw/nodeadline", "cpu-ns/op", "lower",
			find(bs, pkg, b+"/gosdk/nodeadline", "cpu-ns/op"), find(bs, pkg, b+"/raw/nodeadline", "cpu-ns/op")))
		add(sec, compare(b+": per-callback CPU deadline on vs off (Go SDK guest)",
			"gosdk/deadline", "gosdk/nodeadline", "cpu-ns/op", "lower",
			find(bs, pkg, b+"/gosdk/deadline", "cpu-ns/op"), find(bs, pkg, b+"/gosdk/nodeadline", "cpu-ns/op")))
	}
	add(sec, compare("HostCall: one host call with vs without the CPU deadline", "deadline", "nodeadline",
		"cpu-ns/hostcall", "lower", find(bs, pkg, "HostCall/deadline", "cpu-ns/hostcall"),
		find(bs, pkg, "HostCall/nodeadline", "cpu-ns/hostcall")))
	return sec, nil
}

func filtersSuite(ctx context.Context, e Env) (*Section, error) {
	sec := &Section{}
	host, err := e.goBench(ctx, sec, "", nil, "./test/filters", "-bench", "Host", "-benchtime", e.pick("2000x", "20000x"))
	if err != nil {
		return sec, err
	}
	native, err := e.goBench(ctx, sec, "filters", nil, "./auth", "./ratelimit", "./dubbo-routing",
		"-bench", "APIKey|BasicWarm|JWTCached|Decide", "-benchtime", e.pick("20000x", "200000x"))
	if err != nil {
		return sec, err
	}
	const th = "test/filters"
	for _, c := range []struct{ host, pkg, native string }{
		{"Host/auth/api-key", "filters/auth", "APIKey"},
		{"Host/auth/basic-warm", "filters/auth", "BasicWarm"},
		{"Host/auth/jwt-cached", "filters/auth", "JWTCached"},
		{"Host/ratelimit/consumer", "filters/ratelimit", "Decide"},
		{"Host/dubbo-routing/sticky-weights", "filters/dubbo-routing", "Decide"},
	} {
		add(sec, compare(c.pkg+": one request as Wasm in the host (stream, host calls, decision) vs the native decision",
			c.host, c.pkg+" "+c.native, "ns/op", "lower", find(host, th, c.host, "ns/op"), find(native, c.pkg, c.native, "ns/op")))
	}
	for _, c := range []string{"Host/auth/api-key", "Host/ratelimit/consumer", "Host/dubbo-routing/sticky-weights"} {
		add(sec, compare("filter in the host vs the SDK no-op stream (what the filter adds)", c, "Host/baseline/nothing",
			"ns/op", "lower", find(host, th, c, "ns/op"), find(host, th, "Host/baseline/nothing", "ns/op")))
	}
	sec.Notes = append(sec.Notes, "The host rows run the compiled filter on one VM with real host calls and no CPU deadline; "+
		"the native rows are the filter's pure-Go decision only, so the ratio is the whole cost of running the filter as Wasm.")
	if e.Quick {
		return sec, nil
	}
	// The same core benchmarks compiled to wasip1 and run in wazero: the price of the Wasm compilation alone.
	out, line, err := e.command(ctx, "", nil, "go", "test", "./test/filters", "-run", "CoreBenchmarksInWasm", "-core-bench", "-v", "-timeout", "20m")
	sec.Commands = append(sec.Commands, line)
	if err != nil {
		return sec, err
	}
	for _, r := range parseCoreBench(out) {
		add(sec, compare("same Go core compiled to Wasm (in wazero) vs native", "wasm "+r.Pkg+" "+r.Name,
			"native", "ns/op", "lower", r.Wasm, r.Native))
	}
	return sec, nil
}

// coreRow is one line of the table TestCoreBenchmarksInWasm logs.
type coreRow struct {
	Pkg, Name    string
	Native, Wasm float64
}

var (
	coreRun  = regexp.MustCompile(`^=== (?:RUN|CONT|NAME)\s+TestCoreBenchmarksInWasm/(\S+)`)
	coreLine = regexp.MustCompile(`^\s*Benchmark(\S+)\s+([\d.]+)\s+([\d.]+)\s+[\d.]+\s*$`)
)

// parseCoreBench reads the Wasm/native table of test/filters' TestCoreBenchmarksInWasm (`go test -v` output). It is
// a test log, not benchmark output, so benchfmt does not apply.
func parseCoreBench(out []byte) []coreRow {
	var rows []coreRow
	pkg := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := coreRun.FindStringSubmatch(sc.Text()); m != nil {
			pkg = m[1]
			continue
		}
		if m := coreLine.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.ParseFloat(m[2], 64)
			w, _ := strconv.ParseFloat(m[3], 64)
			rows = append(rows, coreRow{Pkg: pkg, Name: m[1], Native: n, Wasm: w})
		}
	}
	return rows
}

func operatorSuite(ctx context.Context, e Env) (*Section, error) {
	sec := &Section{}
	small, err := e.goBench(ctx, sec, "", nil, "./operator/controller", "-bench", "SpecChangeToFleet|Reconcile",
		"-benchtime", e.pick("5x", "30x"))
	if err != nil {
		return sec, err
	}
	big := e.pick("300", "1000")
	large, err := e.goBench(ctx, sec, "", []string{"WASMESH_BENCH_PROXIES=" + big}, "./operator/controller",
		"-bench", "SpecChangeToFleet|Reconcile", "-benchtime", e.pick("3x", "5x"), "-timeout", "20m")
	if err != nil {
		return sec, err
	}
	// Both runs report under the same names; the fleet size tells them apart.
	label := func(bs []Benchmark) {
		for i := range bs {
			bs[i].Name += fmt.Sprintf("/proxies=%.0f", bs[i].Values["proxies"])
		}
	}
	label(small)
	label(large)
	const pkg = "operator/controller"
	s, l := "SpecChangeToFleet/proxies=50", "SpecChangeToFleet/proxies="+big
	add(sec, compare("spec change until every proxy holds the new digest: "+big+" vs 50 proxies (mean)", l, s, "ns/op", "lower",
		find(large, pkg, l, "ns/op"), find(small, pkg, s, "ns/op")))
	add(sec, compare("the same, worst run", l, s, "worst-ms", "lower", find(large, pkg, l, "worst-ms"), find(small, pkg, s, "worst-ms")))
	rs, rl := "Reconcile/proxies=50", "Reconcile/proxies="+big
	add(sec, compare("one Reconcile (module cached), p99: "+big+" vs 50 proxies", rl, rs, "p99-ms", "lower",
		find(large, pkg, rl, "p99-ms"), find(small, pkg, rs, "p99-ms")))
	// Rewrite the benchmark list with the labels (goBench appended them unlabelled).
	sec.Benchmarks = append(small, large...)
	sec.Notes = append(sec.Notes, "Operator (directory mode, polled every 50 ms), embedded registry and the test proxies share one "+
		"process and the machine's cores; fan-out times are upper bounds for the operator.")
	return sec, nil
}

// add appends c when both of its figures were measured, and says which is missing otherwise.
func add(sec *Section, c Comparison) {
	if c.Ratio == 0 {
		sec.Notes = append(sec.Notes, fmt.Sprintf("Not compared (a figure is missing): %s, %s vs %s in %s.", c.What, c.Subject, c.Baseline, c.Unit))
		return
	}
	sec.Comparisons = append(sec.Comparisons, c)
}
