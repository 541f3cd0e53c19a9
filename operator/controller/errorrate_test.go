package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	lrs "github.com/envoyproxy/go-control-plane/envoy/service/load_stats/v3"
	"google.golang.org/grpc"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/operator/store"
	"github.com/wasmesh/wasmesh/xdsapi"
)

// loadReporter is a proxy's LRS stream, opened as a wasmesh proxy does: on its ADS connection, then the
// operator's first answer.
type loadReporter struct {
	t testing.TB
	s grpc.BidiStreamingClient[lrs.LoadStatsRequest, lrs.LoadStatsResponse]
}

func (p *proxy) loadReports(t testing.TB) *loadReporter {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := lrs.NewLoadReportingServiceClient(p.conn).StreamLoadStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&lrs.LoadStatsRequest{Node: p.node.Proto()}); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetSendAllClusters() || resp.GetLoadReportingInterval().AsDuration() <= 0 {
		t.Fatalf("LRS answer %v: want send_all_clusters and an interval", resp)
	}
	return &loadReporter{t: t, s: s}
}

// send sends one report (plus a cluster that is not a filter, which the operator ignores).
func (r *loadReporter) send(loads ...xdsapi.FilterLoad) {
	req := &lrs.LoadStatsRequest{}
	for _, l := range loads {
		req.ClusterStats = append(req.ClusterStats, l.Proto(nil))
	}
	req.ClusterStats = append(req.ClusterStats, &endpoint.ClusterStats{ClusterName: "an-upstream-cluster"})
	if err := r.s.Send(req); err != nil {
		r.t.Fatal(err)
	}
}

// TestCanaryErrorRateRollsBack: v2's canary acknowledges, then reports its calls; a failure share below
// abort.maxErrorRatePercent keeps the rollout paused, one above it rolls every proxy back with
// ErrorRateExceeded.
func TestCanaryErrorRateRollsBack(t *testing.T) {
	reg, dir, addr, m1, _ := twoVersions(t, "rate")
	d1, d2 := moduleDigest("rate-v1"), moduleDigest("rate-v2")
	var proxies []*proxy
	for i := range 4 {
		proxies = append(proxies, connect(t, addr, xdsapi.Node{ID: fmt.Sprintf("web-%d", i), Namespace: "shop", Labels: map[string]string{"app": "web"}}, nil))
	}
	rollout := `  rollout:
    strategy: Canary
    steps:
    - percent: 25
      pause: {untilApproved: true}
    abort: {maxErrorRatePercent: 10, window: 1m}
`
	writeYAML(t, dir, "rate.yaml", deploymentYAML("rate", "shop", "oci://"+reg+"/filters/rate:v1", rollout))
	waitStatus(t, dir, "shop", "rate", 20*time.Second, func(sf store.StatusFile) bool { return sf.Status.LastGoodDigest == m1.String() })

	writeYAML(t, dir, "rate.yaml", deploymentYAML("rate", "shop", "oci://"+reg+"/filters/rate:v2", rollout))
	waitStatus(t, dir, "shop", "rate", 20*time.Second, func(sf store.StatusFile) bool {
		return condIs(sf, v1alpha1.ConditionProgressing, "True", v1alpha1.ReasonWaitingApproval) && sf.Status.Targets[0].Acknowledged == 1
	})
	var canary *proxy
	for _, p := range proxies {
		if p.digest("shop/rate") == d2 {
			canary = p
		}
	}
	if canary == nil {
		t.Fatal("no proxy runs v2")
	}
	// 1 failed call in 20 (5%): within the rule. The old module's failures do not count against the new one.
	reports := canary.loadReports(t)
	reports.send(xdsapi.FilterLoad{Deployment: "shop/rate", Digest: d2, Calls: 20, Failures: 1})
	proxies[0].loadReports(t).send(xdsapi.FilterLoad{Deployment: "shop/rate", Digest: d1, Calls: 100, Failures: 100})
	time.Sleep(300 * time.Millisecond)
	sf := waitStatus(t, dir, "shop", "rate", time.Second, func(store.StatusFile) bool { return true })
	if !condIs(sf, v1alpha1.ConditionProgressing, "True", v1alpha1.ReasonWaitingApproval) {
		t.Fatalf("5%% failed calls changed the rollout: %+v", sf.Status.Conditions)
	}
	// 4 more failures in 20 more calls: 5 of 40 (12.5%) is above 10%.
	reports.send(xdsapi.FilterLoad{Deployment: "shop/rate", Digest: d2, Calls: 20, Failures: 4})
	sf = waitStatus(t, dir, "shop", "rate", 20*time.Second, func(sf store.StatusFile) bool {
		return condIs(sf, v1alpha1.ConditionProgressing, "False", v1alpha1.ReasonErrorRateExceeded)
	})
	if !condIs(sf, v1alpha1.ConditionDegraded, "True", v1alpha1.ReasonErrorRateExceeded) || !condIs(sf, v1alpha1.ConditionReady, "False", v1alpha1.ReasonRolledBack) {
		t.Errorf("conditions %+v", sf.Status.Conditions)
	}
	if !hasEvent(sf, store.EventWarning, v1alpha1.ReasonErrorRateExceeded) {
		t.Errorf("no ErrorRateExceeded event: %+v", sf.Events)
	}
	if sf.Status.LastGoodDigest != m1.String() {
		t.Errorf("lastGoodDigest %s, want %s", sf.Status.LastGoodDigest, m1)
	}
	waitFor(t, 10*time.Second, "every proxy back on v1", func() bool {
		for _, p := range proxies {
			if p.digest("shop/rate") != d1 {
				return false
			}
		}
		return true
	})
}
