package cluster

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/proxy/config"
)

func endpoints(addrs ...string) []config.Endpoint {
	out := make([]config.Endpoint, len(addrs))
	for i, a := range addrs {
		out[i] = config.Endpoint{Address: a}
	}
	return out
}

func TestBalancers(t *testing.T) {
	tests := []struct {
		lb      string
		weights []int
		check   func(t *testing.T, counts map[string]int)
	}{
		{"round_robin", []int{1, 1, 1}, func(t *testing.T, n map[string]int) {
			for a, c := range n {
				if c != 100 {
					t.Errorf("%s got %d of 300", a, c)
				}
			}
		}},
		{"weighted", []int{1, 2, 0}, func(t *testing.T, n map[string]int) {
			// weight 0 defaults to 1
			if n["a:1"] != 75 || n["b:2"] != 150 || n["c:3"] != 75 {
				t.Errorf("weighted 1:2:1 gave %v", n)
			}
		}},
		{"least_request", []int{1, 1, 1}, func(t *testing.T, n map[string]int) {
			if len(n) != 3 {
				t.Errorf("least_request used %v", n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.lb, func(t *testing.T) {
			cfg := config.Cluster{Name: "c", LB: tt.lb, Endpoints: endpoints("a:1", "b:2", "c:3")}
			for i, w := range tt.weights {
				cfg.Endpoints[i].Weight = w
			}
			c, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			n := map[string]int{}
			for range 300 {
				e, err := c.Pick("")
				if err != nil {
					t.Fatal(err)
				}
				n[e.Address]++
			}
			tt.check(t, n)
		})
	}
}

func TestRingHashIsStable(t *testing.T) {
	c, _ := New(config.Cluster{Name: "c", LB: "ring_hash", Endpoints: endpoints("a:1", "b:2", "c:3", "d:4")}, nil)
	first := map[string]string{}
	seen := map[string]bool{}
	for i := range 200 {
		k := string(rune('A'+i%26)) + string(rune('a'+i/26))
		e, _ := c.Pick(k)
		first[k] = e.Address
		seen[e.Address] = true
	}
	if len(seen) != 4 {
		t.Fatalf("keys spread over %d endpoints, want 4", len(seen))
	}
	// Ejecting one endpoint moves only its keys.
	c.endpoints[0].ejectedUntil.Store(time.Now().Add(time.Hour).UnixNano())
	moved := 0
	for k, addr := range first {
		e, _ := c.Pick(k)
		if e.Address != addr {
			if addr != "a:1" {
				t.Errorf("key %s moved from %s though its endpoint is up", k, addr)
			}
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no key moved off the ejected endpoint")
	}
}

func TestOutlierEjection(t *testing.T) {
	c, _ := New(config.Cluster{Name: "c", Endpoints: endpoints("a:1", "b:2"),
		Outlier: &config.Outlier{Consecutive5xx: 3, MaxEjectionPercent: 50, BaseEjection: config.Duration(time.Hour)}}, nil)
	a, b := c.endpoints[0], c.endpoints[1]
	for range 3 {
		a.Begin()
		a.Report(503, nil)
	}
	if !a.Ejected() {
		t.Fatal("a not ejected after 3 consecutive 5xx")
	}
	for range 10 {
		if e, _ := c.Pick(""); e != b {
			t.Fatalf("picked %s while a is ejected", e.Address)
		}
	}
	for range 3 {
		b.Begin()
		b.Report(0, errors.New("reset"))
	}
	if b.Ejected() {
		t.Fatal("b ejected beyond max_ejection_percent 50 (and connect failures are not configured)")
	}
}

func TestCircuitBreaker(t *testing.T) {
	c, _ := New(config.Cluster{Name: "c", Endpoints: endpoints("a:1"), CircuitBreaker: &config.CircuitBreaker{MaxRequests: 2}}, nil)
	for i := range 2 {
		if !c.Admit() {
			t.Fatalf("request %d refused", i+1)
		}
	}
	if c.Admit() {
		t.Fatal("third request admitted over max_requests 2")
	}
	c.Release()
	if !c.Admit() {
		t.Fatal("request refused after a release")
	}
	if c.Stats().Overflow != 1 {
		t.Fatalf("overflow = %d", c.Stats().Overflow)
	}
}

// With max_connections reached, net/http's Transport keeps a request waiting for a connection to come back to
// the pool instead of failing it, so the limit bounds connections without failing bursts.
func TestMaxConnections(t *testing.T) {
	var conns, maxConns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			if n := conns.Add(1); n > maxConns.Load() {
				maxConns.Store(n)
			}
		case http.StateClosed, http.StateHijacked:
			conns.Add(-1)
		}
	}
	srv.Start()
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	c, _ := New(config.Cluster{Name: "c", Endpoints: endpoints(addr), CircuitBreaker: &config.CircuitBreaker{MaxConnections: 1}}, nil)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
			resp, err := c.Transport().RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil && !errors.Is(err, ErrCircuitOpen) {
			t.Errorf("unexpected error %v", err)
		}
	}
	if maxConns.Load() != 1 {
		t.Fatalf("server saw %d concurrent connections, want 1", maxConns.Load())
	}
}

func TestHealthChecks(t *testing.T) {
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || fail.Load() {
			w.WriteHeader(500)
		}
	}))
	defer srv.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	tests := []struct{ kind, addr string }{{"http", srv.Listener.Addr().String()}, {"tcp", dead}}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			fail.Store(true)
			c, _ := New(config.Cluster{Name: "c", Endpoints: endpoints(tt.addr), HealthCheck: &config.HealthCheck{
				Type: tt.kind, Path: "/healthz", Interval: config.Duration(10 * time.Millisecond), UnhealthyThreshold: 2}}, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go c.Start(ctx)
			waitFor(t, func() bool { return !c.endpoints[0].Healthy() })
			if _, err := c.Pick(""); !errors.Is(err, ErrNoHealthyEndpoint) {
				t.Fatalf("Pick with every endpoint down: %v", err)
			}
			if tt.kind == "http" {
				fail.Store(false)
				waitFor(t, func() bool { return c.endpoints[0].Healthy() })
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 3s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
