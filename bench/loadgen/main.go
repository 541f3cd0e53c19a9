// Command loadgen holds the Go pieces of the proxy benchmarks (bench/run-proxy.sh, bench/run-dubbo.sh): the
// baseline reverse proxy built on net/http/httputil.ReverseProxy, a closed-loop HTTP load generator used when wrk
// is not installed, a Dubbo 2 / hessian2 load generator (package host/dubbo's codec; N connections with M requests
// in flight on each) and a helper that asks the kernel for free ports.
//
//	loadgen reverseproxy -listen 127.0.0.1:18002 -target http://127.0.0.1:18000
//	loadgen run -url http://127.0.0.1:18003/ -c 50 -d 10s -H 'x-api-key: k'
//	loadgen dubbo -addr 127.0.0.1:20880 -c 2 -m 16 -d 10s -a x-api-key=k -expect 'hello Alice'
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
		fmt.Fprintln(os.Stderr, "usage: loadgen reverseproxy|run|dubbo|freeports [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "reverseproxy":
		err = reverseProxy(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	case "dubbo":
		err = dubboMain(os.Args[2:])
	case "freeports":
		err = freePorts(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q (expected reverseproxy, run, dubbo or freeports)", os.Args[1])
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
	FirstError string  `json:"first_error,omitempty"`
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
	res := Result{Requests: total.Load(), Errors: errs.Load(), Seconds: secs, RPS: float64(total.Load()) / secs}
	res.P50Micros, res.P99Micros, res.P999Micros = percentilesMicros(all)
	return json.NewEncoder(os.Stdout).Encode(res)
}

// percentilesMicros sorts lat and returns its 50th, 99th and 99.9th percentiles in microseconds (0 when empty).
func percentilesMicros(lat []time.Duration) (p50, p99, p999 float64) {
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds())
	}
	return pct(.50), pct(.99), pct(.999)
}
