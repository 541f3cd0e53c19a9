package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wasmesh/wasmesh/internal/atomicfile"
	"github.com/wasmesh/wasmesh/operator/store"
)

// Registry starts the embedded OCI registry on a free loopback port and returns its host:port.
func (s *Stack) Registry(ctx context.Context) (string, error) {
	p, err := s.Start("registry", "registry", "--addr", "127.0.0.1:0", "--root", filepath.Join(s.dir, "registry"))
	if err != nil {
		return "", err
	}
	line, err := p.WaitForLine(ctx, "serving OCI registry on http://", 20*time.Second)
	if err != nil {
		return "", err
	}
	return strings.Fields(line[strings.Index(line, "http://")+len("http://"):])[0], nil
}

// Pushed is what `wasmesh push --output json` reports.
type Pushed struct {
	Digest       string // manifest digest, what a WasmDeployment's status shows
	ModuleDigest string // sha256 of the .wasm bytes, what a proxy runs
}

// Push pushes a module to ref over plain HTTP with `wasmesh push`; annotations (k=v) make a push of the same
// bytes a new manifest, as a rebuilt release would be.
func (s *Stack) Push(ctx context.Context, module, ref string, annotations ...string) (Pushed, error) {
	args := []string{"push", module, ref, "--plain-http", "--output", "json"}
	for _, a := range annotations {
		args = append(args, "--annotation", a)
	}
	out, err := s.CLI(ctx, args...)
	if err != nil {
		return Pushed{}, err
	}
	var p Pushed
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		return Pushed{}, fmt.Errorf("wasmesh push output: %w", err)
	}
	return p, nil
}

// Operator is `wasmesh operator --dir` with its addresses.
type Operator struct {
	*Process
	s           *Stack
	Dir         string // the watched directory of WasmDeployment files
	XDSAddr     string // ADS for proxies
	ModulesAddr string // module server
	MetricsAddr string // Prometheus /metrics
}

// Operator starts `wasmesh operator --dir` on free loopback ports, trusting registry over plain HTTP, and
// waits until its xDS server listens. extra flags go to the operator as they are.
func (s *Stack) Operator(ctx context.Context, registry string, extra ...string) (*Operator, error) {
	o := &Operator{s: s, Dir: filepath.Join(s.dir, "deploy")}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	for _, a := range []*string{&o.XDSAddr, &o.ModulesAddr, &o.MetricsAddr} {
		var err error
		if *a, err = FreeAddr(); err != nil {
			return nil, err
		}
	}
	args := append([]string{"operator", "--dir", o.Dir, "--dir-interval", "200ms",
		"--xds-addr", o.XDSAddr, "--modules-addr", o.ModulesAddr, "--metrics-addr", o.MetricsAddr, "--probe-addr", "0",
		"--plain-http-registry", registry, "--cache-dir", filepath.Join(s.dir, "operator-cache")}, extra...)
	p, err := s.Start("operator", args...)
	if err != nil {
		return nil, err
	}
	o.Process = p
	if _, err := p.WaitForLine(ctx, "xDS server listening", 30*time.Second); err != nil {
		return nil, err
	}
	return o, nil
}

// Restart stops the operator and starts it again on the same addresses, directory and cache, as after a crash
// or a rescheduling; it returns once the xDS server listens again.
func (o *Operator) Restart(ctx context.Context) error {
	p, err := o.s.Restart(o.Process)
	if err != nil {
		return err
	}
	o.Process = p
	_, err = p.WaitForLine(ctx, "xDS server listening", 30*time.Second)
	return err
}

// Apply writes a WasmDeployment (YAML) as file name in the operator's directory, atomically so the operator
// never reads half of it.
func (o *Operator) Apply(name string, yaml []byte) error {
	return atomicfile.Write(filepath.Join(o.Dir, name), yaml, 0o644)
}

// Delete removes file name from the operator's directory, which deletes the WasmDeployments it held.
func (o *Operator) Delete(name string) error {
	return os.Remove(filepath.Join(o.Dir, name))
}

// ErrNoStatus is returned by Status before the operator has written a deployment's status.
var ErrNoStatus = errors.New("no status written yet")

// Status reads the status the operator wrote for namespace/name.
func (o *Operator) Status(namespace, name string) (store.StatusFile, error) {
	files, err := store.ReadStatusFiles(o.Dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return store.StatusFile{}, err
	}
	for _, f := range files {
		if f.Metadata.Namespace == namespace && f.Metadata.Name == name {
			return f, nil
		}
	}
	return store.StatusFile{}, fmt.Errorf("%s/%s: %w", namespace, name, ErrNoStatus)
}

