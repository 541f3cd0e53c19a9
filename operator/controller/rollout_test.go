package controller_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/wasmesh/wasmesh/oci/registrytest"
	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/operator/store"
	"github.com/wasmesh/wasmesh/xdsapi"
)

// TestCanaryNackRollsBack: v1 runs everywhere; v2 goes out as a canary, the proxies reject it (NACK), and the
// rollout stops at its first step and rolls every proxy back to lastGoodDigest.
func TestCanaryNackRollsBack(t *testing.T) {
	reg, dir, addr, m1, m2 := twoVersions(t, "canary")
	d1, d2 := moduleDigest("canary-v1"), moduleDigest("canary-v2")
	var proxies []*proxy
	for i := range 4 {
		proxies = append(proxies, connect(t, addr, xdsapi.Node{ID: fmt.Sprintf("web-%d", i), Namespace: "shop", Labels: map[string]string{"app": "web"}},
			func(d string) string {
				if d == d2 {
					return "on_configure returned false for " + d
				}
				return ""
			}))
	}
	rollout := `  rollout:
    strategy: Canary
    steps:
    - percent: 25
    - percent: 50
      pause: {untilApproved: true}
    abort: {maxNACKs: 0}
`
	writeYAML(t, dir, "canary.yaml", deploymentYAML("canary", "shop", "oci://"+reg+"/filters/canary:v1", rollout))
	waitStatus(t, dir, "shop", "canary", 20*time.Second, func(sf store.StatusFile) bool {
		return sf.Status.LastGoodDigest == m1.String() && condIs(sf, v1alpha1.ConditionReady, "True", "")
	})

	writeYAML(t, dir, "canary.yaml", deploymentYAML("canary", "shop", "oci://"+reg+"/filters/canary:v2", rollout))
	sf := waitStatus(t, dir, "shop", "canary", 20*time.Second, func(sf store.StatusFile) bool {
		return condIs(sf, v1alpha1.ConditionProgressing, "False", v1alpha1.ReasonRolledBack)
	})
	if sf.Status.ResolvedDigest != m2.String() || sf.Status.LastGoodDigest != m1.String() {
		t.Errorf("resolved %s lastGood %s, want %s and %s", sf.Status.ResolvedDigest, sf.Status.LastGoodDigest, m2, m1)
	}
	if sf.Status.Rollout == nil || sf.Status.Rollout.Step != 0 || sf.Status.Rollout.Percent != 25 {
		t.Errorf("rollout %+v: want stopped at step 0 (25%%)", sf.Status.Rollout)
	}
	if !condIs(sf, v1alpha1.ConditionDegraded, "True", v1alpha1.ReasonRolledBack) || !condIs(sf, v1alpha1.ConditionReady, "False", v1alpha1.ReasonRolledBack) {
		t.Errorf("conditions %+v", sf.Status.Conditions)
	}
	tg := sf.Status.Targets[0]
	if tg.Selected != 4 || tg.Failed != 1 || len(tg.Failures) != 1 || !strings.Contains(tg.Failures[0].Message, "on_configure") {
		t.Errorf("targets %+v: want 1 of 4 failed (the single canary) with its message", tg)
	}
	if !hasEvent(sf, store.EventWarning, v1alpha1.ReasonRolledBack) {
		t.Errorf("no RolledBack event: %+v", sf.Events)
	}
	waitFor(t, 10*time.Second, "every proxy back on v1", func() bool {
		for _, p := range proxies {
			if p.digest("shop/canary") != d1 {
				return false
			}
		}
		return true
	})
}

