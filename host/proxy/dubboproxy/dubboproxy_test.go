package dubboproxy

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/host/dubbo"
	"github.com/wasmesh/wasmesh/host/dubbo/downstream"
	"github.com/wasmesh/wasmesh/host/dubbo/dubbotest"
	"github.com/wasmesh/wasmesh/host/dubbo/upstream"
	"github.com/wasmesh/wasmesh/host/proxy/cluster"
	"github.com/wasmesh/wasmesh/host/proxy/config"
	"github.com/wasmesh/wasmesh/host/proxy/drain"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
	"github.com/wasmesh/wasmesh/host/proxy/metrics"
	"github.com/wasmesh/wasmesh/host/proxy/route"
)

// setter sets one request header when value is not empty.
type setter struct {
	filter.Base
	value string
}

func (setter) Wants() filter.Wants { return filter.WantRequestHeaders }

func (f setter) OnRequestHeaders(s *filter.Stream, _ bool) filter.Action {
	if f.value != "" {
		s.RequestHeaders.Set("x-tag", f.value)
	}
	return filter.Continue
}

// recordingProvider answers every request OK and keeps the bodies it received.
type recordingProvider struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (p *recordingProvider) last() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bodies[len(p.bodies)-1]
}

func startListener(t *testing.T, f filter.Filter) (addr string, p *recordingProvider) {
	p = &recordingProvider{}
	cfg := newConfig(t, f, p)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go NewListener("dubbo", ln.Addr().String(), NewHandler(cfg), nil).Serve(ctx, ln)
	return ln.Addr().String(), p
}