// Proxy is a `wasmesh proxy` process with its admin address.
type Proxy struct {
	*Process
	s     *Stack
	Name  string
	Admin string // admin server host:port
}

// ProxyOptions describe a proxy to start.
type ProxyOptions struct {
	Name string // unique; the xDS node id too
	// Config is proxy.yaml. Its admin address must be Admin.
	Config []byte
	Admin  string
	// XDS is the operator's ADS address; empty runs the file configuration alone.
	XDS string
	// Labels (k=v,k2=v2) are what WasmDeployment selectors match.
	Labels string
}

// Proxy writes the proxy's configuration, starts it and waits until its admin server says it is ready.
func (s *Stack) Proxy(ctx context.Context, o ProxyOptions) (*Proxy, error) {
	cfg := filepath.Join(s.dir, o.Name+".yaml")
	if err := os.WriteFile(cfg, o.Config, 0o644); err != nil {
		return nil, err
	}
	// Each proxy has its own module cache, so what it loads after a restart is what it kept itself.
	args := []string{"proxy", "--config", cfg, "--watch-interval", "0", "--module-cache-dir", filepath.Join(s.dir, o.Name+".modules")}
	if o.XDS != "" {
		args = append(args, "--xds", o.XDS, "--node-id", o.Name, "--node-pod", o.Name, "--node-namespace", "default",
			"--xds-state", filepath.Join(s.dir, o.Name+".xds.yaml"))
		if o.Labels != "" {
			args = append(args, "--node-labels", o.Labels)
		}
	}
	p, err := s.Start(o.Name, args...)
	if err != nil {
		return nil, err
	}
	px := &Proxy{Process: p, s: s, Name: o.Name, Admin: o.Admin}
	if err := WaitReady(ctx, p, "http://"+o.Admin+"/ready", 90*time.Second); err != nil {
		return nil, err
	}
	return px, nil
}

// Restart stops the proxy and starts it again with the same configuration (and, with xDS, the same saved
// state), returning once it is ready.
func (p *Proxy) Restart(ctx context.Context) error {
	np, err := p.s.Restart(p.Process)
	if err != nil {
		return err
	}
	p.Process = np
	return WaitReady(ctx, np, "http://"+p.Admin+"/ready", 90*time.Second)
}

// Filter is one entry of a proxy's admin /filters.
type Filter struct {
	Listener     string `json:"listener"`
	Name         string `json:"name"`
	Route        string `json:"route"`
	Phase        string `json:"phase"`
	State        string `json:"state"`
	ModuleDigest string `json:"module_digest"`
	VMs          int    `json:"vms"`
	MemoryBytes  uint64 `json:"memory_bytes"`
}

// Filters returns what the proxy's admin server lists as running.
func (p *Proxy) Filters(ctx context.Context) ([]Filter, error) {
	var fs []Filter
	err := GetJSON(ctx, "http://"+p.Admin+"/filters", &fs)
	return fs, err
}

// Runs says which module digest (sha256:<hex>) the proxy runs for filter name on its listeners, or "".
func (p *Proxy) Runs(ctx context.Context, name string) (string, error) {
	fs, err := p.Filters(ctx)
	if err != nil {
		return "", err
	}
	for _, f := range fs {
		if f.Name == name && f.Route == "" {
			return f.ModuleDigest, nil
		}
	}
	return "", nil
}

// WaitReady polls url until it answers 200, p exits, or timeout passes.
func WaitReady(ctx context.Context, p *Process, url string, timeout time.Duration) error {
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
			return fmt.Errorf("%s exited: %v; see %s", p.Name, p.err, p.Log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after %s; see %s", p.Name, timeout, p.Log)
}

// GetJSON decodes the JSON answer of a GET.
func GetJSON(ctx context.Context, url string, v any) error {
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

// Eventually polls cond every 100ms until it returns true, an error, or timeout passes; the error names what
// was awaited and cond's last word.
func Eventually(ctx context.Context, what string, timeout time.Duration, cond func() (bool, string, error)) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state, err := cond()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		last = state
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %s (last: %s)", what, timeout, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last: %s)", what, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// DubboProvider starts exe (bin/dubbo-provider, built from test/dubbo-provider) on a free loopback port with
// the given version label and returns its address.
func (s *Stack) DubboProvider(ctx context.Context, exe, label string) (string, error) {
	p, err := s.StartCommand("dubbo-provider-"+label, exe, "-listen", "127.0.0.1:0", "-label", label)
	if err != nil {
		return "", err
	}
	line, err := p.WaitForLine(ctx, "dubbo-provider listening on ", 20*time.Second)
	if err != nil {
		return "", err
	}
	rest := line[strings.Index(line, "listening on ")+len("listening on "):]
	return strings.Fields(rest)[0], nil
}
