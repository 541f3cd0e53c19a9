//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/demo/stack"
)

// nodeModules runs the install script (a no-op once installed) and returns the node_modules directory holding
// dubbo2.js 2.3.9 on hessian.js 2.11.0.
func nodeModules(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not installed: this test drives the Node client dubbo2.js; install nodejs and npm (apt-get install nodejs npm)")
	}
	script := filepath.Join(repo, "scripts", "install-dubbo-node-client.sh")
	out, err := exec.Command("bash", script).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s failed: %v\n%s", script, err, ee.Stderr)
		}
		t.Fatalf("run %s: %v", script, err)
	}
	lines := strings.Fields(strings.TrimSpace(string(out)))
	return lines[len(lines)-1]
}

// nodeCall is one call the Node script makes, with what it must answer.
type nodeCall struct {
	Method      string            `json:"method"`
	Arg         string            `json:"arg"`
	Attachments map[string]string `json:"attachments,omitempty"`
	want        any
}

// TestDubboNodeClientThroughProxy: the third-party client dubbo2.js calls a real `wasmesh proxy` in front of two
// real providers, v1 and v2, and gets the right answers, routed by method and by a canary attachment. As in the
// demo, the dubbo-routing filter (compiled Wasm, pushed to the registry) reaches the proxy's Dubbo listener from
// `wasmesh operator --dir` over xDS, as a WasmDeployment whose match names the listener's port.
func TestDubboNodeClientThroughProxy(t *testing.T) {
	modules := nodeModules(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := newStack(t)
	reg, err := s.Registry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := s.Push(ctx, artifact(t, "filters/dubbo-routing.wasm"), reg+"/e2e/dubbo-routing:v1")
	if err != nil {
		t.Fatal(err)
	}
	op, err := s.Operator(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	provider := artifact(t, "dubbo-provider")
	v1, err := s.DubboProvider(ctx, provider, "v1")
	if err != nil {
		t.Fatal(err)
	}
	v2, err := s.DubboProvider(ctx, provider, "v2")
	if err != nil {
		t.Fatal(err)
	}
	routing, err := os.ReadFile(filepath.Join("testdata", "dubbo-routing.json"))
	if err != nil {
		t.Fatal(err)
	}
	var addrs [3]string
	for i := range addrs {
		if addrs[i], err = stack.FreeAddr(); err != nil {
			t.Fatal(err)
		}
	}
	admin, listen, dubboAddr := addrs[0], addrs[1], addrs[2]
	cfg, err := stack.ProxyConfig{Admin: admin, HTTP: listen, Echo: echo(t), Dubbo: dubboAddr, DubboV1: v1, DubboV2: v2}.YAML()
	if err != nil {
		t.Fatal(err)
	}
	px, err := s.Proxy(ctx, stack.ProxyOptions{Name: "proxy", Config: cfg, Admin: admin, XDS: op.XDSAddr, Labels: "app=dubbo-gateway"})
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(dubboAddr, ":")
	// pluginConfig is the JSON of testdata/dubbo-routing.json, which YAML reads as it is.
	if err := op.Apply("dubbo-routing.yaml", fmt.Appendf(nil, `apiVersion: wasmesh.io/v1alpha1
kind: WasmDeployment
metadata: {name: dubbo-routing, namespace: default}
spec:
  url: oci://%s/e2e/dubbo-routing:v1
  pluginName: dubbo-routing
  selector: {matchLabels: {app: dubbo-gateway}}
  match: [{mode: CLIENT, ports: [{number: %s}]}]
  pluginConfig: %s
`, reg, port, routing)); err != nil {
		t.Fatal(err)
	}
	err = stack.Eventually(ctx, "the proxy runs dubbo-routing from the operator", 60*time.Second, func() (bool, string, error) {
		d, err := px.Runs(ctx, "xds/default/dubbo-routing")
		return d == pushed.ModuleDigest, "runs " + d, err
	})
	if err != nil {
		t.Fatal(err)
	}

	canary := map[string]string{"x-canary": "true"}
	calls := []nodeCall{
		{Method: "greet", Arg: "Ann", want: "hello Ann from v1"},
		{Method: "sayGoodbye", Arg: "Ann", want: "goodbye Ann from v2"},
		{Method: "greet", Arg: "Ann", Attachments: canary, want: "hello Ann from v2"},
		{Method: "attachment", Arg: "x-routed-by", want: "default"},
		{Method: "attachment", Arg: "x-routed-by", Attachments: canary, want: "canary-attachment"},
		{Method: "attachment", Arg: "x-routed-by", Attachments: map[string]string{"x-canary": "no"}, want: "default"},
		// The filter removes the attachment it routed on before the provider sees it.
		{Method: "attachment", Arg: "x-canary", Attachments: canary, want: nil},
		{Method: "attachment", Arg: "x-canary", Attachments: map[string]string{"x-canary": "no"}, want: "no"},
	}
	arg, _ := json.Marshal(calls)
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "dubbo2js-calls.js"), dubboAddr, string(arg))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("node client: %v\n%s\n%s", err, out, stderr)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(calls) {
		t.Fatalf("node client printed %d lines for %d calls:\n%s", len(lines), len(calls), out)
	}
	for i, line := range lines {
		var got struct {
			Call int
			Res  any
			Err  *string
		}
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("node client printed %q: %v", line, err)
		}
		c := calls[i]
		if got.Err != nil || got.Res != c.want {
			t.Errorf("%s(%q) with attachments %v: res %v, err %v; want %v", c.Method, c.Arg, c.Attachments, got.Res, deref(got.Err), c.want)
		} else {
			t.Logf("%s(%q) %v -> %v", c.Method, c.Arg, c.Attachments, got.Res)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
