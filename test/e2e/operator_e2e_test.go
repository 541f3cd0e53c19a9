//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/wasmesh/wasmesh/demo/stack"
	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
	"github.com/wasmesh/wasmesh/operator/store"
)

const (
	aliceKey   = "alice-e2e-key-0001"
	authFilter = "xds/default/auth" // the name the proxy gives the operator's filter
	nackLine   = "rejected filters from the operator (NACK)"
)

// authDeployment is the WasmDeployment of the auth filter at ref, with the given rollout.
func authDeployment(ref, rollout string) []byte {
	return fmt.Appendf(nil, `apiVersion: wasmesh.io/v1alpha1
kind: WasmDeployment
metadata: {name: auth, namespace: default}
spec:
  url: oci://%s
  pluginName: auth
  phase: AUTHN
  failStrategy: FAIL_CLOSE
  selector: {matchLabels: {app: greeter}}
  pluginConfig:
    consumers: [{name: alice, keys: [%s]}]
    default: {consumers: ['*']}
  rollout: %s
`, ref, aliceKey, rollout)
}

// condition renders a condition as "True/Reason" ("" when absent) for assertions and messages.
func condition(st v1alpha1.WasmDeploymentStatus, typ string) string {
	c := meta.FindStatusCondition(st.Conditions, typ)
	if c == nil {
		return ""
	}
	return string(c.Status) + "/" + c.Reason
}

func describeStatus(f store.StatusFile) string {
	st := f.Status
	return fmt.Sprintf("gen %d observed %d resolved %s lastGood %s ready %s Ready=%s Progressing=%s Degraded=%s targets %+v",
		f.Metadata.Generation, st.ObservedGeneration, st.ResolvedDigest, st.LastGoodDigest, st.Ready,
		condition(st, v1alpha1.ConditionReady), condition(st, v1alpha1.ConditionProgressing), condition(st, v1alpha1.ConditionDegraded), st.Targets)
}

