// Package demo runs the wasmesh story on one machine with embedded defaults: no cluster, no external registry.
// It starts real processes of the wasmesh binary (the embedded registry, the proxy), pushes and pulls the
// filters through the registry with the real CLI, drives HTTP traffic through the proxy, checks every answer
// against what a user should see, and stops everything it started, also when its context is cancelled.
//
//	err := demo.Run(ctx, demo.Options{Binary: "bin/wasmesh", Filters: "bin/filters", Samples: "samples", Out: os.Stdout})
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Options say where the demo finds its pieces.
type Options struct {
	// Binary is the wasmesh executable the demo starts as registry, proxy and CLI.
	Binary string
	// Filters holds auth.wasm and ratelimit.wasm (what `make filters` writes to bin/filters).
	Filters string
	// Samples is the samples/ directory: filters/auth.json, filters/ratelimit.json and the demo JWT key.
	Samples string
	// WorkDir receives the registry storage, pulled modules, proxy.yaml and logs; empty means a temporary
	// directory removed at the end (unless Keep).
	WorkDir string
	// Keep leaves everything running until the context ends, for the user to try commands.
	Keep bool
	// Out receives the story.
	Out io.Writer
}

// result is one checked step of the story.
type result struct {
	step, want, got string
	ok              bool
}

// Run tells the story and returns an error naming the first expectation that was not met.
func Run(ctx context.Context, opts Options) (err error) {
	start := time.Now()
	d := &run{opts: opts, out: opts.Out}
	if d.out == nil {
		d.out = io.Discard
	}
	if opts.WorkDir == "" {
		dir, err := os.MkdirTemp("", "wasmesh-demo-")
		if err != nil {
			return err
		}
		d.opts.WorkDir = dir
		if !opts.Keep {
			defer os.RemoveAll(dir)
		}
	} else if err := os.MkdirAll(opts.WorkDir, 0o755); err != nil {
		return err
	}
	defer d.stopAll()

	fmt.Fprintf(d.out, "wasmesh demo: authentication and rate limiting as Wasm filters, on one machine\n")
	fmt.Fprintf(d.out, "work directory %s\n\n", d.opts.WorkDir)
	steps := []struct {
		title string
		fn    func(context.Context) error
	}{
		{"filters", d.findFilters},
		{"registry", d.registry},
		{"upstream", d.upstream},
		{"proxy", d.proxy},
		{"traffic", d.traffic},
		{"hot reload under load", d.reloadUnderLoad},
	}
	for i, s := range steps {
		fmt.Fprintf(d.out, "[%d/%d] %s\n", i+1, len(steps), s.title)
		if err := s.fn(ctx); err != nil {
			d.printLogsOnFailure()
			return fmt.Errorf("%s: %w", s.title, err)
		}
	}
	d.summary(time.Since(start))
	if failed := d.failed(); failed != "" {
		d.printLogsOnFailure()
		return errors.New(failed)
	}
	if opts.Keep {
		d.printTryIt()
		<-ctx.Done()
	}
	return nil
}

type run struct {
	opts    Options
	out     io.Writer
	results []result
	procs   []*process

	registryAddr string
	upstreamAddr string
	proxyAddr    string
	adminAddr    string
	modules      map[string]module // by filter name
	echo         *http.Server
}

func (d *run) check(step, want, got string, ok bool) {
	d.results = append(d.results, result{step, want, got, ok})
	mark := "ok "
	if !ok {
		mark = "FAIL"
	}
	fmt.Fprintf(d.out, "      %-4s %-40s want %-18s got %s\n", mark, step, want, got)
}

func (d *run) failed() string {
	var bad []string
	for _, r := range d.results {
		if !r.ok {
			bad = append(bad, fmt.Sprintf("%s: want %s, got %s", r.step, r.want, r.got))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d checks failed: %s", len(bad), len(d.results), strings.Join(bad, "; "))
}

func (d *run) summary(took time.Duration) {
	fmt.Fprintf(d.out, "\nsummary (%s)\n", took.Round(100*time.Millisecond))
	tw := tabwriter.NewWriter(d.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  check\twant\tgot\tresult")
	for _, r := range d.results {
		mark := "ok"
		if !r.ok {
			mark = "FAIL"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", r.step, r.want, r.got, mark)
	}
	tw.Flush()
	fmt.Fprintf(d.out, "\nadmin endpoints of the proxy:\n")
	for _, p := range []string{"/ready", "/config_dump", "/filters", "/stats/prometheus"} {
		fmt.Fprintf(d.out, "  http://%s%s\n", d.adminAddr, p)
	}
}

func (d *run) printTryIt() {
	fmt.Fprintf(d.out, "\nstill running (Ctrl-C stops everything). Try:\n")
	fmt.Fprintf(d.out, "  curl -i http://%s/hello\n", d.proxyAddr)
	fmt.Fprintf(d.out, "  curl -i -H 'x-api-key: alice-demo-key-0001' http://%s/hello\n", d.proxyAddr)
	fmt.Fprintf(d.out, "  curl -i -u bob:bob-demo-password http://%s/admin/stats\n", d.proxyAddr)
	fmt.Fprintf(d.out, "  curl -s http://%s/filters\n", d.adminAddr)
	fmt.Fprintf(d.out, "  %s inspect --plain-http %s/wasmesh/auth:v1\n", d.opts.Binary, d.registryAddr)
	fmt.Fprintf(d.out, "  edit %s and POST http://%s/reload\n", filepath.Join(d.opts.WorkDir, "proxy.yaml"), d.adminAddr)
}

// freeAddr returns a loopback address with a port that was free a moment ago. The proxy's listeners are
// written into its config before it starts, so they cannot use port 0.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
