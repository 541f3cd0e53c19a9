package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/dubbo"
	"github.com/wasmesh/wasmesh/host/dubbo/dubbotest"
)

// startProvider serves the test provider (it decodes with dubbo-go-hessian2, not with package dubbo) on a free
// port until the test ends.
func startProvider(t *testing.T, cfg dubbotest.ProviderConfig) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go dubbotest.NewProvider(cfg).Serve(ctx, ln)
	return ln.Addr().String()
}

func TestDubboLoad(t *testing.T) {
	v1 := startProvider(t, dubbotest.ProviderConfig{Label: "v1"})
	onlyV2 := startProvider(t, dubbotest.ProviderConfig{Label: "v2", ServiceVersion: "2.0.0"})
	closed := func() string { // a port nothing listens on
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}()
	greet := DubboCall{Service: dubbotest.ExampleGreetingService, Version: "1.0.0", Method: "greet", Arg: "Alice",
		Attachments: []dubbo.Attachment{{Key: "x-api-key", Value: "k1"}}, Expect: "hello Alice from v1"}
	with := func(f func(*DubboCall)) DubboCall { c := greet; f(&c); return c }
	for _, tc := range []struct {
		name      string
		addr      string
		call      DubboCall
		ok        bool   // answers counted, no errors
		errSubstr string // else: errors counted, the first one saying this
	}{
		{name: "greet answered", addr: v1, call: greet, ok: true},
		{name: "one in flight", addr: v1, call: greet, ok: true},
		{name: "wrong answer", addr: v1, call: with(func(c *DubboCall) { c.Expect = "hello Bob" }), errSubstr: "does not begin with"},
		{name: "service version not served", addr: onlyV2, call: greet, errSubstr: "dubbo status 60"},
		{name: "provider throws", addr: v1, call: with(func(c *DubboCall) { c.Method, c.Expect = "fail", "" }), errSubstr: "exception"},
		{name: "nothing listening", addr: closed, call: greet, errSubstr: "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := DubboLoad{Addr: tc.addr, Conns: 2, InFlight: 8, Duration: 300 * time.Millisecond, Call: tc.call}
			if tc.name == "one in flight" {
				l.Conns, l.InFlight = 1, 1
			}
			res, err := l.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tc.ok {
				if res.Requests < 10 || res.Errors != 0 || res.RPS <= 0 || res.P50Micros <= 0 || res.P999Micros < res.P50Micros {
					t.Fatalf("want answers and no errors, got %+v", res)
				}
				return
			}
			if res.Requests != 0 || res.Errors == 0 || !strings.Contains(res.FirstError, tc.errSubstr) {
				t.Fatalf("want only errors, the first containing %q; got %+v", tc.errSubstr, res)
			}
		})
	}
}

func TestDubboLoadRejectsBadSettings(t *testing.T) {
	good := DubboLoad{Addr: "127.0.0.1:1", Conns: 1, InFlight: 1, Duration: time.Second}
	for _, tc := range []struct {
		name, want string
		f          func(*DubboLoad)
	}{
		{"no address", "-addr is required", func(l *DubboLoad) { l.Addr = "" }},
		{"no connections", "-c 0", func(l *DubboLoad) { l.Conns = 0 }},
		{"too many in flight", "-m 5000", func(l *DubboLoad) { l.InFlight = 5000 }},
		{"unbounded", "-d 1h0m0s", func(l *DubboLoad) { l.Duration = time.Hour }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := good
			tc.f(&l)
			if _, err := l.Run(context.Background()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

// The request frame is built with package dubbo; its own decoder must read back what the load generator meant.
func TestDubboCallFrame(t *testing.T) {
	c := DubboCall{Service: "org.example.GreetingService", Version: "1.0.0", Method: "greet", Arg: "Alice",
		Attachments: []dubbo.Attachment{{Key: "x-api-key", Value: "k1"}, {Key: "x-user-id", Value: "u-42"}}}
	frame := c.frame()
	h, err := dubbo.ParseHeader(frame, dubbo.DefaultMaxBody)
	if err != nil || !h.IsRequest() || !h.IsTwoWay() || h.IsEvent() || h.BodyLen != len(frame)-dubbo.HeaderLen {
		t.Fatalf("header %+v, err %v", h, err)
	}
	var req dubbo.Request
	if err := dubbo.DecodeRequest(frame[dubbo.HeaderLen:], &req); err != nil {
		t.Fatal(err)
	}
	if req.Service != c.Service || req.Version != c.Version || req.Method != c.Method || req.ParamTypes != "Ljava/lang/String;" {
		t.Fatalf("decoded %+v", req)
	}
	for k, want := range map[string]string{"path": c.Service, "interface": c.Service, "version": "1.0.0", "x-api-key": "k1", "x-user-id": "u-42"} {
		if got, ok := req.Attachment(k); !ok || got != want {
			t.Errorf("attachment %s = %q, %v; want %q", k, got, ok, want)
		}
	}
}

func TestFreePortList(t *testing.T) {
	ports, err := freePortList(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || p > 65535 || seen[p] {
			t.Fatalf("ports %v: %d is out of range or repeated", ports, p)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d reported free but: %v", p, err)
		}
		ln.Close()
	}
	for _, n := range []int{0, 257} {
		if _, err := freePortList(n); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("freePortList(%d): want an out-of-range error, got %v", n, err)
		}
	}
}