// TestOperatorRollout: three real proxies connected over xDS to `wasmesh operator --dir` pick up a
// WasmDeployment and serve through it; a canary rollout to a module every proxy refuses stops at its first
// step and rolls back on its own, with no failed request outside the canary under continuous load; deleting
// the resource removes the filter from every proxy.
func TestOperatorRollout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	started := time.Now()
	s := newStack(t)
	reg, err := s.Registry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	refuse := filepath.Join(s.Dir(), "refuse.wasm")
	if _, err := s.CLI(ctx, "build", "testdata/broken", "-o", refuse); err != nil {
		t.Fatal(err)
	}
	good, err := s.Push(ctx, artifact(t, "filters/auth.wasm"), reg+"/e2e/auth:v1")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := s.Push(ctx, refuse, reg+"/e2e/auth:v2")
	if err != nil {
		t.Fatal(err)
	}
	upstream := echo(t)
	op, err := s.Operator(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	var proxies []*stack.Proxy
	var urls []string
	for i := range 3 {
		admin, err1 := stack.FreeAddr()
		listen, err2 := stack.FreeAddr()
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		cfg, err := stack.ProxyConfig{Admin: admin, HTTP: listen, Echo: upstream}.YAML()
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Proxy(ctx, stack.ProxyOptions{Name: fmt.Sprintf("proxy-%d", i), Admin: admin,
			Config: cfg, XDS: op.XDSAddr, Labels: "app=greeter"})
		if err != nil {
			t.Fatal(err)
		}
		proxies = append(proxies, p)
		urls = append(urls, "http://"+listen+"/hello")
	}
	t.Logf("registry, operator and 3 proxies up in %s", time.Since(started).Round(time.Millisecond))

	status := func() (store.StatusFile, error) { return op.Status("default", "auth") }
	runEverywhere := func(what, digest string) {
		t.Helper()
		err := stack.Eventually(ctx, what, 30*time.Second, func() (bool, string, error) {
			var runs []string
			for _, p := range proxies {
				d, err := p.Runs(ctx, authFilter)
				if err != nil {
					return false, "", err
				}
				runs = append(runs, p.Name+"="+d)
			}
			for _, r := range runs {
				if !strings.HasSuffix(r, "="+digest) {
					return false, strings.Join(runs, " "), nil
				}
			}
			return true, "", nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	// 1. First install: every selected proxy runs it and acknowledges.
	if err := op.Apply("auth.yaml", authDeployment(reg+"/e2e/auth:v1", "{strategy: AllAtOnce}")); err != nil {
		t.Fatal(err)
	}
	applied := time.Now()
	err = stack.Eventually(ctx, "v1 ready on 3 proxies", 30*time.Second, func() (bool, string, error) {
		f, err := status()
		if err != nil {
			return false, err.Error(), nil
		}
		st := f.Status
		ok := st.Ready == "3/3" && condition(st, v1alpha1.ConditionReady) == "True/"+v1alpha1.ReasonAllAcknowledged &&
			st.ResolvedDigest == good.Digest && st.LastGoodDigest == good.Digest
		return ok, describeStatus(f), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	runEverywhere("every proxy runs v1", good.ModuleDigest)
	t.Logf("v1 acknowledged by 3 proxies %s after the file was written", time.Since(applied).Round(time.Millisecond))
	for i, u := range urls {
		for _, c := range []struct {
			key  string
			want int
		}{{"", http.StatusUnauthorized}, {"wrong-key-000000", http.StatusUnauthorized}, {aliceKey, http.StatusOK}} {
			k := ""
			if c.key != "" {
				k = "x-api-key"
			}
			got, err := get(ctx, u, k, c.key)
			if err != nil || got != c.want {
				t.Errorf("%s with key %q: %d, %v; want %d", proxies[i].Name, c.key, got, err, c.want)
			}
		}
	}

	// 2. A canary of a broken release under continuous load.
	var targets []stack.Target
	for i, u := range urls {
		targets = append(targets, stack.Target{Name: proxies[i].Name, URL: u, Header: http.Header{"X-Api-Key": {aliceKey}}, Want: http.StatusOK})
	}
	load := stack.StartLoad(ctx, targets, 2)
	defer load.Stop()
	time.Sleep(300 * time.Millisecond)
	canary := `{strategy: Canary, steps: [{percent: 30, pause: {untilApproved: true}}, {percent: 100}], abort: {maxNACKs: 0}}`
	if err := op.Apply("auth.yaml", authDeployment(reg+"/e2e/auth:v2", canary)); err != nil {
		t.Fatal(err)
	}
	var final store.StatusFile
	err = stack.Eventually(ctx, "v2 rolled back", 30*time.Second, func() (bool, string, error) {
		f, err := status()
		if err != nil {
			return false, err.Error(), nil
		}
		final = f
		st := f.Status
		ok := st.ResolvedDigest == bad.Digest && st.LastGoodDigest == good.Digest &&
			condition(st, v1alpha1.ConditionDegraded) == "True/"+v1alpha1.ReasonRolledBack &&
			condition(st, v1alpha1.ConditionProgressing) == "False/"+v1alpha1.ReasonRolledBack
		return ok, describeStatus(f), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rolled back: %s", describeStatus(final))
	if r := final.Status.Rollout; r != nil && r.Step != 0 {
		t.Errorf("rollout went past its first step: %+v", r)
	}
	var failures []v1alpha1.ProxyFailure
	for _, tg := range final.Status.Targets {
		failures = append(failures, tg.Failures...)
	}
	if len(failures) != 1 || !strings.Contains(failures[0].Message, "refuses every configuration") {
		t.Errorf("status failures = %+v, want the canary's refusal", failures)
	}
	// Only the canary was sent v2: one proxy NACKed, the others never saw it.
	nacked := map[string]bool{}
	for _, p := range proxies {
		b, err := os.ReadFile(p.Log)
		if err != nil {
			t.Fatal(err)
		}
		nacked[p.Name] = strings.Contains(string(b), nackLine)
	}
	if n := countTrue(nacked); n != 1 {
		t.Errorf("proxies that were sent the broken module and refused it: %v, want exactly one (the canary)", nacked)
	}
	time.Sleep(time.Second) // the rollback reaches the proxies while the load goes on
	runEverywhere("every proxy runs v1 after the rollback", good.ModuleDigest)
	counts := load.Stop()
	for i, c := range counts {
		name := targets[i].Name
		t.Logf("%s (canary %v): %d ok, %d failed %s", name, nacked[name], c.OK, c.Failed, c.FirstFailure)
		if c.OK == 0 {
			t.Errorf("%s served nothing under load", name)
		}
		if !nacked[name] && c.Failed != 0 {
			t.Errorf("%s, not a canary, failed %d requests (first: %s)", name, c.Failed, c.FirstFailure)
		}
	}

	// 3. Deleting the resource removes the filter from every proxy.
	if err := op.Delete("auth.yaml"); err != nil {
		t.Fatal(err)
	}
	runEverywhere("the filter is gone from every proxy", "")
	for i, u := range urls {
		if got, err := get(ctx, u, "", ""); err != nil || got != http.StatusOK {
			t.Errorf("%s without a key after the delete: %d, %v; want 200 (no filter)", proxies[i].Name, got, err)
		}
	}
	t.Logf("whole test %s", time.Since(started).Round(time.Millisecond))
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}
