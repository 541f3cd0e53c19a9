// Command loadgen holds the Go pieces of the proxy benchmark (bench/run-proxy.sh): the baseline reverse proxy
// built on net/http/httputil.ReverseProxy, and a closed-loop HTTP load generator used when wrk is not installed.
//
//	loadgen reverseproxy -listen 127.0.0.1:18002 -target http://127.0.0.1:18000
//	loadgen run -url http://127.0.0.1:18003/ -c 50 -d 10s -H 'x-api-key: k'
//	loadgen freeports -n 12      # 12 free loopback ports from the kernel, for the scripts
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen reverseproxy|run|freeports [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "reverseproxy":
		err = reverseProxy(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	case "freeports":
		err = freePorts(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q (expected reverseproxy, run or freeports)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// reverseProxy serves httputil.ReverseProxy as shipped, except for the idle pool: the default transport keeps
// 2 idle connections per host, which would make the baseline measure connection setup instead of proxying.
func reverseProxy(args []string) error {
	fs := flag.NewFlagSet("reverseproxy", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:18002", "address to serve on")
	target := fs.String("target", "http://127.0.0.1:18000", "upstream URL")
	fs.Parse(args)
	u, err := url.Parse(*target)
	if err != nil {
		return err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 1024
	rp.Transport = tr
	return http.ListenAndServe(*listen, rp)
}

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

// Result is what run prints, as one JSON line.
type Result struct {
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	Seconds    float64 `json:"seconds"`
	RPS        float64 `json:"rps"`
	P50Micros  float64 `json:"p50_us"`
	P99Micros  float64 `json:"p99_us"`
	P999Micros float64 `json:"p999_us"`
}

// run keeps c requests in flight for d (closed loop) and reports throughput and latency percentiles.
func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	target := fs.String("url", "", "URL to GET")
	conns := fs.Int("c", 50, "concurrent connections")
	dur := fs.Duration("d", 10*time.Second, "duration (bounded)")
	var hdrs headers
	fs.Var(&hdrs, "H", "request header 'name: value' (repeatable)")
	fs.Parse(args)
	if *target == "" {
		return fmt.Errorf("-url is required")
	}
	if *dur > 5*time.Minute {
		return fmt.Errorf("-d above 5m: keep load tests bounded")
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns, DisableCompression: true}
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var total, errs atomic.Int64
	lat := make([][]time.Duration, *conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range *conns {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", *target, nil)
				for _, h := range hdrs {
					k, v, _ := strings.Cut(h, ":")
					req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs.Add(1)
				}
				lat[i] = append(lat[i], time.Since(t0))
				total.Add(1)
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds())
	}
	return json.NewEncoder(os.Stdout).Encode(Result{Requests: total.Load(), Errors: errs.Load(), Seconds: secs,
		RPS: float64(total.Load()) / secs, P50Micros: pct(.50), P99Micros: pct(.99), P999Micros: pct(.999)})
}
