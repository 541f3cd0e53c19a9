package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// reloadSuite measures what a configuration change costs a running proxy: `wasmesh proxy` is started on a config,
// loaded by a few clients, and reloaded N times through POST /reload, which returns once the new configuration is
// built, started and swapped in. The same is done with no filter and with a Wasm filter (module compile cached
// after the first load), and every request the clients sent during the reloads is counted.
func reloadSuite(ctx context.Context, e Env) (*Section, error) {
	sec := &Section{}
	if _, err := os.Stat(e.Wasmesh); err != nil {
		return sec, fmt.Errorf("wasmesh binary %s: %w (run `make build` first, or pass -wasmesh)", e.Wasmesh, err)
	}
	dir, err := os.MkdirTemp("", "wasmesh-reload-bench-")
	if err != nil {
		return sec, err
	}
	defer os.RemoveAll(dir)
	wasm := filepath.Join(dir, "headers.wasm")
	_, _, err = e.command(ctx, "", nil, e.Wasmesh, "build", "host/engine/testdata/headers", "-o", wasm)
	sec.Commands = append(sec.Commands, e.display(nil, e.Wasmesh, []string{"build", "host/engine/testdata/headers", "-o", "$TMP/headers.wasm"}))
	if err != nil {
		return sec, err
	}
	upstream, stopUpstream, err := startUpstream()
	if err != nil {
		return sec, err
	}
	defer stopUpstream()

	reloads := 10
	if !e.Quick {
		reloads = 40
	}
	sec.Commands = append(sec.Commands, fmt.Sprintf("(bench/report itself) wasmesh proxy with no filter, then with that Wasm header filter; 4 clients; %d × POST /reload each", reloads))
	filters := map[string]string{
		"nofilter": "[]",
		"wasm-header": fmt.Sprintf(`[{name: hdr, kind: wasm, module: {url: "file://%s"}, `+
			`options: {callbacks: [request_headers, response_headers]}}]`, wasm),
	}
	results := map[string]reloadResult{}
	for _, name := range []string{"nofilter", "wasm-header"} {
		r, err := measureReloads(ctx, e.Wasmesh, dir, name, filters[name], upstream, reloads)
		if err != nil {
			return sec, fmt.Errorf("reload %s: %w", name, err)
		}
		results[name] = r
		sec.Benchmarks = append(sec.Benchmarks,
			Benchmark{Package: "bench/report", Name: "StartToReady/" + name, Iters: 1, Values: map[string]float64{"ms": r.startMs}},
			Benchmark{Package: "bench/report", Name: "Reload/" + name, Iters: reloads, Values: map[string]float64{
				"p50-ms": r.p50Ms, "max-ms": r.maxMs, "requests": float64(r.requests), "failed-requests": float64(r.failed)}})
		if r.failed > 0 {
			sec.Notes = append(sec.Notes, fmt.Sprintf("**%d of %d requests failed during the reloads with %s** (first: %s)",
				r.failed, r.requests, name, r.firstFailure))
		}
	}
	w, n := results["wasm-header"], results["nofilter"]
	add(sec, compare("reload time: Wasm filter (compile cached) vs no filter, median", "Reload/wasm-header", "Reload/nofilter",
		"p50-ms", "lower", w.p50Ms, n.p50Ms))
	add(sec, compare("start to ready: Wasm filter (cold compile) vs no filter", "StartToReady/wasm-header",
		"StartToReady/nofilter", "ms", "lower", w.startMs, n.startMs))
	sec.Notes = append(sec.Notes, fmt.Sprintf("Requests during the reloads: %d without a filter (%d failed), %d with the Wasm filter (%d failed).",
		n.requests, n.failed, w.requests, w.failed))
	return sec, nil
}

type reloadResult struct {
	startMs, p50Ms, maxMs float64
	requests, failed      int64
	firstFailure          string
}

func measureReloads(ctx context.Context, bin, dir, name, filters, upstream string, n int) (reloadResult, error) {
	var res reloadResult
	ports, err := freePorts(2)
	if err != nil {
		return res, err
	}
	listen, admin := ports[0], ports[1]
	cfg := filepath.Join(dir, name+".yaml")
	yaml := fmt.Sprintf(`admin: {address: "%s"}
listeners:
- name: http
  address: %s
  filters: %s
  routes:
  - {name: all, match: {path: {prefix: /}}, cluster: upstream}
clusters:
- {name: upstream, endpoints: [{address: "%s"}]}
`, admin, listen, filters, upstream)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		return res, err
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(pctx, bin, "proxy", "-c", cfg, "--log-level", "warn", "--watch-interval", "0",
		"--wasm-cache-dir", filepath.Join(dir, "cache-"+name))
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() { cancel(); cmd.Wait() }()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	if err := waitReady(pctx, client, "http://"+admin+"/ready", 60*time.Second); err != nil {
		return res, err
	}
	res.startMs = ms(time.Since(start))

	// Clients run for the whole reload phase; each request must get the upstream's 200.
	var requests, failed atomic.Int64
	var firstFailure atomic.Value
	lctx, stopLoad := context.WithCancel(pctx)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for lctx.Err() == nil {
				err := do(lctx, client, http.MethodGet, "http://"+listen+"/")
				if lctx.Err() != nil {
					return // the request was cut by the end of the phase, not by the proxy
				}
				requests.Add(1)
				if err != nil {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // load established before the first reload
	var times []float64
	for range n {
		t0 := time.Now()
		if err := do(pctx, client, http.MethodPost, "http://"+admin+"/reload"); err != nil {
			stopLoad()
			wg.Wait()
			return res, err
		}
		times = append(times, ms(time.Since(t0)))
		time.Sleep(50 * time.Millisecond) // let the old generation drain while traffic goes on
	}
	time.Sleep(200 * time.Millisecond)
	stopLoad()
	wg.Wait()
	slices.Sort(times)
	res.p50Ms, res.maxMs = times[len(times)/2], times[len(times)-1]
	res.requests, res.failed = requests.Load(), failed.Load()
	if f, ok := firstFailure.Load().(string); ok {
		res.firstFailure = f
	}
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// do sends a bodiless request and wants 200; the body is read to the end so the connection is reused.
func do(ctx context.Context, c *http.Client, method, url string) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: status %d: %s", method, url, resp.StatusCode, body)
	}
	return nil
}

func waitReady(ctx context.Context, c *http.Client, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := do(ctx, c, http.MethodGet, url)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("proxy not ready after %s: %w", limit, errors.Join(err, ctx.Err()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startUpstream serves 200 "hello" on loopback.
func startUpstream() (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("hello"))
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }, nil
}

// freePorts returns loopback addresses that were free a moment ago (the proxy needs fixed ports in its config).
func freePorts(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}
