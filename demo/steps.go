package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/wasmesh/wasmesh/host/inspect"
)

// demoFilters are the filters the story uses, in chain order.
var demoFilters = []string{"auth", "ratelimit"}

// module is a filter module as the demo tracks it from build to proxy.
type module struct {
	built     string // bin/filters/NAME.wasm
	sha256    string // of the module bytes
	ref       string // registry reference it was pushed to
	manifest  string // manifest digest
	pulled    string // the file the proxy loads
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
		fmt.Fprintf(d.out, "      %-10s %-28s %5.1f MiB  sha256:%s…  %s\n", name, path, float64(m.Size)/(1<<20), m.SHA256[:12], m.SDK)
	}
	return nil
}

func (d *run) registry(ctx context.Context) error {
	p, err := d.start(ctx, "registry", "registry", "--addr", "127.0.0.1:0", "--root", filepath.Join(d.opts.WorkDir, "registry"))
	if err != nil {
		return err
	}
	line, err := p.waitForLine(ctx, "serving OCI registry on http://", 20*time.Second)
	if err != nil {
		return err
	}
	addr := strings.Fields(line[strings.Index(line, "http://")+len("http://"):])[0]
	d.registryAddr = addr
	if err := os.MkdirAll(filepath.Join(d.opts.WorkDir, "modules"), 0o755); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "      embedded OCI registry at http://%s\n", addr)
	for _, name := range demoFilters {
		m := d.modules[name]
		m.ref = fmt.Sprintf("%s/wasmesh/%s:v1", addr, name)
		out, err := d.cli(ctx, "push", m.built, m.ref, "--plain-http", "--output", "json")
		if err != nil {
			return err
		}
		var pushed struct{ Digest string }
		if err := json.Unmarshal([]byte(out), &pushed); err != nil {
			return fmt.Errorf("wasmesh push output: %w", err)
		}
		m.manifest = pushed.Digest
		m.pulled = filepath.Join(d.opts.WorkDir, "modules", name+".wasm")
		out, err = d.cli(ctx, "pull", m.ref, "--plain-http", "--sha256", m.sha256, "-o", m.pulled, "--output", "json")
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

// upstream starts the echo service the proxy routes to. It answers with what it received, so the demo can
// show what the filters added on the way (the authenticated consumer, forwarded JWT claims).
func (d *run) upstream(context.Context) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	d.upstreamAddr = l.Addr().String()
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
	fmt.Fprintf(d.out, "      HTTP echo service at http://%s\n", d.upstreamAddr)
	return nil
}

// proxyConfig renders proxy.yaml (as JSON, which YAML accepts) for the demo's chain. extraKeys adds API-key
// consumers to the auth configuration; badPin breaks the ratelimit module's sha256 pin.
func (d *run) proxyConfig(extraKeys map[string]string, badPin bool) ([]byte, error) {
	authCfg, err := d.sampleConfig("auth.json")
	if err != nil {
		return nil, err
	}
	if len(extraKeys) > 0 {
		consumers, _ := authCfg["consumers"].([]any)
		names := make([]string, 0, len(extraKeys))
		for n := range extraKeys {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			consumers = append(consumers, map[string]any{"name": n, "keys": []string{extraKeys[n]}})
		}
		authCfg["consumers"] = consumers
	}
	rlCfg, err := d.sampleConfig("ratelimit.json")
	if err != nil {
		return nil, err
	}
	rlPin := d.modules["ratelimit"].sha256
	if badPin {
		rlPin = strings.Repeat("0", 64)
	}
	cfg := map[string]any{
		"admin":         map[string]any{"address": d.adminAddr},
		"drain_timeout": "5s",
		"listeners": []any{map[string]any{
			"name":    "http",
			"address": d.proxyAddr,
			"filters": []any{
				map[string]any{
					"name": "auth", "kind": "wasm", "phase": "AUTHN",
					"module":  map[string]any{"url": "file://" + d.modules["auth"].pulled, "sha256": d.modules["auth"].sha256},
					"config":  authCfg,
					"options": map[string]any{"fail_strategy": "FAIL_CLOSE", "callbacks": []string{"request_headers"}},
				},
				map[string]any{
					"name": "ratelimit", "kind": "wasm",
					"module":  map[string]any{"url": "file://" + d.modules["ratelimit"].pulled, "sha256": rlPin},
					"config":  rlCfg,
					"options": map[string]any{"fail_strategy": "FAIL_CLOSE", "callbacks": []string{"request_headers", "response_headers"}},
				},
			},
			"routes": []any{
				// The load route shows per-route configuration: rate limiting is off there, so the reload test
				// measures the reload, not the limiter.
				map[string]any{"name": "load", "match": map[string]any{"path": map[string]any{"prefix": "/load/"}}, "cluster": "echo",
					"filters": map[string]any{"ratelimit": map[string]any{"disabled": true}}},
				map[string]any{"name": "default", "match": map[string]any{"path": map[string]any{"prefix": "/"}}, "cluster": "echo"},
			},
		}},
		"clusters": []any{map[string]any{"name": "echo", "endpoints": []any{map[string]any{"address": d.upstreamAddr}}}},
	}
	return json.MarshalIndent(cfg, "", "  ")
}

func (d *run) sampleConfig(name string) (map[string]any, error) {
	b, err := os.ReadFile(filepath.Join(d.opts.Samples, "filters", name))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

func (d *run) writeProxyConfig(extraKeys map[string]string, badPin bool) error {
	b, err := d.proxyConfig(extraKeys, badPin)
	if err != nil {
		return err
	}
	path := filepath.Join(d.opts.WorkDir, "proxy.yaml")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (d *run) proxy(ctx context.Context) error {
	var err error
	if d.proxyAddr, err = freeAddr(); err != nil {
		return err
	}
	if d.adminAddr, err = freeAddr(); err != nil {
		return err
	}
	if err := d.writeProxyConfig(nil, false); err != nil {
		return err
	}
	started := time.Now()
	p, err := d.start(ctx, "proxy", "proxy", "--config", filepath.Join(d.opts.WorkDir, "proxy.yaml"), "--watch-interval", "0")
	if err != nil {
		return err
	}
	if err := waitReady(ctx, p, "http://"+d.adminAddr+"/ready", 90*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "      wasmesh proxy on http://%s (admin http://%s), ready in %s\n", d.proxyAddr, d.adminAddr, time.Since(started).Round(10*time.Millisecond))
	var filters []struct {
		Name, Route, Phase, State, ABI string
		VMs                            int
		MemoryBytes                    uint64 `json:"memory_bytes"`
	}
	if err := getJSON(ctx, "http://"+d.adminAddr+"/filters", &filters); err != nil {
		return err
	}
	var chain []string
	for _, f := range filters {
		if f.Route != "" {
			continue // a route's override instance, not a link of the listener's chain
		}
		phase := f.Phase
		if phase == "" || strings.HasPrefix(phase, "UNSPECIFIED") {
			phase = "no phase"
		}
		chain = append(chain, fmt.Sprintf("%s [%s, %s, %d VMs, %.0f MiB]", f.Name, phase, f.State, f.VMs, float64(f.MemoryBytes)/(1<<20)))
	}
	fmt.Fprintf(d.out, "      chain: %s -> router -> echo\n", strings.Join(chain, " -> "))
	return nil
}

func waitReady(ctx context.Context, p *process, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v; see %s", p.name, p.err, p.log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after %s; see %s", p.name, timeout, p.log)
}

func getJSON(ctx context.Context, url string, v any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