// TestCanarySteps: a healthy canary goes 25% -> waits for approval at 50% -> 100%, and lastGoodDigest moves only
// when every proxy runs the new version.
func TestCanarySteps(t *testing.T) {
	reg := startRegistry(t)
	m1 := push(t, reg+"/filters/steps:v1", registrytest.Module([]byte("steps-v1")), nil)
	v2 := registrytest.Module([]byte("steps-v2"))
	m2 := push(t, reg+"/filters/steps:v2", v2, nil)
	dir := t.TempDir()
	op := startOperator(t, dir)
	addr := xdsAddr(t, op)
	var proxies []*proxy
	for i := range 4 {
		proxies = append(proxies, connect(t, addr, xdsapi.Node{ID: fmt.Sprintf("web-%d", i), Namespace: "shop", Labels: map[string]string{"app": "web"}}, nil))
	}
	rollout := func(annotations string) string {
		return `  rollout:
    strategy: Canary
    steps:
    - percent: 25
      pause: {duration: 300ms}
    - percent: 50
      pause: {untilApproved: true}
`
	}
	writeYAML(t, dir, "steps.yaml", deploymentYAML("steps", "shop", "oci://"+reg+"/filters/steps:v1", rollout("")))
	waitStatus(t, dir, "shop", "steps", 20*time.Second, func(sf store.StatusFile) bool { return sf.Status.LastGoodDigest == m1.String() })

	started := time.Now()
	writeYAML(t, dir, "steps.yaml", deploymentYAML("steps", "shop", "oci://"+reg+"/filters/steps:v2", rollout("")))
	sf := waitStatus(t, dir, "shop", "steps", 20*time.Second, func(sf store.StatusFile) bool {
		return condIs(sf, v1alpha1.ConditionProgressing, "True", v1alpha1.ReasonWaitingApproval)
	})
	if waited := time.Since(started); waited < 300*time.Millisecond {
		t.Errorf("step 0 ended after %v, before its 300ms pause", waited)
	}
	if sf.Status.Rollout.Step != 1 || sf.Status.Targets[0].Acknowledged != 2 || sf.Status.LastGoodDigest != m1.String() {
		t.Errorf("at the approval pause: rollout %+v targets %+v lastGood %s", sf.Status.Rollout, sf.Status.Targets, sf.Status.LastGoodDigest)
	}
	onV2 := func() int {
		n := 0
		for _, p := range proxies {
			if p.digest("shop/steps") == digest.FromBytes(v2).String() {
				n++
			}
		}
		return n
	}
	if n := onV2(); n != 2 {
		t.Errorf("%d proxies on v2 at 50%%, want 2", n)
	}
	// Approve step 1 with the annotation.
	approved := strings.Replace(deploymentYAML("steps", "shop", "oci://"+reg+"/filters/steps:v2", rollout("")), "  namespace: shop\n",
		"  namespace: shop\n  annotations:\n    "+v1alpha1.ApprovedStepAnnotation+": \"1\"\n", 1)
	writeYAML(t, dir, "steps.yaml", approved)
	sf = waitStatus(t, dir, "shop", "steps", 20*time.Second, func(sf store.StatusFile) bool { return sf.Status.LastGoodDigest == m2.String() })
	// The rollout record is at 100% in the write that moves lastGoodDigest and gone (nil) from the next one on.
	if !condIs(sf, v1alpha1.ConditionReady, "True", v1alpha1.ReasonAllAcknowledged) || (sf.Status.Rollout != nil && sf.Status.Rollout.Percent != 100) {
		t.Errorf("after approval: %+v rollout %+v", sf.Status.Conditions, sf.Status.Rollout)
	}
	if n := onV2(); n != 4 {
		t.Errorf("%d proxies on v2, want 4", n)
	}
}

// TestOnePullPerDigest: many proxies and several deployments of one digest cost one registry download.
func TestOnePullPerDigest(t *testing.T) {
	reg := startRegistry(t)
	wasm := registrytest.Module([]byte("shared"))
	push(t, reg+"/filters/shared:v1", wasm, nil)
	dir := t.TempDir()
	op := startOperator(t, dir)
	addr := xdsAddr(t, op)
	const nProxies, nDeployments = 20, 5
	var proxies []*proxy
	for i := range nProxies {
		proxies = append(proxies, connect(t, addr, xdsapi.Node{ID: fmt.Sprintf("p-%d", i), Namespace: "shop", Labels: map[string]string{"app": "web"}}, nil))
	}
	for i := range nDeployments {
		writeYAML(t, dir, fmt.Sprintf("d%d.yaml", i), deploymentYAML(fmt.Sprintf("d%d", i), "shop", "oci://"+reg+"/filters/shared:v1", ""))
	}
	var served atomic.Int32
	for i := range nDeployments {
		waitStatus(t, dir, "shop", fmt.Sprintf("d%d", i), 30*time.Second, func(sf store.StatusFile) bool {
			return condIs(sf, v1alpha1.ConditionReady, "True", v1alpha1.ReasonAllAcknowledged) && sf.Status.Ready == fmt.Sprintf("%d/%d", nProxies, nProxies)
		})
		served.Add(1)
	}
	for _, p := range proxies {
		for i := range nDeployments {
			if p.digest(fmt.Sprintf("shop/d%d", i)) != digest.FromBytes(wasm).String() {
				t.Fatalf("%s lacks d%d", p.node.ID, i)
			}
		}
	}
	if got := op.Puller.Stats().Fetches; got != 1 {
		t.Errorf("%d registry downloads for one digest, %d deployments, %d proxies; want 1", got, served.Load(), nProxies)
	}
}

