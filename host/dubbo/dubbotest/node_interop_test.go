package dubbotest

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/dubbo"
	"github.com/wasmesh/wasmesh/host/dubbo/downstream"
	"github.com/wasmesh/wasmesh/host/dubbo/upstream"
)

// nodeModules runs the install script (a no-op once installed) and returns its node_modules dir.
func nodeModules(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "..", "scripts", "install-dubbo-node-client.sh")
	out, err := exec.Command("bash", script).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s failed: %v\n%s\nthis test drives the Node client dubbo2.js: install nodejs and npm, then rerun", script, err, ee.Stderr)
		}
		t.Fatalf("run %s: %v", script, err)
	}
	lines := strings.Fields(strings.TrimSpace(string(out)))
	return lines[len(lines)-1]
}

// miniProxy is the data path the proxy core will have, reduced to what a test needs: a downstream.Server reads
// frames and answers heartbeats, each request is shown to a "filter" as header pairs, re-encoded and sent
// upstream over the multiplexing client, and the answer sent back under the downstream id. The filter adds x-filter, routes
// service version 2.0.0 to the v2 provider, and denies method fail with a 403 local reply.
type miniProxy struct {
	v1, v2 *upstream.Client
}

// handle is the downstream.Handler: heartbeats never reach it, the server answers them.
func (p *miniProxy) handle(ctx context.Context, h dubbo.Header, frame []byte) []byte {
	var req dubbo.Request
	if err := dubbo.DecodeRequest(frame[dubbo.HeaderLen:], &req); err != nil {
		return dubbo.AppendErrorResponse(nil, h.ID, dubbo.StatusBadRequest, err.Error())
	}
	hs := req.AppendHeaders(nil)
	// The filter.
	target := p.v1
	for _, kv := range hs {
		switch {
		case kv[0] == dubbo.HeaderMethodName && kv[1] == "fail":
			return dubbo.AppendLocalReply(nil, h.ID, req.DubboVersion, 403, "denied by the test filter", nil)
		case kv[0] == dubbo.HeaderVersion && kv[1] == "2.0.0":
			target = p.v2
		}
	}
	hs = append(hs, [2]string{"x-filter", "seen-by-proxy"})
	if err := req.ApplyHeaders(hs); err != nil {
		return dubbo.AppendErrorResponse(nil, h.ID, dubbo.StatusBadRequest, err.Error())
	}
	out := req.AppendFrame(nil, h.ID, h.Flags)
	resp, err := target.Do(ctx, out)
	switch {
	case errors.Is(err, upstream.ErrTimeout):
		return dubbo.AppendErrorResponse(nil, h.ID, dubbo.StatusServerTimeout, err.Error())
	case err != nil:
		return dubbo.AppendErrorResponse(nil, h.ID, dubbo.StatusServerError, err.Error())
	}
	return resp
}

func startUpstream(t testing.TB, ctx context.Context, label string) *upstream.Client {
	t.Helper()
	addr := startProvider(t, ProviderConfig{Label: label})
	c, err := upstream.New(upstream.Config{Addr: addr, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	return c
}

type nodeCall struct {
	Method string `json:"method"`
	Res    any    `json:"res"`
	Err    string `json:"err"`
}

// runNodeClient runs the dubbo2.js client script against addr and returns its calls by method.
func runNodeClient(t *testing.T, ctx context.Context, modules, addr, name, version string) map[string]nodeCall {
	t.Helper()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "dubbo2js-client.js"), addr, name, version)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("node client: %v\n%s\n%s", err, out, stderr)
	}
	calls := map[string]nodeCall{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var c nodeCall
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("node client printed %q: %v", line, err)
		}
		calls[c.Method] = c
	}
	return calls
}

// TestNodeClientThroughProxy drives the third-party client dubbo2.js 2.3.9 on hessian.js 2.11.0: directly
// against the provider, then through the mini proxy built from this module's packages.
func TestNodeClientThroughProxy(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not installed: this test drives the Node client dubbo2.js; install nodejs (apt-get install nodejs npm)")
	}
	modules := nodeModules(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("direct", func(t *testing.T) {
		addr := startProvider(t, ProviderConfig{Label: "v1"})
		calls := runNodeClient(t, ctx, modules, addr, "Alice", "1.0.0")
		if c := calls["greet"]; c.Res != "hello Alice from v1" || c.Err != "" {
			t.Errorf("greet: %+v", c)
		}
		if c := calls["sum"]; c.Res != float64(42) {
			t.Errorf("sum: %+v", c)
		}
		if c := calls["attachment"]; c.Res != nil || c.Err != "" {
			t.Errorf("attachment without a proxy: %+v", c)
		}
		if c := calls["fail"]; c.Err == "" {
			t.Errorf("fail: %+v, want an error", c)
		}
	})

	t.Run("through the proxy", func(t *testing.T) {
		p := &miniProxy{v1: startUpstream(t, ctx, "v1"), v2: startUpstream(t, ctx, "v2")}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		srv, err := downstream.New(downstream.Config{}, downstream.HandlerFunc(p.handle))
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(ctx, ln) }()
		for version, label := range map[string]string{"1.0.0": "v1", "2.0.0": "v2"} {
			calls := runNodeClient(t, ctx, modules, ln.Addr().String(), "Bob", version)
			if c := calls["greet"]; c.Res != "hello Bob from "+label || c.Err != "" {
				t.Errorf("version %s greet: %+v", version, c)
			}
			if c := calls["sum"]; c.Res != float64(42) {
				t.Errorf("version %s sum: %+v", version, c)
			}
			if c := calls["attachment"]; c.Res != "seen-by-proxy" {
				t.Errorf("version %s: the header the filter added did not reach the provider: %+v", version, c)
			}
			if c := calls["fail"]; !strings.Contains(c.Err, "denied by the test filter") {
				t.Errorf("version %s fail: %+v, want the filter's local reply", version, c)
			}
		}
	})
}