// newConfig is a listener configuration with one route through f (none when nil) to a provider on loopback built
// on downstream.Server, which keeps the bodies it receives in p (none when nil) and answers every request OK.
func newConfig(t testing.TB, f filter.Filter, p *recordingProvider) *Config {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv, err := downstream.New(downstream.Config{}, downstream.HandlerFunc(func(_ context.Context, h dubbo.Header, frame []byte) []byte {
		if p != nil {
			p.mu.Lock()
			p.bodies = append(p.bodies, bytes.Clone(frame[dubbo.HeaderLen:])) // the frame is reused after we return
			p.mu.Unlock()
		}
		return dubbo.AppendResponse(nil, h.ID, "2.0.2", dubbo.ResultNull, nil, nil)
	}))
	if err != nil {
		t.Fatal(err)
	}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ctx, pln)

	m := metrics.New()
	cl, err := cluster.New(config.Cluster{Name: "up", Protocol: "dubbo", Endpoints: []config.Endpoint{{Address: pln.Addr().String()}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := NewCluster(cl, m.Cluster("up"), nil)
	if err != nil {
		t.Fatal(err)
	}
	go dc.Start(ctx)
	table, err := route.NewTable([]config.Route{{Name: "all", Cluster: "up"}})
	if err != nil {
		t.Fatal(err)
	}
	var entries []filter.Entry
	if f != nil {
		entries = []filter.Entry{{Name: "set", Kind: "test", Filter: f}}
	}
	return &Config{Listener: "dubbo", Table: table, NoRoute: m.Route("dubbo", ""), Clusters: map[string]*Cluster{"up": dc},
		Log: slog.New(slog.DiscardHandler), Ref: drain.New(),
		Routes: []route.Bound{{Route: table.Routes()[0], Chain: filter.NewChain(entries), Stats: m.Route("dubbo", "all")}}}
}

// A request no filter changed goes upstream byte for byte as the client encoded it; a changed one is encoded
// again with the change.
func TestFrameForwardedUnlessChanged(t *testing.T) {
	inv := dubbotest.Invocation{Service: dubbotest.GreetingService, Method: "greet", Args: []any{"Alice", int32(42)},
		Attachments: map[string]string{"traceid": "t-1", "group": "g"}}
	lib, err := dubbotest.RequestFrame(7, inv)
	if err != nil {
		t.Fatal(err)
	}
	// Write the first string of the body (the dubbo version) in hessian's long form ('S', 2-byte length) instead
	// of the compact one the library and package dubbo write: valid, and changed by any re-encoding.
	body := lib[dubbo.HeaderLen:]
	if body[0] >= 0x20 {
		t.Fatalf("expected a compact string first, got 0x%x", body[0])
	}
	body = append([]byte{'S', 0, body[0]}, body[1:]...)
	h, _ := dubbo.ParseHeader(lib, len(lib))
	h.BodyLen = len(body)
	frame := append(dubbo.AppendHeader(nil, h), body...)
	for _, tt := range []struct {
		name, set string
		same      bool
	}{
		{"unchanged", "", true},
		{"header set by a filter", "blue", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, p := startListener(t, setter{value: tt.set})
			c, err := upstream.New(upstream.Config{Addr: addr})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			go c.Start(ctx)
			for i := range 3 { // the pooled per-request state is reused: every request must come out right
				resp, err := c.Do(ctx, frame)
				if err != nil {
					t.Fatal(err)
				}
				if h, _ := dubbo.ParseHeader(resp, len(resp)); h.Status != dubbo.StatusOK || h.ID != 7 {
					t.Fatalf("request %d: response %+v", i, h)
				}
				got := p.last()
				if same := bytes.Equal(got, frame[dubbo.HeaderLen:]); same != tt.same {
					t.Fatalf("request %d: body forwarded unchanged = %v, want %v", i, same, tt.same)
				}
				var req dubbo.Request
				if err := dubbo.DecodeRequest(got, &req); err != nil {
					t.Fatal(err)
				}
				if v, _ := req.Attachment("x-tag"); v != tt.set {
					t.Fatalf("request %d: x-tag %q upstream, want %q", i, v, tt.set)
				}
				if v, _ := req.Attachment("traceid"); v != "t-1" || req.Method != "greet" {
					t.Fatalf("request %d: upstream got %+v", i, req)
				}
			}
		})
	}
}

// BenchmarkHandle is the listener's per-call path, as downstream.Server calls it for each request frame: decode,
// headers for the chain, route, the upstream round trip over the multiplexing client to a provider on loopback
// (downstream.Server, answering from its handler), and the response frame. 32 callers share the client's
// connections, as multiplexed Dubbo consumers do. allocs/op include the provider's one (its response frame); the
// proxy's are the decoded strings' block and the upstream's response frame, which the caller owns.
func BenchmarkHandle(b *testing.B) {
	inv := dubbotest.Invocation{Service: dubbotest.GreetingService, Method: "greet", Args: []any{"Alice"},
		Attachments: map[string]string{"traceid": "0af7651916cd43dd8448eb211c80319c", "x-api-key": "bench-key-0001", "x-user-id": "u-42"}}
	frame, err := dubbotest.RequestFrame(7, inv)
	if err != nil {
		b.Fatal(err)
	}
	hdr, err := dubbo.ParseHeader(frame, len(frame))
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name string
		f    filter.Filter
	}{
		{"nofilter", nil},
		{"filter-forwards-frame", setter{}},         // a native filter that changes nothing: the frame goes as it came
		{"filter-reencodes", setter{value: "blue"}}, // a header set: the request is encoded again
	} {
		b.Run(v.name, func(b *testing.B) {
			h := NewHandler(newConfig(b, v.f, nil))
			ctx := context.WithValue(context.Background(), sourceKey{}, "127.0.0.1:40000")
			if resp := h.Handle(ctx, hdr, frame); len(resp) < dubbo.HeaderLen || resp[3] != byte(dubbo.StatusOK) {
				b.Fatalf("first call answered %x", resp)
			}
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if resp := h.Handle(ctx, hdr, frame); len(resp) < dubbo.HeaderLen || resp[3] != byte(dubbo.StatusOK) {
						b.Errorf("answered %x", resp)
						return
					}
				}
			})
		})
	}
}
