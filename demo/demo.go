// Package demo runs the wasmesh story on one machine with embedded defaults: no cluster, no external registry.
// It starts real processes of the wasmesh binary (the embedded registry, `wasmesh operator --dir`, two proxies
// connected to it over xDS) and two Dubbo providers, pushes the filters through the registry with the real CLI,
// applies the WasmDeployment samples, drives HTTP and Dubbo traffic, rolls a new filter version out as a
// canary under load, checks every answer against what a user should see, and stops everything it started,
// also when its context is cancelled (Ctrl-C).
//
//	err := demo.Run(ctx, demo.Options{Binary: "bin/wasmesh", DubboProvider: "bin/dubbo-provider",
//		Filters: "bin/filters", FilterSources: "filters", Samples: "samples", Out: os.Stdout})
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wasmesh/wasmesh/demo/stack"
	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
)

// Options say where the demo finds its pieces.
type Options struct {
	// Binary is the wasmesh executable the demo starts as registry, operator, proxies and CLI.
	Binary string
	// DubboProvider is the sample Dubbo provider (bin/dubbo-provider, built from test/dubbo-provider).
	DubboProvider string
	// Filters holds auth.wasm, ratelimit.wasm and dubbo-routing.wasm (what `make filters` writes to bin/filters).
	Filters string
	// FilterSources is the filters/ source tree; the demo builds the auth filter's next version from it.
	FilterSources string
	// Samples is the samples/ directory: wasmdeployments/, filters/ (configurations, the demo JWT key).
	Samples string
	// WorkDir receives the registry storage, the operator's directory, proxy configurations and logs; empty
	// means a temporary directory removed at the end (unless Keep).
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
	d.stack = stack.New(opts.Binary, d.opts.WorkDir)
	defer d.stopAll()

	fmt.Fprintf(d.out, "wasmesh demo: Wasm filters delivered by the operator to proxies, HTTP and Dubbo, on one machine\n")
	fmt.Fprintf(d.out, "work directory %s\n\n", d.opts.WorkDir)
	steps := []struct {
		title string
		fn    func(context.Context) error
	}{
		{"filters", d.findFilters},
		{"registry: push the filters", d.registry},
		{"upstreams: HTTP echo, Dubbo provider v1 and v2", d.upstreams},
		{"operator and proxies over xDS", d.mesh},
		{"apply the WasmDeployment samples", d.deploy},
		{"HTTP traffic through the operator's filters", d.traffic},
		{"Dubbo traffic through the dubbo-routing filter", d.dubbo},
		{"canary rollout of a new auth version under load", d.canary},
	}
	for i, s := range steps {
		fmt.Fprintf(d.out, "[%d/%d] %s\n", i+1, len(steps), s.title)
		began := time.Now()
		if err := s.fn(ctx); err != nil {
			d.stack.DumpLogs(d.out, 15)
			return fmt.Errorf("%s: %w", s.title, err)
		}
		d.took = append(d.took, fmt.Sprintf("%s %s", strings.Fields(s.title)[0], time.Since(began).Round(100*time.Millisecond)))
	}
	d.summary(time.Since(start))
	if failed := d.failed(); failed != "" {
		d.stack.DumpLogs(d.out, 15)
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
	stack   *stack.Stack
	results []result
	took    []string // each step's duration, for the summary

	registryAddr string
	modules      map[string]module // by filter name
	echo         *http.Server
	echoAddr     string
	dubboV1      string
	dubboV2      string
	operator     *stack.Operator
	proxies      []*meshProxy
	deployments  map[string]*v1alpha1.WasmDeployment // as applied, by name
}

// meshProxy is one of the demo's proxies with its listeners.
type meshProxy struct {
	*stack.Proxy
	http, dubbo string // listener addresses
}

func (d *run) check(step, want, got string, ok bool) {
	d.results = append(d.results, result{step, want, got, ok})
	mark := "ok "
	if !ok {
		mark = "FAIL"
	}
	fmt.Fprintf(d.out, "      %-4s %-48s want %-20s got %s\n", mark, step, want, got)
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

// stopAll stops every child and the in-process echo service.
func (d *run) stopAll() {
	d.stack.StopAll()
	if d.echo != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = d.echo.Shutdown(ctx)
		cancel()
	}
}

func (d *run) summary(took time.Duration) {
	fmt.Fprintf(d.out, "\nsummary (%s: %s)\n", took.Round(100*time.Millisecond), strings.Join(d.took, ", "))
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
	fmt.Fprintf(d.out, "\nadmin endpoints:\n")
	for _, p := range d.proxies {
		fmt.Fprintf(d.out, "  %s  http://%s/ready  /config_dump  /filters  /stats/prometheus\n", p.Name, p.Admin)
	}
	if d.operator != nil {
		fmt.Fprintf(d.out, "  operator  http://%s/metrics   modules http://%s/modules/sha256:<hex>   xDS %s\n",
			d.operator.MetricsAddr, d.operator.ModulesAddr, d.operator.XDSAddr)
	}
	fmt.Fprintf(d.out, "  registry  http://%s/v2/_catalog\n", d.registryAddr)
}

func (d *run) printTryIt() {
	p := d.proxies[0]
	dir := d.operator.Dir
	fmt.Fprintf(d.out, "\nstill running (Ctrl-C stops everything). Try:\n")
	fmt.Fprintf(d.out, "  curl -i http://%s/hello\n", p.http)
	fmt.Fprintf(d.out, "  curl -i -H 'x-api-key: %s' http://%s/hello\n", aliceKey, p.http)
	fmt.Fprintf(d.out, "  curl -i -u %s:%s http://%s/admin/stats\n", bobUser, bobPassword, p.http)
	fmt.Fprintf(d.out, "  curl -s http://%s/filters\n", p.Admin)
	fmt.Fprintf(d.out, "  %s status --dir %s\n", d.opts.Binary, dir)
	fmt.Fprintf(d.out, "  %s status auth --dir %s\n", d.opts.Binary, dir)
	fmt.Fprintf(d.out, "  %s list -A --dir %s\n", d.opts.Binary, dir)
	fmt.Fprintf(d.out, "  edit %s/%s (e.g. pluginConfig) and watch: %s status --dir %s\n", dir, deploymentFile(d.deployments["auth"]), d.opts.Binary, dir)
	fmt.Fprintf(d.out, "  %s undeploy ratelimit --dir %s\n", d.opts.Binary, dir)
	fmt.Fprintf(d.out, "  %s inspect --plain-http %s/wasmesh/auth:v2\n", d.opts.Binary, d.registryAddr)
	fmt.Fprintf(d.out, "  Dubbo (org.example.GreetingService) on %s: v1 at %s, v2 at %s\n", p.dubbo, d.dubboV1, d.dubboV2)
}
