package controller_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/wasmesh/wasmesh/oci"
	"github.com/wasmesh/wasmesh/oci/registrytest"
	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/operator/controller"
	"github.com/wasmesh/wasmesh/operator/modules"
	"github.com/wasmesh/wasmesh/operator/store"
	"github.com/wasmesh/wasmesh/operator/xds"
	"github.com/wasmesh/wasmesh/xdsapi"
)

const abortRollout = `  rollout:
    strategy: Canary
    steps:
    - percent: 50
      pause: {untilApproved: true}
    abort: {maxErrorRatePercent: 10, window: 1m}
`

// TestCanaryCoveringEveryProxyCanAbort: a paused canary step that covers every selected proxy (50% of one
// proxy) is not the end of the rollout: once the canary acknowledged, lastGoodDigest stays on v1 and a bad
// error rate still rolls back to it (this is TestKube's shape, in directory mode).
func TestCanaryCoveringEveryProxyCanAbort(t *testing.T) {
	reg, dir, addr, m1, m2 := twoVersions(t, "whole")
	d1, d2 := moduleDigest("whole-v1"), moduleDigest("whole-v2")
	p := connect(t, addr, xdsapi.Node{ID: "web-0", Namespace: "shop", Labels: map[string]string{"app": "web"}}, nil)
	writeYAML(t, dir, "whole.yaml", deploymentYAML("whole", "shop", "oci://"+reg+"/filters/whole:v1", abortRollout))
	waitStatus(t, dir, "shop", "whole", 20*time.Second, func(sf store.StatusFile) bool { return sf.Status.LastGoodDigest == m1.String() })

	writeYAML(t, dir, "whole.yaml", deploymentYAML("whole", "shop", "oci://"+reg+"/filters/whole:v2", abortRollout))
	sf := waitStatus(t, dir, "shop", "whole", 20*time.Second, func(sf store.StatusFile) bool {
		return sf.Status.ResolvedDigest == m2.String() && len(sf.Status.Targets) == 1 && sf.Status.Targets[0].Acknowledged == 1
	})
	if sf.Status.LastGoodDigest != m1.String() || !condIs(sf, v1alpha1.ConditionProgressing, "True", v1alpha1.ReasonWaitingApproval) {
		t.Errorf("canary acknowledged, paused for approval: lastGoodDigest %s (want %s), conditions %+v", sf.Status.LastGoodDigest, m1, sf.Status.Conditions)
	}
	p.loadReports(t).send(xdsapi.FilterLoad{Deployment: "shop/whole", Digest: d2, Calls: 20, Failures: 10})
	waitStatus(t, dir, "shop", "whole", 20*time.Second, func(sf store.StatusFile) bool {
		return condIs(sf, v1alpha1.ConditionProgressing, "False", v1alpha1.ReasonErrorRateExceeded)
	})
	waitFor(t, 10*time.Second, "the proxy back on v1", func() bool { return p.digest("shop/whole") == d1 })
}

// conflictingStore is a Store whose next status write that shows a rollback is refused with the conflict the
// API server returns when the object read was older than the stored one; the status stays as it was, so the
// next read is the stale, pre-abort status an informer cache would give.
type conflictingStore struct {
	store.Store
	mu    sync.Mutex
	armed bool
}

func (s *conflictingStore) UpdateStatus(ctx context.Context, wd *v1alpha1.WasmDeployment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := meta.FindStatusCondition(wd.Status.Conditions, v1alpha1.ConditionProgressing)
	if s.armed && c != nil && c.Reason == v1alpha1.ReasonErrorRateExceeded {
		s.armed = false
		return apierrors.NewConflict(schema.GroupResource{Group: "wasmesh.io", Resource: "wasmdeployments"}, wd.Name, errors.New("the object has been modified"))
	}
	return s.Store.UpdateStatus(ctx, wd)
}

// plansLog is the xDS server with a record of the module each SetPlan gives one node.
type plansLog struct {
	*xds.Server
	node string
	mu   sync.Mutex
	sent []string
}

func (l *plansLog) SetPlan(deployment string, p xds.Plan) error {
	l.mu.Lock()
	d := ""
	if b := p[l.node]; b != nil {
		d = b.Entry.Digest
	}
	l.sent = append(l.sent, d)
	l.mu.Unlock()
	return l.Server.SetPlan(deployment, p)
}

func (l *plansLog) since(i int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.sent[i:]...)
}

// TestAbortSurvivesStatusConflict: the status write that records an error-rate abort loses a conflict, and
// the retry reads the status from before the abort, at once (the load reports would abort again) or two minutes
// later (they are out of the abort window). The retry must keep the rollback: no plan puts the rejected version
// back on the canary, the status shows ErrorRateExceeded, and the abort is announced once.
func TestAbortSurvivesStatusConflict(t *testing.T) {
	for _, tc := range []struct {
		name  string
		later time.Duration
	}{
		{"retry at once", 0},
		{"retry after the abort window", 2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) { abortConflict(t, tc.later) })
	}
}

