package xds

import (
	"context"
	"strings"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/wasmesh/wasmesh/xdsapi"
)

func filterOf(t *testing.T, dep, hexDigit string) *xdsapi.Built {
	t.Helper()
	d := "sha256:" + strings.Repeat(hexDigit, 64)
	b, err := xdsapi.Build(xdsapi.Filter{Deployment: dep, ModuleDigest: d, URL: "http://op/modules/" + d})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDeltaAckNack: a proxy on a delta (incremental) ADS stream and one on a state-of-the-world stream, both
// numbered stream 1 by their servers, are told apart; the delta proxy's ACK and NACK reach Progress as a SotW
// proxy's do, and a NACK does not make the server resend.
func TestDeltaAckNack(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := New(Options{Addr: "127.0.0.1:0"})
	go func() { _ = srv.Start(ctx) }()
	conn, err := grpc.NewClient(<-srv.Ready(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ads := discovery.NewAggregatedDiscoveryServiceClient(conn)

	delta, err := ads.DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// "*" subscribes to every resource of the type (the legacy empty-list wildcard is off for ECDS).
	if err := delta.Send(&discovery.DeltaDiscoveryRequest{Node: xdsapi.Node{ID: "d1", Namespace: "shop"}.Proto(), TypeUrl: resource.ExtensionConfigType,
		ResourceNamesSubscribe: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	sotw, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sotw.Send(&discovery.DiscoveryRequest{Node: xdsapi.Node{ID: "s1", Namespace: "shop"}.Proto(), TypeUrl: resource.ExtensionConfigType}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(srv.Nodes()) == 2 })
	deltaResp := make(chan *discovery.DeltaDiscoveryResponse, 16)
	go func() {
		for {
			r, err := delta.Recv()
			if err != nil {
				close(deltaResp)
				return
			}
			deltaResp <- r
		}
	}()
	go func() { // the SotW proxy acknowledges everything
		for {
			r, err := sotw.Recv()
			if err != nil {
				return
			}
			_ = sotw.Send(&discovery.DiscoveryRequest{TypeUrl: resource.ExtensionConfigType, ResponseNonce: r.GetNonce(), VersionInfo: r.GetVersionInfo()})
		}
	}()
	next := func() *discovery.DeltaDiscoveryResponse {
		t.Helper()
		select {
		case r := <-deltaResp:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("no delta response")
		}
		return nil
	}
	ack := func(r *discovery.DeltaDiscoveryResponse) {
		t.Helper()
		if err := delta.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ExtensionConfigType, ResponseNonce: r.GetNonce()}); err != nil {
			t.Fatal(err)
		}
	}
	ack(next()) // the initial state: an empty chain

	v1 := filterOf(t, "shop/f", "a")
	if err := srv.SetPlan("shop/f", Plan{"d1": v1, "s1": v1}); err != nil {
		t.Fatal(err)
	}
	r := next()
	if len(r.GetResources()) == 0 {
		t.Fatalf("delta response without resources: %v", r)
	}
	ack(r)
	waitFor(t, func() bool {
		p := srv.Progress("shop/f")
		return p["d1"].Acked == v1.Hash && p["s1"].Acked == v1.Hash
	})

	v2 := filterOf(t, "shop/f", "b")
	if err := srv.SetPlan("shop/f", Plan{"d1": v2, "s1": v1}); err != nil {
		t.Fatal(err)
	}
	r = next()
	if err := delta.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ExtensionConfigType, ResponseNonce: r.GetNonce(),
		ErrorDetail: &rpcstatus.Status{Code: 3, Message: "module b does not compile"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return srv.Progress("shop/f")["d1"].Nacked == v2.Hash })
	p := srv.Progress("shop/f")
	if p["d1"].Acked != v1.Hash || p["d1"].Message != "module b does not compile" || p["s1"].Acked != v1.Hash || p["s1"].Nacked != "" {
		t.Errorf("after the delta NACK: %+v", p)
	}
	select {
	case r := <-deltaResp:
		t.Errorf("the server answered a NACK by sending again: %v", r)
	case <-time.After(300 * time.Millisecond):
	}
	if st := srv.Stats(); st.Acked < 2 || st.Nacked != 1 {
		t.Errorf("stats %+v", st)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLoadBuckets: reports of one second share a bucket whatever the number of proxies, Load counts from the
// given second, history older than an hour goes, and only digests a plan delivers are kept.
func TestLoadBuckets(t *testing.T) {
	srv := New(Options{})
	if err := srv.SetPlan("shop/f", Plan{"web-1": filterOf(t, "shop/f", "a")}); err != nil {
		t.Fatal(err)
	}
	const aa = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	rec := func(at time.Time, calls, failures uint64) {
		srv.recordLoad(xdsapi.FilterLoad{Deployment: "shop/f", Digest: aa, Calls: calls, Failures: failures}, at)
	}
	for i := range 1000 { // a thousand proxies reporting within one second
		rec(t0.Add(time.Duration(i)*time.Millisecond), 2, 1)
	}
	rec(t0.Add(3*time.Second), 10, 0)
	if n := len(srv.loads[loadKey{"shop/f", aa}]); n != 2 {
		t.Errorf("%d buckets, want 2", n)
	}
	if c, f := srv.Load("shop/f", aa, t0); c != 2010 || f != 1000 {
		t.Errorf("since t0: %d calls %d failures, want 2010 and 1000", c, f)
	}
	if c, _ := srv.Load("shop/f", aa, t0.Add(1500*time.Millisecond)); c != 10 {
		t.Errorf("since t0+1.5s: %d calls, want 10 (the t0+3s bucket only)", c)
	}
	if c, _ := srv.Load("shop/f", aa, t0.Add(4*time.Second)); c != 0 {
		t.Errorf("since t0+4s: %d calls, want 0", c)
	}
	srv.recordLoad(xdsapi.FilterLoad{Deployment: "shop/f", Digest: "sha256:" + strings.Repeat("b", 64), Calls: 7}, t0)
	if c, _ := srv.Load("shop/f", "sha256:"+strings.Repeat("b", 64), t0); c != 0 || len(srv.loads) != 1 {
		t.Errorf("a digest the plan does not deliver: %d calls kept (%d series), want none", c, len(srv.loads))
	}
	rec(t0.Add(2*time.Hour), 1, 1)
	if c, f := srv.Load("shop/f", aa, t0); c != 1 || f != 1 {
		t.Errorf("after two hours: %d calls %d failures, want only the last report", c, f)
	}
	srv.recordLoad(xdsapi.FilterLoad{Deployment: "shop/gone", Digest: aa, Calls: 5}, t0)
	if c, _ := srv.Load("shop/gone", aa, t0); c != 0 {
		t.Error("a deployment that is not planned kept load")
	}
	if err := srv.DeletePlan("shop/f"); err != nil {
		t.Fatal(err)
	}
	if len(srv.loads) != 0 {
		t.Errorf("loads kept after the plan went: %v", srv.loads)
	}
}
