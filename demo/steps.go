package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wasmesh/wasmesh/demo/stack"
	"github.com/wasmesh/wasmesh/host/inspect"
)

// demoFilters are the filters the story uses.
var demoFilters = []string{"auth", "ratelimit", "dubbo-routing"}

// proxyNames are the demo's proxies; the canary step rolls out to one of them first.
var proxyNames = []string{"proxy-a", "proxy-b"}

// module is a filter module as the demo tracks it from build to proxy.
type module struct {
	built     string // bin/filters/NAME.wasm
	sha256    string // of the module bytes
	ref       string // registry reference it was pushed to
	manifest  string // manifest digest
	pulled    string // the file pulled back from the registry
	pulledSHA string
}

func (d *run) findFilters(context.Context) error {
	d.modules = map[string]module{}
	for _, name := range demoFilters {
		path := filepath.Join(d.opts.Filters, name+".wasm")
		m, err := inspect.File(path)
		if err != nil {
			return fmt.Errorf("%w (build the filters first: make filters, or wasmesh build filters/%s -o %s)", err, name, path)
		}
		if err := m.Validate(); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		d.modules[name] = module{built: path, sha256: m.SHA256}
		fmt.Fprintf(d.out, "      %-14s %-32s %5.1f MiB  sha256:%s…  %s\n", name, path, float64(m.Size)/(1<<20), m.SHA256[:12], m.SDK)
	}
	return nil
}

// registry starts the embedded registry, pushes every filter with `wasmesh push` and pulls each back with
// `wasmesh pull` to show the round trip keeps the bytes.
func (d *run) registry(ctx context.Context) error {
	addr, err := d.stack.Registry(ctx)
	if err != nil {
		return err
	}
	d.registryAddr = addr
	if err := os.MkdirAll(filepath.Join(d.opts.WorkDir, "modules"), 0o755); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "      embedded OCI registry at http://%s\n", addr)
	for _, name := range demoFilters {
		m := d.modules[name]
		m.ref = fmt.Sprintf("%s/wasmesh/%s:v1", addr, name)
		pushed, err := d.stack.Push(ctx, m.built, m.ref)
		if err != nil {
			return err
		}
		m.manifest = pushed.Digest
		m.pulled = filepath.Join(d.opts.WorkDir, "modules", name+".wasm")
		out, err := d.stack.CLI(ctx, "pull", m.ref, "--plain-http", "--sha256", m.sha256, "-o", m.pulled, "--output", "json")
		if err != nil {
			return err
		}
		var pulled struct{ ModuleDigest string }
		if err := json.Unmarshal([]byte(out), &pulled); err != nil {
			return fmt.Errorf("wasmesh pull output: %w", err)
		}
		m.pulledSHA = strings.TrimPrefix(pulled.ModuleDigest, "sha256:")
		d.modules[name] = m
		fmt.Fprintf(d.out, "      pushed %s (manifest %s…), pulled it back\n", m.ref, m.manifest[:19])
		d.check("pull "+name+" returns the pushed module", "sha256 "+m.sha256[:8], "sha256 "+m.pulledSHA[:8], m.pulledSHA == m.sha256)
	}
	return nil
}

// upstreams starts the echo service (in this process) and the Dubbo provider in two versions (processes). The
// echo service answers with what it received, so the demo can show what the filters added on the way.
func (d *run) upstreams(ctx context.Context) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	d.echoAddr = l.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		seen := map[string]string{"path": r.URL.Path}
		for k, v := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-") {
				seen[strings.ToLower(k)] = strings.Join(v, ",")
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream-Consumer", r.Header.Get("X-Wasmesh-Consumer"))
		json.NewEncoder(w).Encode(seen)
	})
	d.echo = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go d.echo.Serve(l)
	fmt.Fprintf(d.out, "      HTTP echo service at http://%s\n", d.echoAddr)
	if _, err := os.Stat(d.opts.DubboProvider); err != nil {
		return fmt.Errorf("%w (make build writes bin/dubbo-provider; or go build -o bin/dubbo-provider ./test/dubbo-provider)", err)
	}
	if d.dubboV1, err = d.stack.DubboProvider(ctx, d.opts.DubboProvider, "v1"); err != nil {
		return err
	}
	if d.dubboV2, err = d.stack.DubboProvider(ctx, d.opts.DubboProvider, "v2"); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "      Dubbo provider v1 at %s, v2 at %s (org.example.GreetingService, Dubbo 2 / hessian2)\n", d.dubboV1, d.dubboV2)
	return nil
}

// mesh starts `wasmesh operator --dir` and the proxies connected to it over xDS. Each proxy's own file has an
// HTTP listener and an outbound Dubbo listener, both without filters: the operator delivers them (the
// dubbo-routing filter to the Dubbo listener, whose port its match names).
func (d *run) mesh(ctx context.Context) error {
	op, err := d.stack.Operator(ctx, d.registryAddr)
	if err != nil {
		return err
	}
	d.operator = op
	fmt.Fprintf(d.out, "      wasmesh operator --dir %s  (xDS %s, modules http://%s)\n", op.Dir, op.XDSAddr, op.ModulesAddr)
	for _, name := range proxyNames {
		var addrs [3]string
		for i := range addrs {
			if addrs[i], err = stack.FreeAddr(); err != nil {
				return err
			}
		}
		cfg, err := stack.ProxyConfig{Admin: addrs[0], HTTP: addrs[1], Echo: d.echoAddr, Dubbo: addrs[2],
			DubboV1: d.dubboV1, DubboV2: d.dubboV2}.YAML()
		if err != nil {
			return err
		}
		started := time.Now()
		p, err := d.stack.Proxy(ctx, stack.ProxyOptions{Name: name, Config: cfg, Admin: addrs[0], XDS: op.XDSAddr, Labels: "app=greeter"})
		if err != nil {
			return err
		}
		d.proxies = append(d.proxies, &meshProxy{Proxy: p, http: addrs[1], dubbo: addrs[2]})
		fmt.Fprintf(d.out, "      %s: HTTP http://%s, Dubbo %s, admin http://%s, labels app=greeter, ready in %s\n",
			name, addrs[1], addrs[2], addrs[0], time.Since(started).Round(10*time.Millisecond))
	}
	return nil
}