func abortConflict(t *testing.T, later time.Duration) {
	reg := startRegistry(t)
	m1 := push(t, reg+"/filters/conflict:v1", registrytest.Module([]byte("conflict-v1")), nil)
	m2 := push(t, reg+"/filters/conflict:v2", registrytest.Module([]byte("conflict-v2")), nil)
	d1, d2 := moduleDigest("conflict-v1"), moduleDigest("conflict-v2")

	srv := xds.New(xds.Options{Addr: "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	var addr string
	select {
	case addr = <-srv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("xDS server not ready")
	}
	puller, err := modules.NewPuller(modules.PullerOptions{CacheDir: t.TempDir(), OCI: oci.Options{Default: oci.RegistryOptions{PlainHTTP: true}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ds := store.NewDir(store.DirOptions{Dir: dir})
	st := &conflictingStore{Store: ds}
	plans := &plansLog{Server: srv, node: "web-0"}
	var clock struct {
		sync.Mutex
		skew time.Duration
	}
	r := &controller.Reconciler{Store: st, Puller: puller, Delivery: plans, ModulesURL: "http://127.0.0.1:1",
		Now: func() time.Time { clock.Lock(); defer clock.Unlock(); return time.Now().Add(clock.skew) }}
	p := connect(t, addr, xdsapi.Node{ID: "web-0", Namespace: "shop", Labels: map[string]string{"app": "web"}}, nil)
	waitFor(t, 10*time.Second, "the proxy connected", func() bool { return len(srv.Nodes()) == 1 })

	key := types.NamespacedName{Namespace: "shop", Name: "conflict"}
	// settle reconciles (as the proxies' acknowledgements would have it) until the status satisfies ok.
	settle := func(what string, ok func(*v1alpha1.WasmDeployment) bool) *v1alpha1.WasmDeployment {
		t.Helper()
		var wd *v1alpha1.WasmDeployment
		waitFor(t, 20*time.Second, what, func() bool {
			if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: key}); err != nil {
				t.Fatalf("reconcile: %v", err)
			}
			if wd, err = ds.Get(ctx, key); err != nil {
				t.Fatal(err)
			}
			return ok(wd)
		})
		return wd
	}
	apply := func(tag string) {
		writeYAML(t, dir, "conflict.yaml", deploymentYAML("conflict", "shop", "oci://"+reg+"/filters/conflict:"+tag, abortRollout))
		if errs := ds.Scan(); len(errs) > 0 {
			t.Fatal(errs)
		}
	}
	apply("v1")
	settle("v1 everywhere", func(wd *v1alpha1.WasmDeployment) bool { return wd.Status.LastGoodDigest == m1.String() })
	apply("v2")
	settle("the canary on v2, paused", func(wd *v1alpha1.WasmDeployment) bool {
		return wd.Status.ResolvedDigest == m2.String() && len(wd.Status.Targets) == 1 && wd.Status.Targets[0].Acknowledged == 1 && p.digest("shop/conflict") == d2
	})

	p.loadReports(t).send(xdsapi.FilterLoad{Deployment: "shop/conflict", Digest: d2, Calls: 20, Failures: 10})
	waitFor(t, 10*time.Second, "the load report", func() bool {
		calls, _ := srv.Load("shop/conflict", d2, time.Now().Add(-time.Minute))
		return calls == 20
	})
	st.mu.Lock()
	st.armed = true
	st.mu.Unlock()
	_, err = r.Reconcile(ctx, reconcile.Request{NamespacedName: key})
	if !apierrors.IsConflict(err) {
		t.Fatalf("the aborting reconcile returned %v, want the status write's conflict", err)
	}
	decided := len(plans.since(0))
	if got := plans.since(decided - 1); got[0] != d1 {
		t.Fatalf("the abort planned %q for the canary, want %s", got[0], d1)
	}
	clock.Lock()
	clock.skew = later
	clock.Unlock()

	for i := range 3 { // the workqueue's retry, then the proxy's acknowledgement of v1
		if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: key}); err != nil {
			t.Fatalf("reconcile %d after the conflict: %v", i, err)
		}
	}
	for i, d := range plans.since(decided) {
		if d != d1 {
			t.Errorf("plan %d after the abort gives the canary %q, want %s", i, d, d1)
		}
	}
	wd, err := ds.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	c := meta.FindStatusCondition(wd.Status.Conditions, v1alpha1.ConditionProgressing)
	if c == nil || c.Reason != v1alpha1.ReasonErrorRateExceeded || wd.Status.LastGoodDigest != m1.String() {
		t.Errorf("after the retry: Progressing %+v, lastGoodDigest %s (want %s)", c, wd.Status.LastGoodDigest, m1)
	}
	sf := waitStatus(t, dir, "shop", "conflict", time.Second, func(store.StatusFile) bool { return true })
	n := int32(0)
	for _, e := range sf.Events {
		if e.Reason == v1alpha1.ReasonErrorRateExceeded {
			n += e.Count
		}
	}
	if n != 1 {
		t.Errorf("%d ErrorRateExceeded events, want 1 (one decision): %+v", n, sf.Events)
	}
	waitFor(t, 10*time.Second, "the proxy back on v1", func() bool { return p.digest("shop/conflict") == d1 })

	// A new spec is a new rollout: the abort is forgotten and v2 goes to the canary again (once its failures
	// are out of the abort window).
	clock.Lock()
	clock.skew = 2 * time.Minute
	clock.Unlock()
	writeYAML(t, dir, "conflict.yaml", deploymentYAML("conflict", "shop", "oci://"+reg+"/filters/conflict:v2", abortRollout+"  imagePullPolicy: Always\n"))
	if errs := ds.Scan(); len(errs) > 0 {
		t.Fatal(errs)
	}
	settle("the new rollout on the canary", func(*v1alpha1.WasmDeployment) bool { return p.digest("shop/conflict") == d2 })
}
