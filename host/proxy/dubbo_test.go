package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/dubbo"
	"github.com/wasmesh/wasmesh/host/dubbo/dubbotest"
)

func provider(t testing.TB, label string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go dubbotest.NewProvider(dubbotest.ProviderConfig{Label: label}).Serve(ctx, ln)
	return ln.Addr().String()
}

const dubboConfig = `
listeners:
- name: dubbo
  address: 127.0.0.1:0
  protocol: dubbo
  filters:
  - {name: keys, kind: apikey, phase: AUTHN, config: {header: x-api-key, keys: [k1]}}
  - {name: tag, kind: header, config: {request_set: {x-tag: "%s"}}}
  - {name: pick, kind: pick, phase: AUTHZ}
  routes:
  - name: v2
    match: {service: org.apache.dubbo.samples.GreetingService, version: "2.0"}
    cluster: v2
  - name: all
    match: {path: {prefix: /org.apache.dubbo.samples.GreetingService/}}
    cluster: v1
    timeout: 500ms
clusters:
- {name: v1, protocol: dubbo, endpoints: [{address: "%s"}]}
- {name: v2, protocol: dubbo, endpoints: [{address: "%s"}]}
`

func TestDubboListener(t *testing.T) {
	v1, v2 := provider(t, "v1"), provider(t, "v2")
	h := startProxy(t, testRegistry(t), fmt.Sprintf(dubboConfig, "t1", v1, v2))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dubbotest.Dial(ctx, h.srv.Addr("dubbo").String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key := map[string]string{"x-api-key": "k1"}
	tests := []struct {
		name   string
		inv    dubbotest.Invocation
		want   string
		status dubbo.Status
	}{
		{"routed by path", dubbotest.Invocation{Service: dubbotest.GreetingService, Method: "greet", Args: []any{"ann"}, Attachments: key}, "hello ann from v1", 0},
		{"routed by version", dubbotest.Invocation{Service: dubbotest.GreetingService, Version: "2.0", Method: "greet", Args: []any{"ann"}, Attachments: key}, "hello ann from v2", 0},
		{"filter overrides cluster", dubbotest.Invocation{Service: dubbotest.GreetingService, Method: "greet", Args: []any{"ann"},
			Attachments: map[string]string{"x-api-key": "k1", "x-cluster": "v2"}}, "hello ann from v2", 0},
		{"header filter sets an attachment", dubbotest.Invocation{Service: dubbotest.GreetingService, Method: "attachment", Args: []any{"x-tag"}, Attachments: key}, "t1", 0},
		{"apikey denies: local reply", dubbotest.Invocation{Service: dubbotest.GreetingService, Method: "greet", Args: []any{"ann"}}, "", dubbo.StatusBadRequest},
		{"no route", dubbotest.Invocation{Service: "org.Other", Method: "greet", Args: []any{"ann"}, Attachments: key}, "", dubbo.StatusServiceNotFound},
		{"route timeout", dubbotest.Invocation{Service: dubbotest.GreetingService, Method: "sleep", Args: []any{int32(2000)}, Attachments: key}, "", dubbo.StatusServerTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Call(ctx, tt.inv)
			if tt.status != 0 {
				var se *dubbotest.StatusError
				if !errors.As(err, &se) || se.Status != tt.status {
					t.Fatalf("want status %d, got %v %v", tt.status, res, err)
				}
				return
			}
			if err != nil || res.Value != tt.want {
				t.Fatalf("got %v %v, want %q", res.Value, err, tt.want)
			}
		})
	}
}

// Dubbo calls keep flowing on open connections while the configuration is swapped 50 times (one in five
// refused); every call gets its answer from the chain current when it arrived.
func TestDubboReloadUnderLoad(t *testing.T) {
	v1, v2 := provider(t, "v1"), provider(t, "v2")
	h := startProxy(t, testRegistry(t), strings.Replace(fmt.Sprintf(dubboConfig, "gen", v1, v2), "timeout: 500ms", "timeout: 10s", 1))
	addr := h.srv.Addr("dubbo").String()
	ctx, cancel := context.WithCancel(context.Background())
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			c, err := dubbotest.Dial(ctx, addr)
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			defer c.Close()
			for n := 0; ctx.Err() == nil && n < 20000; n++ {
				cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
				res, err := c.Call(cctx, dubbotest.Invocation{Service: dubbotest.GreetingService, Method: "attachment",
					Args: []any{"x-tag"}, Attachments: map[string]string{"x-api-key": "k1"}})
				ccancel()
				if v, _ := res.Value.(string); err != nil || !strings.HasPrefix(v, "gen") {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%v %v", res.Value, err))
					continue
				}
				ok.Add(1)
			}
		})
	}
	refused := 0
	for i := range 50 {
		// A generous timeout: this test is about reloads, and the shared machine can be slow.
		cfg := strings.Replace(fmt.Sprintf(dubboConfig, fmt.Sprintf("gen%d", i), v1, v2), "timeout: 500ms", "timeout: 10s", 1)
		if i%5 == 4 {
			cfg = strings.Replace(cfg, "  - {name: pick, kind: pick, phase: AUTHZ}", "  - {name: pick, kind: pick, phase: AUTHZ}\n  - {name: broken, kind: failing}", 1)
		}
		h.write(cfg)
		if err := h.srv.Reload(context.Background(), "test"); err != nil {
			refused++
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	t.Logf("%d dubbo calls ok, %d failed, %d reloads refused", ok.Load(), failed.Load(), refused)
	if failed.Load() != 0 || ok.Load() < 100 || refused != 10 {
		t.Fatalf("%d failed (first: %v), %d ok, %d refused", failed.Load(), firstErr.Load(), ok.Load(), refused)
	}
}