// TestAllAtOnceAbort: without canary steps, more NACKs than abort.maxNACKs still roll every proxy back, while a
// count within the limit leaves the new version where it was accepted.
func TestAllAtOnceAbort(t *testing.T) {
	reg, dir, addr, m1, _ := twoVersions(t, "aao")
	d1, d2 := moduleDigest("aao-v1"), moduleDigest("aao-v2")
	var proxies []*proxy
	for i := range 4 {
		rejects := i < 2 // two of four proxies cannot run v2
		proxies = append(proxies, connect(t, addr, xdsapi.Node{ID: fmt.Sprintf("web-%d", i), Namespace: "shop", Labels: map[string]string{"app": "web"}},
			func(d string) string {
				if rejects && d == d2 {
					return "compile error"
				}
				return ""
			}))
	}
	abort := func(max int) string { return fmt.Sprintf("  rollout: {abort: {maxNACKs: %d}}\n", max) }
	writeYAML(t, dir, "aao.yaml", deploymentYAML("aao", "shop", "oci://"+reg+"/filters/aao:v1", abort(2)))
	waitStatus(t, dir, "shop", "aao", 20*time.Second, func(sf store.StatusFile) bool { return sf.Status.LastGoodDigest == m1.String() })

	// Two NACKs, limit 2: degraded, not rolled back; the two others run v2.
	writeYAML(t, dir, "aao.yaml", deploymentYAML("aao", "shop", "oci://"+reg+"/filters/aao:v2", abort(2)))
	sf := waitStatus(t, dir, "shop", "aao", 20*time.Second, func(sf store.StatusFile) bool {
		return condIs(sf, v1alpha1.ConditionDegraded, "True", v1alpha1.ReasonProxiesRejected) && sf.Status.Targets[0].Failed == 2
	})
	if sf.Status.Targets[0].Acknowledged != 2 || proxies[3].digest("shop/aao") != d2 || proxies[0].digest("shop/aao") != d1 {
		t.Errorf("within the limit: targets %+v", sf.Status.Targets)
	}
	// Limit 1: rolled back everywhere.
	writeYAML(t, dir, "aao.yaml", deploymentYAML("aao", "shop", "oci://"+reg+"/filters/aao:v2", abort(1)))
	waitStatus(t, dir, "shop", "aao", 20*time.Second, func(sf store.StatusFile) bool {
		return condIs(sf, v1alpha1.ConditionProgressing, "False", v1alpha1.ReasonRolledBack)
	})
	waitFor(t, 10*time.Second, "every proxy back on v1", func() bool {
		for _, p := range proxies {
			if p.digest("shop/aao") != d1 {
				return false
			}
		}
		return true
	})
}

// twoVersions pushes filters/<name>:v1 and :v2 (modules named <name>-v1 and <name>-v2) to a fresh registry,
// starts an operator on a fresh directory and returns the registry, the directory, the xDS address and the two
// manifest digests.
func twoVersions(t *testing.T, name string) (reg, dir, addr string, m1, m2 digest.Digest) {
	t.Helper()
	reg = startRegistry(t)
	m1 = push(t, reg+"/filters/"+name+":v1", registrytest.Module([]byte(name+"-v1")), nil)
	m2 = push(t, reg+"/filters/"+name+":v2", registrytest.Module([]byte(name+"-v2")), nil)
	dir = t.TempDir()
	return reg, dir, xdsAddr(t, startOperator(t, dir)), m1, m2
}

// moduleDigest is the module digest of registrytest.Module([]byte(content)).
func moduleDigest(content string) string {
	return digest.FromBytes(registrytest.Module([]byte(content))).String()
}
